"""The base-image index as JSON lines (``layerscan index list -f jsonl``), so an index built
where registries are reachable can be carried to an air-gapped machine and loaded with
``db import``. One object per line::

    {"kind": "layerscan-base-index/1", "chain_id": "sha256:...", "layers": 3, "repo": "debian",
     "tag": "bookworm", "digest": "sha256:...", "manifest": "sha256:...", "platform": "linux/amd64",
     "first_seen": "2026-01-02T03:04:05Z", "last_seen": "...", "current": true}

A file is ours when its name ends in ``.jsonl`` and its first line has that ``kind``. A line
that does not decode, or whose digests, names or dates are not valid, is skipped and counted.
"""

from __future__ import annotations

import json
import re
from typing import Iterable, Iterator

from layerscan.db.feeds.base import ParseStats, SideFeed
from layerscan.db.feeds.members import Member
from layerscan.db.records import IndexEntry
from layerscan.errors import ImageError

KIND = "layerscan-base-index/1"
MAX_LINE = 8192
MAX_LAYERS = 10_000
_DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")
_DATE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?Z$")
_PLATFORM = re.compile(r"^[a-z0-9._-]{1,32}/[a-z0-9._-]{1,32}(?:/[a-z0-9._-]{1,32})?$")


def to_line(entry: IndexEntry) -> str:
    return json.dumps({"kind": KIND, "chain_id": entry.chain_id, "layers": entry.layers, "repo": entry.repo,
                       "tag": entry.tag, "digest": entry.digest, "manifest": entry.manifest,
                       "platform": entry.platform, "first_seen": entry.first_seen, "last_seen": entry.last_seen,
                       "current": entry.current}, separators=(",", ":"))


def dump(entries: Iterable[IndexEntry]) -> str:
    return "".join(to_line(e) + "\n" for e in entries)


def canonical_repo(repo: str, tag: str) -> bool:
    """Is ``repo:tag`` a valid reference whose repository is spelled as docker prints it?"""
    from layerscan.source.registry.reference import familiar_repository, parse_reference

    try:
        ref = parse_reference(f"{repo}:{tag}")
    except ImageError:
        return False
    return familiar_repository(ref) == repo and ref.tag == tag and not ref.digest


def from_object(obj: object) -> IndexEntry:
    """An entry from one decoded line; ValueError saying what is wrong."""
    if not isinstance(obj, dict) or obj.get("kind") != KIND:
        raise ValueError(f"not a {KIND} object")
    text = {k: obj.get(k) for k in ("chain_id", "repo", "tag", "digest", "manifest", "platform",
                                    "first_seen", "last_seen")}
    if not all(isinstance(v, str) for v in text.values()):
        raise ValueError("a field is not a string")
    layers, current = obj.get("layers"), obj.get("current", True)
    if not isinstance(layers, int) or isinstance(layers, bool) or not 0 < layers <= MAX_LAYERS:
        raise ValueError(f"layers {layers!r} is not a count")
    if not isinstance(current, bool):
        raise ValueError("current is not a boolean")
    for key in ("chain_id", "digest", "manifest"):
        if not _DIGEST.match(str(text[key])):
            raise ValueError(f"{key} is not a sha256 digest")
    for key in ("first_seen", "last_seen"):
        if not _DATE.match(str(text[key])):
            raise ValueError(f"{key} is not an RFC 3339 UTC time")
    if not _PLATFORM.match(str(text["platform"])):
        raise ValueError("platform is not os/arch[/variant]")
    if not canonical_repo(str(text["repo"]), str(text["tag"])):
        raise ValueError("repo:tag is not a valid image reference")
    return IndexEntry(layers=layers, current=current, **{k: str(v) for k, v in text.items()})


def _first_line(data: bytes) -> bytes:
    return data.lstrip()[:MAX_LINE].split(b"\n", 1)[0]


class BaseIndexFeed(SideFeed):
    name = "base-index"

    def accepts(self, member: Member, doc: object) -> bool:
        if not member.name.lower().endswith(".jsonl"):
            return False
        try:
            first = json.loads(_first_line(member.data))
        except (ValueError, RecursionError):
            return False
        return isinstance(first, dict) and first.get("kind") == KIND

    def add(self, member: Member, doc: object, stats: ParseStats) -> Iterator[IndexEntry]:
        for number, line in enumerate(member.data.split(b"\n"), 1):
            if not line.strip():
                continue
            stats.records += 1
            try:
                if len(line) > MAX_LINE:
                    raise ValueError(f"longer than {MAX_LINE} bytes")
                yield from_object(json.loads(line))
            except (ValueError, RecursionError) as exc:
                stats.skip(f"{member.name} line {number}: {str(exc)[:120]}")
