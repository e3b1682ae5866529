"""A streaming, bounded OVAL 5 reader (the definitions documents RPM distributions
publish: Oracle ELSA, CBL-Mariner / Azure Linux, ...).

An OVAL document has four sections, in this order: ``definitions`` (metadata and a
criteria tree whose leaves name tests), ``tests`` (``rpminfo_test``: an object and a
state), ``objects`` (``rpminfo_object``: the package name) and ``states``
(``rpminfo_state``: ``evr`` with an operation such as "less than", ``arch``, ...).

The XML is read with ``defusedxml``'s ``iterparse`` (no DTD, no entities, no external
references) and every record element is dropped once converted, so memory holds the
compact records only, never the element tree. Input is size-capped while it is
decompressed (bz2 and gzip are recognised by their magic bytes), so a compression
bomb stops at the cap. Two ways to read:

- ``iter_oval`` yields records as they close: a feed that needs only the definitions
  (their criterion comments carry the facts, as Oracle's do) keeps nothing else;
- ``read_oval`` gathers one ``OvalDocument`` whose ``resolve`` follows a criterion's
  test to its object and state (``RpmCheck``).

Malformed XML, a DTD, or a document over the caps raises ``OvalError``; a malformed
definition (criteria nested absurdly deep or too many) is counted in ``ParseStats``
and skipped.
"""

from __future__ import annotations

import bz2
import gzip
import io
import zipfile
import zlib
from abc import abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, ClassVar, Iterator, Protocol, Union
from xml.etree.ElementTree import Element, ParseError

import defusedxml.ElementTree as safe_et
from defusedxml import DefusedXmlException

from layerscan.db.feeds.base import Feed, ParseStats
from layerscan.errors import FeedError
from layerscan.model import Advisory

MAX_XML_BYTES = 4 << 30  # decompressed; Oracle's com.oracle.elsa-all.xml is well below 2 GiB
MAX_RECORDS = 5_000_000  # definitions + tests + objects + states per document
MAX_RECORD_BYTES = 64 << 20  # XML bytes between two record ends: one element may not grow memory beyond this
MAX_CRITERIA_DEPTH = 32
MAX_CRITERIA_LEAVES = 50_000
SNIFF_BYTES = 16 * 1024
_CHUNK = 1 << 16
_TEXT_LIMIT = 100_000


class Readable(Protocol):
    def read(self, size: int = ..., /) -> bytes: ...


class OvalError(FeedError):
    """The document as a whole cannot be read (malformed, forbidden construct, too big)."""


# ---- records -------------------------------------------------------------------------------

@dataclass(frozen=True)
class Criterion:
    test_ref: str
    comment: str = ""
    negate: bool = False


@dataclass(frozen=True)
class Criteria:
    operator: str  # "AND" / "OR" (upper-cased; OVAL's default is AND)
    children: tuple[Union["Criteria", Criterion], ...] = ()
    negate: bool = False


@dataclass(frozen=True)
class Reference:
    source: str
    ref_id: str
    ref_url: str = ""


@dataclass(frozen=True)
class CveRef:
    """``<cve>`` of an advisory block: the id and the vendor's CVSS strings ("5.5/CVSS:3.1/...")."""

    id: str
    cvss2: str = ""
    cvss3: str = ""
    href: str = ""
    public: str = ""


@dataclass(frozen=True)
class Definition:
    id: str
    cls: str = ""
    title: str = ""
    description: str = ""
    platforms: tuple[str, ...] = ()
    references: tuple[Reference, ...] = ()
    severity: str = ""  # metadata/severity or metadata/advisory/severity, raw
    cves: tuple[CveRef, ...] = ()
    issued: str = ""
    updated: str = ""
    metadata: tuple[tuple[str, str], ...] = ()  # other simple metadata children: (tag, text)
    criteria: Criteria | None = None

    def meta(self, tag: str) -> str:
        return next((text for t, text in self.metadata if t == tag), "")

    def ref_ids(self, source: str) -> tuple[str, ...]:
        return tuple(r.ref_id for r in self.references if r.source.lower() == source.lower() and r.ref_id)


