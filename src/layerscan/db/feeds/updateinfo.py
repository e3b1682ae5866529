"""yum/dnf repository metadata: ``repodata/repomd.xml`` (where the repository's files
are) and ``updateinfo.xml`` (the errata of the repository), as RPM distributions
publish them next to their packages (Amazon Linux ALAS, ...).

``updateinfo.xml`` is a list of ``<update>`` elements::

    <updates>
      <update type="security" status="final" ...>
        <id>ALAS2-2018-939</id> <title>...</title> <severity>critical</severity>
        <issued date="2018-01-11 21:05"/> <updated date="2018-01-16 01:28"/>
        <description>...</description>
        <references><reference type="cve" id="CVE-2017-5754" href="..."/></references>
        <pkglist><collection short="amazon-linux-2">
          <package name="kernel" epoch="0" version="4.9.76" release="38.79.amzn2" arch="x86_64"/>
        </collection></pkglist>
      </update>
    </updates>

The document is read with ``defusedxml``'s ``iterparse`` through the same capped,
decompressing reader as OVAL (``oval.open_xml``): each ``<update>`` becomes a compact
``Update`` as soon as it closes and its element is dropped, so memory stays bounded on
the multi-megabyte files. Malformed XML, a DTD or a document over the caps raises
``OvalError`` (records yielded before it stay valid).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Iterator
from xml.etree.ElementTree import Element, ParseError

import defusedxml.ElementTree as safe_et
from defusedxml import DefusedXmlException

from layerscan.db.feeds.base import ParseStats
from layerscan.db.feeds.oval import MAX_RECORDS, CappedReader, OvalError, Readable, open_bytes, strip_zero_epoch

_UPDATES = re.compile(r"<updates[\s>/]")
_TEXT_LIMIT = 100_000
_MAX_PACKAGES = 100_000  # per update
MAX_REPOMD_BYTES = 16 << 20


@dataclass(frozen=True)
class UpdatePackage:
    name: str
    epoch: str = ""
    version: str = ""
    release: str = ""
    arch: str = ""

    @property
    def evr(self) -> str:
        """'[epoch:]version-release' as the rpm scheme reads it (a 0 epoch dropped)."""
        evr = f"{self.epoch}:{self.version}" if self.epoch else self.version
        return strip_zero_epoch(f"{evr}-{self.release}" if self.release else evr)


@dataclass(frozen=True)
class UpdateReference:
    type: str
    id: str
    href: str = ""


@dataclass(frozen=True)
class Update:
    id: str
    type: str = ""
    title: str = ""
    severity: str = ""
    description: str = ""
    issued: str = ""
    updated: str = ""
    references: tuple[UpdateReference, ...] = ()
    collections: tuple[str, ...] = ()  # <collection short="...">
    packages: tuple[UpdatePackage, ...] = ()

    def reference_ids(self, kind: str) -> tuple[str, ...]:
        return tuple(r.id for r in self.references if r.type.lower() == kind and r.id)


def looks_like_updateinfo(head: str) -> bool:
    return bool(_UPDATES.search(head)) and "<oval_definitions" not in head


def _local(tag: object) -> str:
    return tag.rsplit("}", 1)[-1] if isinstance(tag, str) else ""


def _text(elem: Element) -> str:
    return (elem.text or "").strip()[:_TEXT_LIMIT]


def _packages(pkglist: Element, collections: list[str], stats: ParseStats, update_id: str) -> list[UpdatePackage]:
    out: list[UpdatePackage] = []
    for collection in pkglist:
        if _local(collection.tag) != "collection":
            continue
        if collection.get("short"):
            collections.append(collection.get("short", ""))
        for pkg in collection:
            if _local(pkg.tag) != "package":
                continue
            if len(out) >= _MAX_PACKAGES:
                stats.skip(f"{update_id}: more than {_MAX_PACKAGES} packages, rest ignored")
                return out
            out.append(UpdatePackage(*(pkg.get(a, "").strip() for a in ("name", "epoch", "version", "release",
                                                                       "arch"))))
    return out


def _update(elem: Element, stats: ParseStats) -> Update:
    fields: dict[str, str] = {}
    refs: list[UpdateReference] = []
    collections: list[str] = []
    packages: list[UpdatePackage] = []
    for child in elem:
        tag = _local(child.tag)
        if tag in ("id", "title", "severity", "description"):
            fields[tag] = _text(child)
        elif tag in ("issued", "updated"):
            fields[tag] = (child.get("date") or "").strip()
        elif tag == "references":
            refs += [UpdateReference((r.get("type") or "").strip(), (r.get("id") or "").strip(),
                                     (r.get("href") or "").strip()) for r in child if _local(r.tag) == "reference"]
        elif tag == "pkglist":
            packages += _packages(child, collections, stats, fields.get("id", "?"))
    return Update(id=fields.get("id", ""), type=(elem.get("type") or "").strip(),
                  title=" ".join(fields.get("title", "").split()), severity=fields.get("severity", ""),
                  description=fields.get("description", ""), issued=fields.get("issued", ""),
                  updated=fields.get("updated", ""), references=tuple(refs), collections=tuple(collections),
                  packages=tuple(packages))


def iter_updates(stream: Readable, name: str, stats: ParseStats) -> Iterator[Update]:
    """Every ``<update>`` of an updateinfo document, in document order (raises OvalError
    when the XML is malformed, forbidden or too large)."""
    depth, count = 0, 0
    root: Element | None = None
    mark = stream.mark if isinstance(stream, CappedReader) else (lambda: None)
    try:
        for event, elem in safe_et.iterparse(stream, events=("start", "end"), forbid_dtd=True):
            if event == "start":
                depth += 1
                if depth == 1:
                    root = elem
                    if _local(elem.tag) != "updates":
                        raise OvalError(f"{name}: not an updateinfo document (root <{_local(elem.tag)}>)")
                continue
            depth -= 1
            if depth != 1 or _local(elem.tag) != "update":
                continue
            update = _update(elem, stats)
            if root is not None:
                root.remove(elem)  # converted: keep memory to the records
            mark()
            count += 1
            if count > MAX_RECORDS:
                raise OvalError(f"{name}: more than {MAX_RECORDS} updates")
            yield update
    except (ParseError, DefusedXmlException, LookupError, UnicodeError) as exc:
        raise OvalError(f"{name}: not readable updateinfo XML ({exc.__class__.__name__}: {exc})") from exc
    except RecursionError as exc:
        raise OvalError(f"{name}: XML nested too deeply") from exc


def updateinfo_location(repomd: bytes, name: str = "repomd.xml") -> str:
    """The ``location href`` of the ``updateinfo`` data in a ``repomd.xml`` (relative to the
    repository root); raises OvalError when the document is unreadable or names none."""
    if len(repomd) > MAX_REPOMD_BYTES:
        raise OvalError(f"{name}: larger than {MAX_REPOMD_BYTES} bytes")
    try:
        for _, elem in safe_et.iterparse(open_bytes(repomd, name, MAX_REPOMD_BYTES), events=("end",),
                                         forbid_dtd=True):
            if _local(elem.tag) == "data" and elem.get("type") == "updateinfo":
                href = next((c.get("href", "") for c in elem if _local(c.tag) == "location"), "")
                if href:
                    return href
    except (ParseError, DefusedXmlException, LookupError, UnicodeError, RecursionError) as exc:
        raise OvalError(f"{name}: not readable repomd XML ({exc.__class__.__name__})") from exc
    raise OvalError(f"{name}: no updateinfo in the repository metadata")
