"""The download half of the feed contract (DESIGN.md §2): what ``db update`` fetches for a feed.

A feed that ``db update`` can download declares a ``Source`` on its class (``Feed.source``):
its key (the feed's name, as in ``--sources`` and ``LAYERSCAN_DB_<KEY>_URL``), its default
base URL, and its fetch step. A step downloads into ``<feed_dir>/<key>/`` through the shared
``Fetcher`` (conditional requests, bounded downloads) and records in the ``FetchPlan`` what
the build reads (``BuildInput``), what changed and what failed. ``db.update`` orchestrates:
it runs the steps of every source the registry lists, then builds.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Mapping, Protocol

from layerscan.errors import FeedError

if TYPE_CHECKING:
    from layerscan.db.fetch import Fetcher
    from layerscan.db.nvdapi import NvdLimits


@dataclass(frozen=True)
class BuildInput:
    """Files to load. ``feed`` "" detects the format of every member; ``overlay``
    (OSV only) holds incrementally fetched records that replace ``paths``' ones by id;
    ``covers`` names source keys this input replaces even if it yields none of them."""

    paths: tuple[Path, ...]
    feed: str = ""
    overlay: Path | None = None
    covers: tuple[str, ...] = ()


class FetchOptions(Protocol):
    """What a fetch step may read of the update options (``db.update.UpdateOptions``)."""

    @property
    def feed_dir(self) -> Path: ...
    @property
    def env(self) -> Mapping[str, str]: ...
    @property
    def ecosystems(self) -> tuple[str, ...]: ...
    @property
    def alpine_branches(self) -> tuple[str, ...]: ...
    @property
    def eol_products(self) -> tuple[str, ...]: ...
    @property
    def nvd_limits(self) -> NvdLimits: ...

    def url(self, source: str) -> str:
        """The source's base URL: the override, ``LAYERSCAN_DB_<SOURCE>_URL``, else its default."""
        ...


@dataclass
class FetchPlan:
    """What the fetch phase decided: inputs to build, failures, changes, new state."""

    inputs: list[BuildInput] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)  # not fetched, no cached copy
    stale: dict[str, str] = field(default_factory=dict)  # not fetched, built from the cached copy
    changed: list[str] = field(default_factory=list)
    state: dict[str, str] = field(default_factory=dict)
    attempted: list[str] = field(default_factory=list)

    def nothing_fetched(self) -> bool:
        return bool(self.attempted) and len(self.failed) + len(self.stale) >= len(self.attempted)


Fetch = Callable[["Fetcher", FetchOptions, FetchPlan], None]
Step = Callable[["Fetcher", FetchPlan], None]


@dataclass(frozen=True)
class Source:
    """One downloadable source: its key, default base URL and fetch step."""

    key: str
    default_url: str
    fetch: Fetch

    def steps(self, opts: FetchOptions) -> list[tuple[str, Step]]:
        """(key the plan records the step under, step) in order: most sources are one step."""
        return [(self.key, functools.partial(_run, self.fetch, opts))]


def _run(fetch: Fetch, opts: FetchOptions, fetcher: Fetcher, plan: FetchPlan) -> None:
    fetch(fetcher, opts, plan)


def fetch_files(fetcher: Fetcher, items: list[tuple[str, Path]], plan: FetchPlan, key: str,
                paths: tuple[Path, ...], feed: str) -> None:
    """Fetch every (url, dest) of one source; build from cache if some fail and a copy exists."""
    errors = []
    for url, dest in items:
        try:
            if fetcher.get(url, dest, key).changed:
                plan.changed.append(key)
        except FeedError as exc:
            errors.append(str(exc))
    settle(plan, key, errors, len(items), any(dest.exists() for _, dest in items), paths, feed)


def settle(plan: FetchPlan, key: str, errors: list[str], attempts: int, have: bool, paths: tuple[Path, ...],
           feed: str) -> None:
    """After fetching one source's files: failed (nothing cached), stale (every download failed,
    built from the cache), else built from what is there."""
    if errors and not have:
        plan.failed[key] = "; ".join(errors)[:500]
        return
    if errors and len(errors) == attempts:
        plan.stale[key] = "; ".join(errors)[:500]
    plan.inputs.append(BuildInput(paths=paths, feed=feed, covers=(key,)))


def keep_or_fail(plan: FetchPlan, key: str, exc: Exception, have: bool) -> bool:
    """A sync that raised: stale when a cached copy is there (True: build from it), else failed."""
    if not have:
        plan.failed[key] = str(exc)[:500]
        return False
    plan.stale[key] = str(exc)[:500]
    return True


def single_file(source: str, name: str) -> Fetch:
    """The fetch step of a source that is one file at its base URL, saved as ``<source>/<name>``."""
    def fetch(fetcher: Fetcher, opts: FetchOptions, plan: FetchPlan) -> None:
        dest = opts.feed_dir / source / name
        fetch_files(fetcher, [(opts.url(source), dest)], plan, source, (dest,), source)
    return fetch


def per_file(source: str, names: Callable[[FetchOptions], tuple[str, ...]]) -> Fetch:
    """The fetch step of a source that is several files under its base URL (``<base>/<name>``),
    saved as ``<source>/<name>`` and built from the directory."""
    def fetch(fetcher: Fetcher, opts: FetchOptions, plan: FetchPlan) -> None:
        root = opts.feed_dir / source
        items = [(f"{opts.url(source)}/{name}", root / name) for name in names(opts)]
        fetch_files(fetcher, items, plan, source, (root,), source)
    return fetch
