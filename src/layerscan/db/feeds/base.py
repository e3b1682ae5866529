"""Feed contract (DESIGN.md §2): ``fetch`` (network, base URL configurable so a
local mirror works; a feed ``db update`` downloads declares it as ``source``, see
``source``) and a pure ``parse`` that is replayable from files.

Every feed reads its input as a stream of members (files of a directory, zip
entries, a single file; see ``members``). A member is decoded once
(``common.decode_member``), then offered to the feed: ``accepts`` says whether
the document is in this feed's format, ``add`` turns it into records, and
``finish`` yields what a feed had to gather across members (one Advisory per
CVE from many per-package files). ``parse(path)`` runs that loop for one feed;
the importer runs it for all feeds at once, routing each member to the feed
that accepts it. A feed instance holds the state of one parse.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any, ClassVar, Iterator

from layerscan.db.feeds.common import decode_member
from layerscan.db.feeds.members import iter_members
from layerscan.db.feeds.source import Source
from layerscan.db.feeds.stats import ParseStats as ParseStats  # re-exported: the feeds' one import line
from layerscan.errors import FeedError
from layerscan.model import Advisory


class _MemberFeed(ABC):
    name: ClassVar[str]
    max_member_bytes: ClassVar[int] = 64 * 1024 * 1024
    source: ClassVar[Source | None] = None  # what ``db update`` downloads; None: ``db import`` only

    @abstractmethod
    def accepts(self, member: Any, doc: object) -> bool:
        """Is this decoded member (doc: JSON/YAML value, front matter, or None for text) ours?"""

    @abstractmethod
    def add(self, member: Any, doc: object, stats: ParseStats) -> Iterator[Any]:
        """Records of one accepted member (may be none until ``finish``)."""

    def accepts_raw(self, member: Any) -> bool:
        """Is this member ours before decoding (``add`` then gets ``doc`` None and reads the
        bytes itself: a document too large to decode whole)?"""
        return False

    def finish(self, stats: ParseStats) -> Iterator[Any]:
        return iter(())

    def parse(self, path: Path, stats: ParseStats) -> Iterator[Any]:
        """Parse a file, directory or zip in this feed's native layout."""
        for member in iter_members(path, stats, self.max_member_bytes):
            yield from self.parse_member(member, stats)
        yield from self.finish(stats)

    def parse_member(self, member: Any, stats: ParseStats) -> Iterator[Any]:
        """Decode one member and add it when it is ours; an undecodable member is skipped."""
        if self.accepts_raw(member):
            yield from self.add(member, None, stats)
            return
        try:
            doc = decode_member(member)
        except FeedError as exc:
            stats.skip(str(exc))
            return
        if self.accepts(member, doc):
            yield from self.add(member, doc, stats)


class Feed(_MemberFeed):
    """An advisory feed: records are ``Advisory``."""

    name: ClassVar[str]  # "osv", "debian", "alpine", "nvd", "nodejs-security-wg"

    def parse(self, path: Path, stats: ParseStats) -> Iterator[Advisory]:
        return super().parse(path, stats)


class SideFeed(_MemberFeed):
    """A feed of per-CVE or per-product facts (KEV, EPSS, end-of-life), not advisories."""

    name: ClassVar[str]  # "kev", "epss", "eol"