@dataclass(frozen=True)
class Test:
    id: str
    kind: str  # element name: "rpminfo_test", "textfilecontent54_test", ...
    object_ref: str = ""
    state_refs: tuple[str, ...] = ()
    comment: str = ""
    check: str = ""


@dataclass(frozen=True)
class Object:
    id: str
    kind: str
    name: str = ""


@dataclass(frozen=True)
class State:
    id: str
    kind: str
    evr: str = ""
    evr_operation: str = ""
    arch: str = ""
    arch_operation: str = ""
    version: str = ""
    version_operation: str = ""
    signature_keyid: str = ""


@dataclass(frozen=True)
class Generator:
    product_name: str = ""
    product_version: str = ""
    schema_version: str = ""
    timestamp: str = ""


OvalItem = Union[Generator, Definition, Test, Object, State]


@dataclass(frozen=True)
class RpmCheck:
    """A resolved ``rpminfo_test``: package ``name`` and its state's evr/arch comparisons."""

    name: str
    evr: str = ""
    operation: str = ""  # "less than", "less than or equal", "greater than", ...
    arch: str = ""


@dataclass
class OvalDocument:
    generator: Generator = field(default_factory=Generator)
    definitions: list[Definition] = field(default_factory=list)
    tests: dict[str, Test] = field(default_factory=dict)
    objects: dict[str, Object] = field(default_factory=dict)
    states: dict[str, State] = field(default_factory=dict)

    def resolve(self, test_ref: str) -> RpmCheck | None:
        """The package check of an ``rpminfo_test``; None when the test, its object or its
        state is missing or the test is of another kind."""
        test = self.tests.get(test_ref)
        if test is None or test.kind != "rpminfo_test":
            return None
        obj = self.objects.get(test.object_ref)
        if obj is None or not obj.name:
            return None
        states = [self.states[s] for s in test.state_refs if s in self.states]
        if len(states) != len(test.state_refs):
            return None
        evr = next((s for s in states if s.evr), None)
        arch = next((s.arch for s in states if s.arch), "")
        return RpmCheck(name=obj.name, evr=evr.evr if evr else "", operation=evr.evr_operation if evr else "",
                        arch=arch)


# ---- input -----------------------------------------------------------------------------------

class CappedReader(io.RawIOBase):
    """A read-only stream that raises OvalError once more than ``limit`` bytes came out."""

    def __init__(self, raw: BinaryIO, limit: int, name: str, record_limit: int = MAX_RECORD_BYTES) -> None:
        super().__init__()
        self._raw, self._limit, self._name, self._seen = raw, limit, name, 0
        self._record_limit, self._mark = record_limit, 0

    def mark(self) -> None:
        """A record closed: the bytes of the next one are counted from here."""
        self._mark = self._seen

    def readable(self) -> bool:
        return True

    def read(self, size: int | None = -1) -> bytes:
        want = _CHUNK if size is None or size < 0 else min(size, _CHUNK)
        try:
            data = self._raw.read(want)
        except (OSError, EOFError, ValueError, zlib.error) as exc:
            raise OvalError(f"{self._name}: cannot decompress ({exc})") from exc
        self._seen += len(data)
        if self._seen > self._limit:
            raise OvalError(f"{self._name}: more than {self._limit} bytes of XML (decompression cap)")
        if self._seen - self._mark > self._record_limit:
            raise OvalError(f"{self._name}: one OVAL element larger than {self._record_limit} bytes")
        return data

    def readinto(self, buffer) -> int:  # type: ignore[no-untyped-def]
        data = self.read(len(buffer))
        buffer[:len(data)] = data
        return len(data)


def open_xml(raw: BinaryIO, name: str, limit: int = MAX_XML_BYTES,
             record_limit: int = MAX_RECORD_BYTES) -> CappedReader:
    """``raw`` (plain XML, bz2 or gzip by magic bytes) as a capped stream of XML bytes."""
    buffered: Any = raw if isinstance(raw, io.BufferedReader) else io.BufferedReader(raw)  # type: ignore[type-var]
    head = buffered.peek(3)[:3]
    stream: BinaryIO
    if head == b"BZh":
        stream = bz2.BZ2File(buffered)  # type: ignore[assignment]
    elif head[:2] == b"\x1f\x8b":
        stream = gzip.GzipFile(fileobj=buffered)  # type: ignore[assignment]
    else:
        stream = buffered  # type: ignore[assignment]
    return CappedReader(stream, limit, name, record_limit)


