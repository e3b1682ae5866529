"""Keep the vulnerability database fresh before a scan (Trivy's behaviour).

Unless ``--skip-db-update`` or ``--offline-scan`` is given, a scan that matches
vulnerabilities first updates the database when it is missing or past its
``next_update`` time: from the feeds, or from ``--db-repository`` (a prebuilt
database pushed with ``db push``). A failed update never breaks a scan that
still has a database: it warns and scans with the previous one.

Given the scanned SBOM (``--ecosystems auto``, ``db.needs``), only the sources it needs are
fetched: a first scan downloads those alone, a later scan whose SBOM needs a source the
database lacks fetches just that one and merges it in (on demand), a due refresh updates
what the database holds plus what this SBOM needs. A needed source still missing after
that (offline, or not downloadable) is named in a warning: the findings may be incomplete.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

from layerscan.errors import DatabaseError, LayerscanError
from layerscan.model import Sbom
from layerscan.progress import Progress
from layerscan.scan.config import DatabaseConfig
from layerscan.scan.vulns import NO_DATABASE_HINT


def _next_update(path: Path) -> str | None:
    """The database's ``next_update`` ("" when imported offline); None when missing or unreadable."""
    from layerscan.db.store import Store

    if not path.is_file():
        return None
    try:
        with Store.open(path) as store:
            return str(store.metadata().get("next_update", ""))
    except LayerscanError:
        return None  # unreadable or too old a schema: rebuild


def _due(path: Path, now: datetime) -> bool:
    nxt = _next_update(path)
    if nxt is None:
        return True
    try:
        return now >= datetime.strptime(nxt, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)
    except ValueError:
        return False  # imported offline (no schedule): leave it to the user


def _managed(path: Path) -> bool:
    """Built by ``db update`` (it has a schedule): sources may be fetched into it on demand.
    A database from ``db import`` holds what its user chose: it is left alone."""
    return bool(_next_update(path))


def _to_fetch(path: Path, needed: frozenset[str] | None, now: datetime) -> tuple[frozenset[str], bool] | None:
    """(source keys to update now, empty: every source; on demand) or None: nothing to do.
    On demand = the database is not due but lacks a needed source it never tried (one whose
    download failed waits for the next due refresh: a scan does not retry it every time)."""
    from layerscan.db.needs import held_sources

    due = _due(path, now)
    if needed is None:
        return (frozenset(), False) if due else None
    if due:
        return (needed | held_sources(path), False) if _managed(path) else (needed, False)
    missing = needed - held_sources(path, with_failed=True)
    return (missing, True) if missing and _managed(path) else None


def _warn_missing(path: Path, needed: frozenset[str], warn: Callable[[str], None]) -> tuple[str, ...]:
    """The needed sources a managed database still lacks, named in one warning."""
    from layerscan.db.needs import all_source_keys, held_sources, update_command

    if not _managed(path):
        return ()
    order = all_source_keys()
    missing = sorted(needed - held_sources(path), key=lambda k: (order.index(k) if k in order else len(order), k))
    if missing:
        warn(f"the vulnerability database has no data from {', '.join(missing)}, which this scan needs "
             "(offline or not downloadable): findings may be incomplete; "
             f"the next online scan fetches it, or run '{update_command(missing)}'")
    return tuple(missing)


def _warn_if_old(path: Path, max_age: str, warn: Callable[[str], None]) -> None:
    from layerscan.db.freshness import database_age, parse_duration

    if not path.is_file() or not max_age:
        return
    try:
        age, limit = database_age(path), parse_duration(max_age)
    except LayerscanError:
        return
    if age > limit:
        warn(f"the vulnerability database is {age.days}d {age.seconds // 3600}h old (more than {max_age}); "
             "run 'layerscan db update'")


def refresh_database(config: DatabaseConfig, progress: Progress, warn: Callable[[str], None],
                     sbom: Sbom | None = None) -> tuple[str, ...]:
    """Update a missing or due database (given ``sbom``: only the sources it needs, and a missing
    one on demand); a failed update is an error only when there is no database. Returns the
    source keys ``sbom`` needs that the database still lacks (warned about)."""
    from layerscan.db.freshness import db_path
    from layerscan.db.needs import needed_sources

    path = db_path(config.cache_dir)
    needed = needed_sources(sbom) if sbom is not None and not config.repository else None
    todo = None if config.skip_update else _to_fetch(path, needed, datetime.now(timezone.utc))
    if todo is not None:
        try:
            _update(config, progress, warn, *todo)
        except LayerscanError as exc:
            if not path.is_file():
                raise DatabaseError(str(exc), hint=NO_DATABASE_HINT) from None
            warn(f"database update failed ({exc}); scanning with the existing database")
    missing = _warn_missing(path, needed, warn) if needed is not None else ()
    _warn_if_old(path, config.max_age, warn)
    return missing


def _update(config: DatabaseConfig, progress: Progress, warn: Callable[[str], None], keys: frozenset[str],
            on_demand: bool) -> None:
    """From --db-repository (a prebuilt database) when given, else ``keys`` (empty: all) from the feeds;
    ``on_demand`` keeps the database's refresh schedule."""
    if config.repository:
        from layerscan.db.distribute import pull_database

        pull_database(config.repository, config.cache_dir, timeout=config.timeout, insecure=config.insecure)
        return
    from layerscan.db.needs import all_source_keys, select, summary
    from layerscan.db.update import UpdateOptions, update_database

    opts = UpdateOptions(cache_dir=config.cache_dir, timeout=config.timeout, keep_schedule=on_demand)
    chosen = select(keys) if keys else None
    if chosen is not None:
        opts = dataclasses.replace(opts, sources=chosen.sources, ecosystems=chosen.ecosystems)
    failed = update_database(opts, progress).failed
    if failed:
        key, why = sorted(failed.items())[0]
        warn(f"database update: {len(failed)} source(s) not updated, their previous data "
             f"is kept (first: {key}: {why[:160]})")
    if chosen is not None:
        fetched = [k for k in chosen.keys if k not in failed]
        warn(f"database: fetched {summary(fetched, len(all_source_keys()))} "
             "(--ecosystems auto: the others on demand)")
