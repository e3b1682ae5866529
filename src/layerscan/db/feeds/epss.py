"""FIRST EPSS scores: CSV (optionally gzipped) with a ``#model_version:...,score_date:...``
comment line, then ``cve,epss,percentile`` rows."""

from __future__ import annotations

import math
from typing import Iterator

from layerscan.db.feeds.base import ParseStats, SideFeed
from layerscan.db.feeds.common import CVE_RE
from layerscan.db.feeds.members import Member
from layerscan.db.feeds.source import Source, single_file
from layerscan.db.records import EpssScore
from layerscan.errors import FeedError

HEADER = ("cve", "epss", "percentile")


def _comment_fields(line: str) -> dict[str, str]:
    """'#model_version:v2023.03.01,score_date:2025-02-20T00:00:00+0000' -> dict."""
    out = {}
    for part in line.lstrip("#").split(","):
        key, sep, value = part.partition(":")
        if sep:
            out[key.strip()] = value.strip()
    return out


def _score(value: str) -> float:
    number = float(value)
    if not math.isfinite(number) or not 0.0 <= number <= 1.0:
        raise ValueError(value)
    return number


def parse_csv(text: str, stats: ParseStats) -> Iterator[EpssScore]:
    lines = iter(text.splitlines())
    date = ""
    header: tuple[str, ...] = ()
    for line in lines:
        if line.startswith("#"):
            date = _comment_fields(line).get("score_date", date)[:10]
            continue
        header = tuple(c.strip().lower() for c in line.split(","))
        break
    if header[:3] != HEADER:
        raise FeedError(f"EPSS CSV header must be {','.join(HEADER)}")
    for line in lines:
        if not line.strip():
            continue
        stats.records += 1
        cols = line.split(",")
        try:
            if len(cols) < 3 or not CVE_RE.fullmatch(cols[0].strip()):
                raise ValueError(line[:60])
            yield EpssScore(cols[0].strip(), _score(cols[1]), _score(cols[2]), date)
        except ValueError:
            stats.skip(f"EPSS row malformed: {line[:60]!r}")


def looks_like_epss(member: Member) -> bool:
    head = member.data[:300].decode("utf-8", "replace").lower()
    return member.name.lower().endswith(".csv") and "cve,epss,percentile" in head


class EpssFeed(SideFeed):
    name = "epss"
    source = Source("epss", "https://epss.empiricalsecurity.com/epss_scores-current.csv.gz",
                    single_file("epss", "epss_scores-current.csv.gz"))

    def accepts(self, member: Member, doc: object) -> bool:
        return looks_like_epss(member)

    def add(self, member: Member, doc: object, stats: ParseStats) -> Iterator[EpssScore]:
        try:
            yield from parse_csv(member.data.decode("utf-8", "replace"), stats)
        except FeedError as exc:
            stats.skip(f"{member.name}: {exc}")