def open_bytes(data: bytes, name: str, limit: int = MAX_XML_BYTES,
               record_limit: int = MAX_RECORD_BYTES) -> CappedReader:
    return open_xml(io.BytesIO(data), name, limit, record_limit)  # type: ignore[arg-type]


def head_text(data: bytes, size: int = SNIFF_BYTES) -> str:
    """The first ``size`` characters of a member's XML (decompressed if bz2/gzip), for sniffing."""
    try:
        if data[:3] == b"BZh":
            data = bz2.BZ2Decompressor().decompress(data, max_length=size)
        elif data[:2] == b"\x1f\x8b":
            data = zlib.decompressobj(wbits=31).decompress(data, size)
        else:
            data = data[:size]
    except (OSError, EOFError, ValueError, zlib.error):
        return ""
    return data.decode("utf-8", "replace")


def looks_like_oval(head: str) -> bool:
    return "<oval_definitions" in head or ":oval_definitions" in head


# ---- element conversion ----------------------------------------------------------------------

def _local(tag: object) -> str:
    return tag.rsplit("}", 1)[-1] if isinstance(tag, str) else ""


def _text(elem: Element | None) -> str:
    return (elem.text or "").strip()[:_TEXT_LIMIT] if elem is not None else ""


def _true(value: str | None) -> bool:
    return (value or "").strip().lower() == "true"


class _TooComplex(ValueError):
    pass


def _criteria(elem: Element, depth: int, budget: list[int]) -> Criteria:
    if depth > MAX_CRITERIA_DEPTH:
        raise _TooComplex(f"criteria nested deeper than {MAX_CRITERIA_DEPTH}")
    children: list[Criteria | Criterion] = []
    for child in elem:
        tag = _local(child.tag)
        if tag == "criteria":
            children.append(_criteria(child, depth + 1, budget))
        elif tag == "criterion":
            budget[0] -= 1
            if budget[0] < 0:
                raise _TooComplex(f"more than {MAX_CRITERIA_LEAVES} criteria")
            children.append(Criterion(child.get("test_ref", ""), (child.get("comment") or "").strip(),
                                      _true(child.get("negate"))))
    return Criteria((elem.get("operator") or "AND").upper(), tuple(children), _true(elem.get("negate")))


def _metadata(meta: Element) -> dict:
    out: dict = {"platforms": [], "references": [], "cves": [], "other": []}
    for child in meta:
        tag = _local(child.tag)
        if tag == "title":
            out["title"] = " ".join(_text(child).split())
        elif tag == "description":
            out["description"] = _text(child)
        elif tag == "affected":
            out["platforms"] += [_text(p) for p in child if _local(p.tag) == "platform" and _text(p)]
        elif tag == "reference":
            out["references"].append(Reference(child.get("source", ""), (child.get("ref_id") or "").strip(),
                                               child.get("ref_url", "")))
        elif tag == "advisory":
            _advisory(child, out)
        elif tag == "severity":
            out.setdefault("severity", _text(child))
        elif len(child) == 0:
            out["other"].append((tag, _text(child)))
    return out


def _advisory(adv: Element, out: dict) -> None:
    for child in adv:
        tag = _local(child.tag)
        if tag == "severity":
            out["severity"] = _text(child)
        elif tag == "cve":
            cve_id = _text(child) or (child.get("ref_id") or "").strip()
            if cve_id:
                out["cves"].append(CveRef(cve_id, child.get("cvss2", ""), child.get("cvss3", ""),
                                          child.get("href", ""), child.get("public", "")))
        elif tag in ("issued", "updated"):
            out[tag] = child.get("date", "") or _text(child)
        elif len(child) == 0:
            out["other"].append((tag, _text(child)))


