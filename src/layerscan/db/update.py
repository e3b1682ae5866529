"""``db update``: fetch the upstream feeds into ``<cache>/db/feeds/`` and rebuild
``<cache>/db/layerscan.db``.

Every source's base URL can be overridden (``UpdateOptions.urls`` or the env
variable ``LAYERSCAN_DB_<SOURCE>_URL``, e.g. ``LAYERSCAN_DB_OSV_URL``) so a local
mirror works. Requests are conditional (ETag / Last-Modified remembered in the
database metadata). OSV is synced incrementally after the first full download:
``<base>/<Ecosystem>/modified_id.csv`` lists records by modification time and
only the newer ones are fetched (``<base>/<Ecosystem>/<ID>.json``) into an
overlay that replaces the ``all.zip`` records by id. NVD (CVE API 2.0, see
``nvdapi``) is downloaded in full once, then incrementally by modification date.
A source whose download
fails is built from its cached file if there is one, otherwise its previous
rows are kept in the database.

Each feed owns its download (``Feed.source``: default URL and fetch step, see
``db.feeds.source``); this module only orchestrates: the plan, the shared fetcher,
the update lock and the build, over the sources ``db.feeds.registry`` lists.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Mapping

from layerscan.db.build import BuildResult, build_database
from layerscan.db.dates import format_utc
from layerscan.db.feeds.alpine import DEFAULT_BRANCHES as DEFAULT_ALPINE_BRANCHES
from layerscan.db.feeds.alpine import REPOS as ALPINE_REPOS  # noqa: F401  (re-exported)
from layerscan.db.feeds.amazon import AMAZON_1_URL  # noqa: F401  (re-exported)
from layerscan.db.feeds.amazon import MIRROR_LISTS as AMAZON_MIRROR_LISTS  # noqa: F401  (re-exported)
from layerscan.db.feeds.eol import DEFAULT_PRODUCTS as DEFAULT_EOL_PRODUCTS
from layerscan.db.feeds.mariner import OVAL_FILES as MARINER_FILES  # noqa: F401  (re-exported)
from layerscan.db.feeds.nvd import NVD_SYNC_KEY  # noqa: F401  (re-exported)
from layerscan.db.feeds.osv import DEFAULT_ECOSYSTEMS, FULL_RESYNC_THRESHOLD  # noqa: F401  (re-exported)
from layerscan.db.feeds.photon import FETCHED_RELEASES as PHOTON_RELEASES  # noqa: F401  (re-exported)
from layerscan.db.feeds.registry import UPDATE_SOURCES
from layerscan.db.feeds.source import FetchPlan
from layerscan.db.fetch import Fetcher, Validators
from layerscan.db.freshness import database_age, db_path, parse_duration  # noqa: F401  (re-exported)
from layerscan.db.lock import BuildLock
from layerscan.db.nvdapi import NvdLimits
from layerscan.db.store import STATE_PREFIX, Store
from layerscan.errors import DatabaseError, LayerscanError
from layerscan.progress import NULL_PROGRESS, Progress

DEFAULT_URLS = {source.key: source.default_url for source in UPDATE_SOURCES}  # each feed declares its own
SOURCES = tuple(DEFAULT_URLS)


@dataclass(frozen=True)
class UpdateOptions:
    cache_dir: Path
    sources: tuple[str, ...] = SOURCES
    ecosystems: tuple[str, ...] = DEFAULT_ECOSYSTEMS
    urls: Mapping[str, str] = field(default_factory=dict)
    alpine_branches: tuple[str, ...] = DEFAULT_ALPINE_BRANCHES
    eol_products: tuple[str, ...] = DEFAULT_EOL_PRODUCTS
    timeout: float = 300.0  # --timeout: deadline of a whole pull / feed download
    nvd_limits: NvdLimits = field(default_factory=NvdLimits)
    env: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))
    keep_schedule: bool = False  # a few sources fetched on demand: the database's next_update stays

    def url(self, source: str) -> str:
        env_key = f"LAYERSCAN_DB_{source.upper().replace('-', '_')}_URL"
        return (self.urls.get(source) or self.env.get(env_key) or DEFAULT_URLS[source]).rstrip("/")

    @property
    def db_path(self) -> Path:
        return db_path(self.cache_dir)

    @property
    def feed_dir(self) -> Path:
        return Path(self.cache_dir) / "db" / "feeds"


@dataclass(frozen=True)
class UpdateResult:
    changed: tuple[str, ...]  # source keys with new data
    failed: Mapping[str, str]  # source key -> why
    build: BuildResult | None  # None when nothing changed and no rebuild was needed


def _load_state(path: Path) -> dict[str, str]:
    try:
        with Store.open(path) as store:
            return dict(store.metadata()["state"])
    except DatabaseError:
        return {}


def _validators(state: Mapping[str, str]) -> dict[str, Validators]:
    prefix = STATE_PREFIX + "http:"
    return {k[len(prefix):]: Validators.decode(v) for k, v in state.items() if k.startswith(prefix)}


def _fetch_all(fetcher: Fetcher, opts: UpdateOptions, plan: FetchPlan, progress: Progress) -> None:
    steps = [step for source in UPDATE_SOURCES if source.key in opts.sources for step in source.steps(opts)]
    overall = progress.task(f"update database: {len(steps)} sources", len(steps))
    try:
        for key, fetch in steps:
            plan.attempted.append(key)
            fetch(fetcher, plan)
            overall.advance(1)
    finally:
        overall.close()


def _nothing_fetched_error(plan: FetchPlan, target: Path) -> DatabaseError:
    why = {**plan.stale, **plan.failed}
    first_key = plan.attempted[0]
    kept = f"; the existing database is kept{_age_suffix(target)}" if target.exists() else "; there is no database yet"
    return DatabaseError(
        f"database update failed: none of the {len(plan.attempted)} sources could be downloaded "
        f"(first: {first_key}: {why.get(first_key, '')[:160]}){kept}",
        hint="check the network, proxy (HTTPS_PROXY) or mirror URLs (LAYERSCAN_DB_<SOURCE>_URL); "
             "offline, build one with 'layerscan db import DIR'")


def _age_suffix(target: Path) -> str:
    try:
        age = database_age(target)
    except LayerscanError:
        return ""
    return f" ({age.days}d {age.seconds // 3600}h old)"


def update_database(opts: UpdateOptions, progress: Progress = NULL_PROGRESS, force: bool = False) -> UpdateResult:
    """Fetch what changed upstream and rebuild the database (skipped when nothing changed)."""
    unknown = set(opts.sources) - set(SOURCES)
    if unknown:
        raise LayerscanError(f"unknown database source(s): {', '.join(sorted(unknown))}",
                             hint=f"choose from {', '.join(SOURCES)}")
    target = opts.db_path
    with BuildLock(opts.feed_dir / "update"):  # one updater owns the feed cache at a time
        _remove_partial_downloads(opts.feed_dir)
        plan = FetchPlan(state=_load_state(target))
        fetcher = Fetcher(_validators(plan.state), opts.timeout, progress)
        _fetch_all(fetcher, opts, plan, progress)
        plan.state.update({f"{STATE_PREFIX}http:{url}": v.encode() for url, v in fetcher.validators.items()})
        if plan.nothing_fetched():
            # a refresh that fetched nothing is a failure; never replace (or create) a database from it
            raise _nothing_fetched_error(plan, target)
        if not plan.changed and target.exists() and not force and not _needs_rebuild(target, plan):
            return UpdateResult((), {**plan.stale, **plan.failed}, None)
        metadata = {**plan.state, "next_update": _next_update(opts, target)}
        result = build_database(target, plan.inputs, failed=plan.failed, metadata=metadata, progress=progress)
    return UpdateResult(tuple(dict.fromkeys(plan.changed)), {**plan.stale, **plan.failed}, result)


def _next_update(opts: UpdateOptions, target: Path) -> str:
    """A day from now; with ``keep_schedule``, the database's own when it has one."""
    if opts.keep_schedule and target.exists():
        try:
            with Store.open(target) as store:
                kept = str(store.metadata().get("next_update", ""))
        except DatabaseError:
            kept = ""
        if kept:
            return kept
    return format_utc(datetime.now(timezone.utc) + timedelta(hours=24))


def _remove_partial_downloads(feed_dir: Path) -> None:
    """Downloads of an updater that was killed (we hold the update lock: none is live)."""
    for partial in feed_dir.rglob(".*.part"):
        partial.unlink(missing_ok=True)


def _needs_rebuild(target: Path, plan: FetchPlan) -> bool:
    """A source we now have input for but the database lacks (e.g. a new --ecosystems entry)."""
    try:
        with Store.open(target) as store:
            present = set(store.metadata()["sources"])
    except DatabaseError:
        return True
    return any(c not in present for inp in plan.inputs for c in inp.covers)
