"""Where the database lives under a cache root, and how old it is.

Kept apart from ``db.update`` (fetchers, feed parsers, the builder) because every
scan needs these and nothing else of the update path: a scan that skips the
update imports only this and ``db.store``. ``db.update`` re-exports them.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Callable

from layerscan.db.schema import DB_FILENAME
from layerscan.db.store import Store
from layerscan.errors import DatabaseError, LayerscanError


def db_path(cache_dir: Path) -> Path:
    return Path(cache_dir) / "db" / DB_FILENAME


def database_age(path: Path, now: Callable[[], datetime] = lambda: datetime.now(timezone.utc)) -> timedelta:
    with Store.open(path) as store:
        built = store.metadata().get("built_at", "")
    try:
        return now() - datetime.strptime(built, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)
    except ValueError as exc:
        raise DatabaseError(f"{path}: no valid built_at in metadata") from exc


def parse_duration(text: str) -> timedelta:
    """'7d', '12h', '30m', '1w' -> timedelta (Trivy-style --db-max-age)."""
    units = {"w": "weeks", "d": "days", "h": "hours", "m": "minutes", "s": "seconds"}
    text = text.strip().lower()
    if len(text) < 2 or text[-1] not in units or not text[:-1].isdigit():
        raise LayerscanError(f"invalid duration {text!r}", hint="use a number and a unit: 7d, 12h, 30m")
    return timedelta(**{units[text[-1]]: int(text[:-1])})