def _definition(elem: Element) -> Definition:
    meta: dict = {"platforms": [], "references": [], "cves": [], "other": []}
    criteria = None
    for child in elem:
        tag = _local(child.tag)
        if tag == "metadata":
            meta = _metadata(child)
        elif tag == "criteria":
            criteria = _criteria(child, 1, [MAX_CRITERIA_LEAVES])
    return Definition(
        id=elem.get("id", ""), cls=elem.get("class", ""), title=meta.get("title", ""),
        description=meta.get("description", ""), platforms=tuple(meta["platforms"]),
        references=tuple(meta["references"]), severity=meta.get("severity", ""), cves=tuple(meta["cves"]),
        issued=meta.get("issued", ""), updated=meta.get("updated", ""), metadata=tuple(meta["other"]),
        criteria=criteria)


def _test(elem: Element, kind: str) -> Test:
    obj, states = "", []
    for child in elem:
        tag = _local(child.tag)
        if tag == "object":
            obj = child.get("object_ref", "")
        elif tag == "state":
            states.append(child.get("state_ref", ""))
    return Test(elem.get("id", ""), kind, obj, tuple(states), (elem.get("comment") or "").strip(),
                elem.get("check", ""))


def _object(elem: Element, kind: str) -> Object:
    name = next((_text(c) for c in elem if _local(c.tag) == "name"), "")
    return Object(elem.get("id", ""), kind, name)


def _state(elem: Element, kind: str) -> State:
    fields: dict[str, str] = {}
    for child in elem:
        tag = _local(child.tag)
        if tag in ("evr", "arch", "version"):
            fields[tag] = _text(child)
            fields[f"{tag}_operation"] = (child.get("operation") or "equals").strip().lower()
        elif tag == "signature_keyid":
            fields["signature_keyid"] = _text(child)
    return State(elem.get("id", ""), kind, **fields)


def _generator(elem: Element) -> Generator:
    values = {_local(c.tag): _text(c) for c in elem}
    return Generator(values.get("product_name", ""), values.get("product_version", ""),
                     values.get("schema_version", ""), values.get("timestamp", ""))


_SECTIONS = {"definitions", "tests", "objects", "states"}


def iter_oval(stream: Readable, name: str, stats: ParseStats) -> Iterator[OvalItem]:
    """Every record of the document in document order. Raises OvalError when the XML is
    malformed (records yielded before the error stay valid), forbidden or too large."""
    parents: list[Element] = []
    count = 0
    mark = stream.mark if isinstance(stream, CappedReader) else (lambda: None)
    try:
        for event, elem in safe_et.iterparse(stream, events=("start", "end"), forbid_dtd=True):
            if event == "start":
                parents.append(elem)
                continue
            parents.pop()
            item = _convert(elem, parents, name, stats)
            if item is None:
                continue
            if parents:
                parents[-1].remove(elem)  # the element is converted: keep memory to the records
            mark()
            count += 1
            if count > MAX_RECORDS:
                raise OvalError(f"{name}: more than {MAX_RECORDS} OVAL records")
            if not isinstance(item, bool):
                yield item
    except (ParseError, DefusedXmlException, LookupError, UnicodeError) as exc:
        raise OvalError(f"{name}: not readable OVAL XML ({exc.__class__.__name__}: {exc})") from exc
    except RecursionError as exc:
        raise OvalError(f"{name}: XML nested too deeply") from exc


def _convert(elem: Element, parents: list[Element], name: str, stats: ParseStats) -> OvalItem | bool | None:
    """The record an element closes (True: dropped, counted), None for non-record elements."""
    tag = _local(elem.tag)
    if len(parents) == 1:  # a section closed (or the generator)
        return _generator(elem) if tag == "generator" else True
    section = _local(parents[-1].tag) if len(parents) == 2 else ""
    if not section or section == "generator":
        return None  # inside a record: converted with it
    if section not in _SECTIONS:
        return True  # variables, signatures, ...: not used
    if section == "definitions":
        if tag != "definition":
            return True
        try:
            return _definition(elem)
        except _TooComplex as exc:
            stats.skip(f"{name}: definition {elem.get('id', '?')}: {exc}")
            return True
    if not elem.get("id"):
        stats.skip(f"{name}: {tag} without an id")
        return True
    if section == "tests":
        return _test(elem, tag)
    if section == "objects":
        return _object(elem, tag)
    return _state(elem, tag)


