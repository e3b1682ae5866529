"""``layerscan version [-f json]`` (and ``--version``), shaped like ``trivy version``.

Plain: ``layerscan X`` and, when a database exists in the cache dir, a second
line with its build time and schema. JSON: ``{"Version", "VulnerabilityDB":
{"Version" (schema), "UpdatedAt" (built), "NextUpdate"?, "DownloadedAt"
(when the file was written here)}}``; ``VulnerabilityDB`` is omitted without a
database. An unreadable database is one warning line, not a failure.
"""

from __future__ import annotations

import datetime as dt
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from layerscan.cli.parser import PROG
from layerscan.errors import DatabaseError

FORMATS = ("table", "json")


@dataclass(frozen=True)
class DbInfo:
    schema: int
    updated_at: str
    next_update: str
    downloaded_at: str


def _rfc3339(timestamp: float) -> str:
    moment = dt.datetime.fromtimestamp(timestamp, dt.timezone.utc)
    return moment.isoformat(timespec="seconds").replace("+00:00", "Z")


def db_info(cache_dir: Path) -> DbInfo | None:
    """The database's metadata, None when there is none (DatabaseError when unreadable)."""
    from layerscan.db.store import Store
    from layerscan.db.freshness import db_path

    path = db_path(cache_dir)
    if not path.is_file():
        return None
    with Store.open(path) as store:
        meta = store.metadata()
    return DbInfo(schema=int(meta["schema_version"]), updated_at=str(meta.get("built_at", "")),
                  next_update=str(meta.get("next_update", "")), downloaded_at=_rfc3339(path.stat().st_mtime))


def version_json(version: str, info: DbInfo | None) -> dict[str, Any]:
    doc: dict[str, Any] = {"Version": version}
    if info is not None:
        db: dict[str, Any] = {"Version": info.schema, "UpdatedAt": info.updated_at}
        if info.next_update:
            db["NextUpdate"] = info.next_update
        db["DownloadedAt"] = info.downloaded_at
        doc["VulnerabilityDB"] = db
    return doc


def version_text(version: str, info: DbInfo | None) -> str:
    text = f"{PROG} {version}"
    if info is not None:
        text += f"\nVulnerability DB: updated {info.updated_at or 'at an unknown time'} (schema {info.schema})"
    return text


def run(cache_dir: Path, fmt: str, quiet: bool = False) -> int:
    import sqlite3

    from layerscan import __version__
    from layerscan.report.document import printable

    try:
        info = db_info(cache_dir)
    except (DatabaseError, OSError, sqlite3.Error, KeyError, ValueError) as exc:
        info = None
        if not quiet:
            print(f"{PROG}: warning: database not read: {printable(' '.join(str(exc).split()))}",
                  file=sys.stderr)
    if fmt == "json":
        print(json.dumps(version_json(__version__, info), indent=2))
    else:
        print(version_text(__version__, info))
    return 0
