"""All feeds by name, and one-pass reading of mixed inputs (``db import``): each
member is decoded once and routed to the first feed that accepts it."""

from __future__ import annotations

from pathlib import Path
from typing import Iterable, Iterator

from layerscan.db.feeds.alpine import AlpineFeed
from layerscan.db.feeds.amazon import AmazonFeed
from layerscan.db.feeds.base import Feed, ParseStats, SideFeed
from layerscan.db.feeds.baseindex import BaseIndexFeed
from layerscan.db.feeds.common import decode_member
from layerscan.db.feeds.debian import DebianFeed
from layerscan.db.feeds.eol import EolFeed
from layerscan.db.feeds.epss import EpssFeed
from layerscan.db.feeds.kev import KevFeed
from layerscan.db.feeds.mariner import MarinerFeed
from layerscan.db.feeds.members import iter_members
from layerscan.db.feeds.nodejs import NodejsFeed
from layerscan.db.feeds.nvd import NvdFeed
from layerscan.db.feeds.oracle import OracleFeed
from layerscan.db.feeds.osv import OsvFeed
from layerscan.db.feeds.photon import PhotonFeed
from layerscan.db.feeds.redhat_csaf import RedHatCsafFeed
from layerscan.db.feeds.source import Source
from layerscan.db.feeds.wolfi import ChainguardFeed, WolfiFeed
from layerscan.errors import FeedError

ADVISORY_FEEDS: dict[str, type[Feed]] = {
    f.name: f for f in (OsvFeed, DebianFeed, AlpineFeed, NvdFeed, NodejsFeed, WolfiFeed, ChainguardFeed,
                        RedHatCsafFeed, OracleFeed, MarinerFeed, AmazonFeed, PhotonFeed)
}
SIDE_FEEDS: dict[str, type[SideFeed]] = {f.name: f for f in (KevFeed, EpssFeed, EolFeed, BaseIndexFeed)}
ALL_FEEDS: dict[str, type[Feed] | type[SideFeed]] = {**ADVISORY_FEEDS, **SIDE_FEEDS}
# most specific detectors first: OSV accepts any {"id", "modified"} document
SNIFF_ORDER = ("base-index", "kev", "nvd", "alpine", "oracle", "mariner", "amazon", "photon", "wolfi", "chainguard",
               "nodejs-security-wg", "redhat", "osv", "debian", "eol", "epss")
IMPORT = "import"  # stats key for members no feed could decode
# what ``db update`` downloads, in download order: every feed that declares a ``source``
UPDATE_ORDER = ("osv", "debian", "alpine", "wolfi", "chainguard", "kev", "epss", "eol", "nvd", "oracle", "mariner",
                "redhat", "amazon", "photon")
UPDATE_SOURCES: tuple[Source, ...] = tuple(s for n in UPDATE_ORDER if (s := ALL_FEEDS[n].source) is not None)


def new_stats() -> dict[str, ParseStats]:
    return {name: ParseStats() for name in (*SNIFF_ORDER, IMPORT)}


def read_mixed(paths: Iterable[Path], stats: dict[str, ParseStats],
               only: Iterable[str] | None = None) -> Iterator[tuple[str, object]]:
    """(feed name, record) for every record of every path, whatever its format."""
    names = [n for n in SNIFF_ORDER if only is None or n in set(only)]
    feeds = {name: ALL_FEEDS[name]() for name in names}
    limit = max(f.max_member_bytes for f in feeds.values())
    for path in paths:
        for member in iter_members(Path(path), stats[IMPORT], limit):
            raw = next((name for name, feed in feeds.items() if feed.accepts_raw(member)), None)
            if raw is not None:  # read undecoded (a document too large to decode whole)
                yield from ((raw, record) for record in feeds[raw].add(member, None, stats[raw]))
                continue
            try:
                doc = decode_member(member)
            except FeedError as exc:
                stats[IMPORT].skip(str(exc))
                continue
            for name, feed in feeds.items():
                if feed.accepts(member, doc):
                    for record in feed.add(member, doc, stats[name]):
                        yield name, record
                    break
    for name, feed in feeds.items():
        for record in feed.finish(stats[name]):
            yield name, record