def read_oval(stream: Readable, name: str, stats: ParseStats) -> OvalDocument:
    """The whole document, with tests/objects/states indexed by id (raises OvalError)."""
    doc = OvalDocument()
    for item in iter_oval(stream, name, stats):
        if isinstance(item, Definition):
            doc.definitions.append(item)
        elif isinstance(item, Test):
            doc.tests[item.id] = item
        elif isinstance(item, Object):
            doc.objects[item.id] = item
        elif isinstance(item, State):
            doc.states[item.id] = item
        else:
            doc.generator = item
    return doc


def leaves(criteria: Criteria | None) -> Iterator[Criterion]:
    """Every criterion of a tree, depth first."""
    stack: list[Criteria | Criterion] = [criteria] if criteria is not None else []
    while stack:
        node = stack.pop()
        if isinstance(node, Criterion):
            yield node
        else:
            stack.extend(reversed(node.children))


def strip_zero_epoch(evr: str) -> str:
    """'0:1.2-3.el8' -> '1.2-3.el8' (rpm treats a missing epoch as 0); other epochs stay."""
    evr = evr.strip()
    return evr[2:] if evr.startswith("0:") else evr


# ---- feed plumbing shared by the XML feeds (OVAL distributions, yum updateinfo) --------------

class XmlFeed(Feed):
    """A feed whose documents are XML (plain, .bz2 or .gz), read as a capped stream.

    ``accepts`` sniffs the first bytes of a member (``sniff``); ``add`` streams the member
    through the capped reader. ``parse`` of a single file streams it from disk, so the
    compressed file is never held in memory either (a directory or zip goes through
    the members loop, whose members are size-capped). A document that cannot be read
    (``FeedError``: malformed, forbidden construct, over the caps) is one counted skip."""

    max_member_bytes: ClassVar[int] = 512 << 20  # a compressed document (elsa-all.xml.bz2)
    max_xml_bytes: ClassVar[int] = MAX_XML_BYTES
    max_record_bytes: ClassVar[int] = MAX_RECORD_BYTES

    @abstractmethod
    def sniff(self, head: str, member_name: str) -> bool:
        """Is a document starting with ``head`` (decompressed text) one of this feed's?"""

    @abstractmethod
    def records(self, stream: Readable, name: str, stats: ParseStats) -> Iterator[Advisory]:
        """Advisories of one document (may raise FeedError)."""

    def accepts(self, member: Any, doc: object) -> bool:
        return doc is None and self.sniff(head_text(member.data), member.name)

    def add(self, member: Any, doc: object, stats: ParseStats) -> Iterator[Advisory]:
        stream = open_bytes(member.data, member.name, self.max_xml_bytes, self.max_record_bytes)
        yield from self._guarded(stream, member.name, stats)

    def parse(self, path: Path, stats: ParseStats) -> Iterator[Advisory]:
        path = Path(path)
        if not path.is_file() or zipfile.is_zipfile(path):
            yield from super().parse(path, stats)
            return
        try:
            with open(path, "rb") as fh:
                if not self.sniff(head_text(fh.read(1 << 20)), path.name):
                    stats.skip(f"{path.name}: not a {self.name} document")
                    return
                fh.seek(0)
                stream = open_xml(fh, path.name, self.max_xml_bytes, self.max_record_bytes)  # type: ignore[arg-type]
                yield from self._guarded(stream, path.name, stats)
        except OSError as exc:
            stats.skip(f"{path.name}: {exc}")

    def _guarded(self, stream: Readable, name: str, stats: ParseStats) -> Iterator[Advisory]:
        try:
            yield from self.records(stream, name, stats)
        except FeedError as exc:
            stats.skip(str(exc))


class OvalFeed(XmlFeed):
    """An XmlFeed of OVAL definitions documents; ``owns`` tells this distribution's apart."""

    @abstractmethod
    def owns(self, head: str, member_name: str) -> bool:
        """Is an OVAL document starting with ``head`` one of this distribution's?"""

    def sniff(self, head: str, member_name: str) -> bool:
        return looks_like_oval(head) and self.owns(head, member_name)
