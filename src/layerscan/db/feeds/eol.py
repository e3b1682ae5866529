"""endoflife.date data: product pages (``products/<slug>.md``, YAML front matter with
``releases``), release-data files (``releases/<slug>.json``: ``{"releases": {cycle: ...}}``)
and the public API answer (``/api/<slug>.json``: a list of cycles).

Several inputs for one product are merged field by field: the first non-empty
value wins, so product pages (read first) override scraped release data.
"""

from __future__ import annotations

from dataclasses import asdict, fields
from pathlib import PurePosixPath
from typing import Any, Iterator

from layerscan.db.feeds.base import ParseStats, SideFeed
from layerscan.db.feeds.members import Member
from layerscan.db.feeds.source import FetchOptions, Source, per_file
from layerscan.db.records import EolInfo
from layerscan.errors import FeedError

# source key -> EolInfo field
DEFAULT_PRODUCTS = (  # the products ``db update`` fetches
    "debian", "ubuntu", "alpine-linux", "rhel", "centos", "almalinux", "rocky-linux", "oracle-linux",
    "amazon-linux", "python", "nodejs", "go", "java", "ruby", "php", "dotnet",
)
_FIELD_KEYS = {
    "releaseCycle": "cycle", "cycle": "cycle", "name": "cycle",
    "codename": "codename", "releaseDate": "release_date", "eol": "eol",
    "eoes": "eoes", "extendedSupport": "eoes", "latest": "latest",
    "latestReleaseDate": "latest_date", "lts": "lts",
}
_STR_FIELDS = tuple(f.name for f in fields(EolInfo) if f.name not in ("product", "lts"))


def _value(raw: object) -> str:
    if isinstance(raw, bool):
        return "true" if raw else "false"
    if isinstance(raw, (str, int, float)):
        return str(raw).strip()[:64]
    return ""


def cycle_from_mapping(product: str, raw: dict[str, Any], cycle: str = "") -> EolInfo:
    values: dict[str, Any] = {"cycle": cycle}
    for key, target in _FIELD_KEYS.items():
        if key in raw and not values.get(target):
            values[target] = _value(raw[key])
    if not values.get("cycle"):
        raise FeedError(f"{product}: release without a cycle")
    lts = values.pop("lts", "")
    return EolInfo(product=product, lts=lts not in ("", "false"),
                   **{k: v for k, v in values.items() if k in _STR_FIELDS})


def _cycles(product: str, releases: object) -> Iterator[tuple[dict[str, Any], str]]:
    if isinstance(releases, list):
        for item in releases:
            if isinstance(item, dict):
                yield item, ""
    elif isinstance(releases, dict):
        for cycle, item in releases.items():
            if isinstance(item, dict):
                yield item, str(cycle)
    else:
        raise FeedError(f"{product}: releases must be a list or mapping")


def releases_of(member: Member, doc: object) -> object | None:
    """The releases container of an endoflife.date document, None for other files."""
    suffix = PurePosixPath(member.name).suffix
    if suffix == ".md" and isinstance(doc, dict):
        return doc.get("releases")
    if suffix == ".json":
        if isinstance(doc, dict) and isinstance(doc.get("releases"), (dict, list)) and "vulnerabilities" not in doc:
            return doc["releases"]
        if isinstance(doc, list) and doc and isinstance(doc[0], dict) and "cycle" in doc[0] and "eol" in doc[0]:
            return doc
    return None


def merge(old: EolInfo, new: EolInfo) -> EolInfo:
    values = asdict(old)
    for key, value in asdict(new).items():
        if not values.get(key):
            values[key] = value
    return EolInfo(**values)


def product_files(opts: FetchOptions) -> tuple[str, ...]:
    """The API answer ``<slug>.json`` of every product ``db update`` fetches."""
    return tuple(f"{product}.json" for product in opts.eol_products)


class EolFeed(SideFeed):
    name = "eol"
    source = Source("eol", "https://endoflife.date/api", per_file("eol", product_files))

    def __init__(self) -> None:
        self._merged: dict[tuple[str, str], EolInfo] = {}

    def accepts(self, member: Member, doc: object) -> bool:
        return releases_of(member, doc) is not None

    def add(self, member: Member, doc: object, stats: ParseStats) -> Iterator[EolInfo]:
        product = PurePosixPath(member.name).stem
        try:
            for raw, cycle in _cycles(product, releases_of(member, doc)):
                stats.records += 1
                try:
                    info = cycle_from_mapping(product, raw, cycle)
                except FeedError as exc:
                    stats.skip(str(exc))
                    continue
                key = (info.product, info.cycle)
                self._merged[key] = merge(self._merged[key], info) if key in self._merged else info
        except FeedError as exc:
            stats.skip(f"{member.name}: {exc}")
        return iter(())

    def finish(self, stats: ParseStats) -> Iterator[EolInfo]:
        merged, self._merged = self._merged, {}
        return iter(merged.values())
