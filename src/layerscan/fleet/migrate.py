"""Plain versioned SQL migrations: ``fleet/schema/NNN_name.sql`` applied in order, each in its own
transaction, recorded in ``schema_version``. Concurrent migrators (a server and its workers starting
together) serialise on an advisory lock, so each file runs once."""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import resources
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import psycopg

_NAME = re.compile(r"^(\d{3})_[a-z0-9_]+\.sql$")
MIGRATION_LOCK = 0x6C617973  # pg_advisory_xact_lock key shared by every layerscan migrator


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str


def migrations() -> list[Migration]:
    """The shipped migrations, in version order."""
    found = []
    for entry in resources.files("layerscan.fleet").joinpath("schema").iterdir():
        match = _NAME.match(entry.name)
        if match:
            found.append(Migration(int(match.group(1)), entry.name, entry.read_text(encoding="utf-8")))
    return sorted(found, key=lambda m: m.version)


def current_version(conn: psycopg.Connection) -> int:
    row = conn.execute("SELECT to_regclass('schema_version') IS NOT NULL").fetchone()
    if not row or not row[0]:
        return 0
    top = conn.execute("SELECT coalesce(max(version), 0) FROM schema_version").fetchone()
    return int(top[0]) if top else 0


def migrate(conn: psycopg.Connection) -> list[str]:
    """Apply the migrations the database lacks; the names applied (empty when up to date)."""
    applied = []
    for migration in migrations():
        with conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK,))
            conn.execute("CREATE TABLE IF NOT EXISTS schema_version (version integer PRIMARY KEY,"
                         " name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())")
            if current_version(conn) >= migration.version:
                continue
            conn.execute(migration.sql.encode())
            conn.execute("INSERT INTO schema_version (version, name) VALUES (%s, %s)",
                         (migration.version, migration.name))
            applied.append(migration.name)
    return applied
