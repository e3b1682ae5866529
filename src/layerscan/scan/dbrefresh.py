"""Keep the vulnerability database fresh before a scan (Trivy's behaviour).

Unless ``--skip-db-update`` or ``--offline-scan`` is given, a scan that matches
vulnerabilities first updates the database when it is missing or past its
``next_update`` time: from the feeds, or from ``--db-repository`` (a prebuilt
database pushed with ``db push``). A failed update never breaks a scan that
still has a database: it warns and scans with the previous one.
"""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

from layerscan.errors import DatabaseError, LayerscanError
from layerscan.progress import Progress
from layerscan.scan.config import DatabaseConfig
from layerscan.scan.vulns import NO_DATABASE_HINT


def _due(path: Path, now: datetime) -> bool:
    from layerscan.db.store import Store

    if not path.is_file():
        return True
    try:
        with Store.open(path) as store:
            nxt = str(store.metadata().get("next_update", ""))
    except LayerscanError:
        return True  # unreadable or too old a schema: rebuild
    try:
        return now >= datetime.strptime(nxt, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)
    except ValueError:
        return False  # imported offline (no schedule): leave it to the user


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


def refresh_database(config: DatabaseConfig, progress: Progress, warn: Callable[[str], None]) -> None:
    """Update a missing or due database; a failed update is an error only when there is no database."""
    from layerscan.db.freshness import db_path

    path = db_path(config.cache_dir)
    if not config.skip_update and _due(path, datetime.now(timezone.utc)):
        try:
            _update(config, progress, warn)
        except LayerscanError as exc:
            if not path.is_file():
                raise DatabaseError(str(exc), hint=NO_DATABASE_HINT) from None
            warn(f"database update failed ({exc}); scanning with the existing database")
    _warn_if_old(path, config.max_age, warn)


def _update(config: DatabaseConfig, progress: Progress, warn: Callable[[str], None]) -> None:
    """From --db-repository (a prebuilt database) when given, else from the feeds."""
    if config.repository:
        from layerscan.db.distribute import pull_database

        pull_database(config.repository, config.cache_dir, timeout=config.timeout, insecure=config.insecure)
        return
    from layerscan.db.update import UpdateOptions, update_database

    result = update_database(UpdateOptions(cache_dir=config.cache_dir, timeout=config.timeout), progress)
    if result.failed:
        key, why = sorted(result.failed.items())[0]
        warn(f"database update: {len(result.failed)} source(s) not updated, their previous data "
             f"is kept (first: {key}: {why[:160]})")
