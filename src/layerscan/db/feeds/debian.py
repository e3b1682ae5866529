"""Debian security tracker: the tracker JSON (``security-tracker.debian.org/tracker/data/json``)
and the DSA/DLA list text format (``data/DSA/list``, ``data/DLA/list``).

Rows are keyed by **source** package and namespace ``Debian:<major>``. One
Advisory per CVE: a DSA/DLA naming several CVEs yields one Advisory per CVE with
the DSA id as an alias (the store does not merge CVEs through a shared DSA).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Iterator

from layerscan.db.feeds.base import Feed, ParseStats
from layerscan.db.feeds.common import normalise_severity, text, valid_id
from layerscan.db.feeds.members import Member
from layerscan.db.feeds.source import Source, single_file
from layerscan.errors import FeedError
from layerscan.model import Advisory, Affected, Range

TRACKER_JSON_MAX_BYTES = 1 << 30  # the whole tracker JSON is ~80 MB decompressed
# a tracker JSON this large is read one package at a time: decoded whole, a document takes
# ~8x its size in objects (a 119 MB file: 1 GB peak RSS), one package at a time ~2x
TRACKER_STREAM_BYTES = 4 << 20
_TRACKER_HEAD = re.compile(rb'\A\s*\{\s*"(?:[^"\\]|\\.){1,200}"\s*:\s*\{\s*"(?:CVE|TEMP)-')
_WS = re.compile(r"[ \t\n\r]*")

CODENAMES = {
    "hamm": "2.0", "slink": "2.1", "potato": "2.2", "woody": "3.0", "sarge": "3.1",
    "etch": "4", "lenny": "5", "squeeze": "6", "wheezy": "7", "jessie": "8",
    "stretch": "9", "buster": "10", "bullseye": "11", "bookworm": "12",
    "trixie": "13", "forky": "14", "duke": "15", "sid": "sid",
}

NOT_AFFECTED_VERSIONS = ("0", "<not-affected>")
_LIST_MARKERS = {  # "[buster] - pkg <marker>" in DSA/DLA/CVE lists
    "<not-affected>": "not_affected",
    "<unfixed>": "affected",
    "<no-dsa>": "affected",
    "<ignored>": "will_not_fix",
    "<postponed>": "fix_deferred",
    "<end-of-life>": "end_of_life",
    "<undetermined>": "under_investigation",
}
_HEADER = re.compile(r"^\[(\d{1,2} \w{3} \d{4})\]\s+((?:DSA|DLA)-\d+(?:-\d+)?)\s+(.*)$")
_RELEASE_LINE = re.compile(r"^\s*\[([a-z]+)\]\s+-\s+(\S+)\s+(\S+)(?:\s+\((.*)\))?\s*$")
_CVE_BLOCK = re.compile(r"^\s*\{([^}]*)\}\s*$")
_URGENCY_WORDS = ("unimportant", "low", "medium", "high")


def namespace_for(codename: str) -> str:
    release = CODENAMES.get(codename.lower())
    if release is None:
        raise FeedError(f"unknown Debian codename {codename!r}")
    return f"Debian:{release}"


def tracker_status(release: dict[str, Any]) -> str:
    """Map a tracker JSON release entry to our status vocabulary."""
    status = str(release.get("status", ""))
    fixed = release.get("fixed_version")
    urgency = str(release.get("urgency", ""))
    if status == "resolved":
        return "not_affected" if fixed in NOT_AFFECTED_VERSIONS else "fixed"
    if urgency == "end-of-life" or status == "end-of-life":
        return "end_of_life"
    if status == "undetermined":
        return "under_investigation"
    reason = str(release.get("nodsa_reason", ""))
    if reason == "ignored":
        return "will_not_fix"
    if reason == "postponed":
        return "fix_deferred"
    return "affected"  # open, open + no-dsa


def _fixed_range(version: str) -> tuple[Range, ...]:
    return (Range(type="ECOSYSTEM", events=(("introduced", "0"), ("fixed", version))),)


def _affected_row(namespace: str, package: str, status: str, fixed: str, urgency: str) -> Affected:
    ranges = _fixed_range(fixed) if status == "fixed" and fixed else ()
    if status == "affected":
        ranges = (Range(type="ECOSYSTEM", events=(("introduced", "0"),)),)
    return Affected(
        namespace=namespace, package=package, ranges=ranges, status=status,
        fixed_version=fixed if status == "fixed" else "",
        severity=normalise_severity(urgency), urgency=urgency,
    )


@dataclass
class _Collected:
    """Rows gathered per CVE across packages and list files, merged on output."""

    summary: str = ""
    details: str = ""
    published: str = ""
    aliases: list[str] = field(default_factory=list)
    affected: list[Affected] = field(default_factory=list)

    def advisory(self, vuln_id: str, source: str) -> Advisory:
        return Advisory(
            id=vuln_id, source=source, aliases=tuple(a for a in self.aliases if a != vuln_id),
            summary=self.summary, details=self.details, published=self.published,
            affected=tuple(self.affected),
        )


class _Collector:
    def __init__(self) -> None:
        self.by_id: dict[str, _Collected] = {}

    def get(self, vuln_id: str) -> _Collected:
        return self.by_id.setdefault(vuln_id, _Collected())

    def merge(self, other: _Collector) -> None:
        if not self.by_id:
            self.by_id = other.by_id
            return
        for vuln_id, theirs in other.by_id.items():
            item = self.get(vuln_id)
            item.details = item.details or theirs.details
            item.affected.extend(theirs.affected)

    def emit(self, source: str) -> Iterator[Advisory]:
        for vuln_id, item in self.by_id.items():
            yield item.advisory(vuln_id, source)


# -- tracker JSON -----------------------------------------------------------

def _tracker_package(package: str, cves: object, out: _Collector, stats: ParseStats) -> None:
    if not isinstance(cves, dict):
        stats.skip(f"tracker {package}: not a mapping")
        return
    for vuln_id, entry in cves.items():
        stats.records += 1
        if not valid_id(vuln_id) or not isinstance(entry, dict) or not isinstance(entry.get("releases"), dict):
            stats.skip(f"tracker {package}/{vuln_id}: malformed entry")
            continue
        item = out.get(vuln_id)
        item.details = item.details or text(entry.get("description"))
        for codename, release in entry["releases"].items():
            if not isinstance(release, dict) or codename not in CODENAMES:
                continue
            fixed = release.get("fixed_version")
            fixed = fixed if isinstance(fixed, str) else ""
            item.affected.append(_affected_row(
                namespace_for(codename), package, tracker_status(release), fixed,
                str(release.get("urgency", "")),
            ))


def parse_tracker_json(doc: object, out: _Collector, stats: ParseStats) -> None:
    if not isinstance(doc, dict):
        raise FeedError("tracker JSON must be a mapping of source packages")
    for package, cves in doc.items():
        _tracker_package(package, cves, out, stats)


def looks_like_large_tracker_json(member: Member) -> bool:
    """A tracker JSON too large to decode whole (read by ``iter_tracker_packages``)?"""
    return (len(member.data) >= TRACKER_STREAM_BYTES and member.name.lower().endswith(".json")
            and bool(_TRACKER_HEAD.match(member.data[:512])))


def iter_tracker_packages(data: bytes) -> Iterator[tuple[str, object]]:
    """(source package, its CVE mapping) of a tracker JSON document, one package decoded at a
    time; FeedError on malformed text (the packages before it have been yielded)."""
    try:
        doc = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise FeedError(f"tracker JSON is not UTF-8 ({exc.reason})") from exc
    decoder = json.JSONDecoder()

    def expect(pos: int, char: str) -> int:
        pos = _WS.match(doc, pos).end()  # type: ignore[union-attr]  # the pattern matches ""
        if doc[pos:pos + 1] != char:
            raise FeedError(f"tracker JSON: expected {char!r} at offset {pos}")
        return _WS.match(doc, pos + 1).end()  # type: ignore[union-attr]

    pos = expect(0, "{")
    if doc[pos:pos + 1] == "}":
        return
    try:
        while True:
            package, pos = decoder.raw_decode(doc, pos)
            if not isinstance(package, str):
                raise FeedError(f"tracker JSON: a package name must be a string (offset {pos})")
            cves, pos = decoder.raw_decode(doc, expect(pos, ":"))
            yield package, cves
            pos = _WS.match(doc, pos).end()  # type: ignore[union-attr]
            if doc[pos:pos + 1] == "}":
                break
            pos = expect(pos, ",")
    except (ValueError, RecursionError) as exc:  # JSONDecodeError is a ValueError
        raise FeedError(f"tracker JSON: invalid JSON ({exc})") from exc
    if doc[pos + 1:].strip(" \t\n\r"):
        raise FeedError("tracker JSON: data after the document")


def looks_like_tracker_json(doc: object) -> bool:
    if not isinstance(doc, dict) or not doc:
        return False
    first = next(iter(doc.values()))
    if not isinstance(first, dict) or not first:
        return False
    entry = next(iter(first.values()))
    return isinstance(entry, dict) and "releases" in entry


# -- DSA / DLA lists --------------------------------------------------------

@dataclass(frozen=True)
class ListEntry:
    """One DSA/DLA: its header and the per-release fixed versions."""

    advisory_id: str
    date: str
    title: str
    cves: tuple[str, ...]
    rows: tuple[Affected, ...]


def _list_row(match: re.Match[str]) -> Affected | None:
    codename, package, version, notes = match.group(1), match.group(2), match.group(3), match.group(4) or ""
    if codename not in CODENAMES:
        return None
    urgency = next((w for w in re.split(r"[;,\s]+", notes) if w in _URGENCY_WORDS), "")
    status = _LIST_MARKERS.get(version, "fixed")
    return _affected_row(namespace_for(codename), package, status, version if status == "fixed" else "", urgency)


def _iso_date(day: str) -> str:
    try:
        return datetime.strptime(day, "%d %b %Y").strftime("%Y-%m-%dT00:00:00Z")
    except ValueError:
        return ""


def parse_list(data: str, stats: ParseStats) -> Iterator[ListEntry]:
    """DSA/DLA list text: a header line, an optional {CVE ...} line, release lines, NOTEs."""
    header: re.Match[str] | None = None
    cves: list[str] = []
    rows: list[Affected] = []

    def flush() -> Iterator[ListEntry]:
        if header is not None:
            stats.records += 1
            yield ListEntry(header.group(2), _iso_date(header.group(1)), header.group(3).strip(),
                            tuple(cves), tuple(rows))

    for lineno, line in enumerate(data.splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("NOTE:"):
            continue
        if m := _HEADER.match(line):
            yield from flush()
            header, cves, rows = m, [], []
        elif header is None:
            stats.skip(f"line {lineno}: text before the first advisory header")
        elif m := _CVE_BLOCK.match(line):
            cves.extend(c for c in m.group(1).split() if valid_id(c))
        elif m := _RELEASE_LINE.match(line):
            row = _list_row(m)
            if row is not None:
                rows.append(row)
        else:
            stats.skip(f"line {lineno}: unrecognised {line.strip()[:60]!r}")
    yield from flush()


def _title(entry: ListEntry) -> str:
    package, _, desc = entry.title.partition(" - ")
    return f"{entry.advisory_id} {package}: {desc}".strip() if desc else f"{entry.advisory_id} {entry.title}"


def collect_list(entries: Iterator[ListEntry], out: _Collector) -> None:
    for entry in entries:
        if not entry.rows:
            continue  # announcements (key changes, end of life notices) name no package
        for vuln_id in entry.cves or (entry.advisory_id,):
            item = out.get(vuln_id)
            item.summary = item.summary or _title(entry)
            item.published = min(filter(None, (item.published, entry.date)), default="")
            if entry.advisory_id != vuln_id and entry.advisory_id not in item.aliases:
                item.aliases.append(entry.advisory_id)
            item.affected.extend(entry.rows)


def looks_like_list(name: str, data: bytes) -> bool:
    head = data[:200].lstrip()
    return head.startswith(b"[") and bool(_HEADER.match(head.split(b"\n", 1)[0].decode("utf-8", "replace")))


def _dedupe(advisory: Advisory) -> Advisory:
    """Same (namespace, package) named by several DSAs/DLAs: keep each distinct row once."""
    return replace(advisory, affected=tuple(dict.fromkeys(advisory.affected)))


class DebianFeed(Feed):
    name = "debian"
    source = Source("debian", "https://security-tracker.debian.org/tracker/data/json",
                    single_file("debian", "tracker.json"))
    max_member_bytes = TRACKER_JSON_MAX_BYTES

    def __init__(self) -> None:
        self._out = _Collector()

    def accepts(self, member: Member, doc: object) -> bool:
        return looks_like_tracker_json(doc) or (doc is None and looks_like_list(member.name, member.data))

    def accepts_raw(self, member: Member) -> bool:
        return looks_like_large_tracker_json(member)

    def add(self, member: Member, doc: object, stats: ParseStats) -> Iterator[Advisory]:
        try:
            if doc is None and looks_like_list(member.name, member.data):
                collect_list(parse_list(member.data.decode("utf-8", "replace"), stats), self._out)
            elif doc is None:  # accepted undecoded (accepts_raw): a large tracker JSON
                part = _Collector()  # all or nothing, as a document decoded whole
                for package, cves in iter_tracker_packages(member.data):
                    _tracker_package(package, cves, part, stats)
                self._out.merge(part)
            else:
                parse_tracker_json(doc, self._out, stats)
        except FeedError as exc:
            stats.skip(f"{member.name}: {exc}")
        return iter(())

    def finish(self, stats: ParseStats) -> Iterator[Advisory]:
        out, self._out = self._out, _Collector()
        for advisory in out.emit(self.name):
            yield _dedupe(advisory)
