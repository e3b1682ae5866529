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
from typing import Any, Callable, Mapping

from layerscan.cli.vulnscan import NO_DATABASE_HINT
from layerscan.errors import DatabaseError, LayerscanError
from layerscan.progress import Progress


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
    from layerscan.db.update import database_age, parse_duration

    if not path.is_file() or not max_age:
        return
    try:
        age, limit = database_age(path), parse_duration(max_age)
    except LayerscanError:
        return
    if age > limit:
        warn(f"the vulnerability database is {age.days}d {age.seconds // 3600}h old (more than {max_age}); "
             "run 'layerscan db update'")


def refresh_database(opts: Mapping[str, Any], progress: Progress, warn: Callable[[str], None]) -> None:
    """Update a missing or due database; a failed update is an error only when there is no database."""
    from layerscan.db.update import UpdateOptions, db_path, update_database

    cache = Path(opts["cache_dir"])
    path = db_path(cache)
    if not (opts["skip_db_update"] or opts["offline_scan"]) and _due(path, datetime.now(timezone.utc)):
        try:
            if opts.get("db_repository"):
                from layerscan.db.distribute import pull_database

                pull_database(opts["db_repository"], cache, timeout=float(opts.get("timeout") or 60),
                              insecure=bool(opts.get("insecure")))
            else:
                result = update_database(UpdateOptions(cache_dir=cache, timeout=float(opts.get("timeout") or 60)),
                                         progress)
                if result.failed:
                    key, why = sorted(result.failed.items())[0]
                    warn(f"database update: {len(result.failed)} source(s) not updated, their previous data "
                         f"is kept (first: {key}: {why[:160]})")
        except LayerscanError as exc:
            if not path.is_file():
                raise DatabaseError(str(exc), hint=NO_DATABASE_HINT) from None
            warn(f"database update failed ({exc}); scanning with the existing database")
    _warn_if_old(path, str(opts.get("db_max_age") or ""), warn)
