"""SQLite schema of the vulnerability database (DESIGN.md §3).

``PRAGMA user_version`` holds SCHEMA_VERSION. Every advisory row carries the
*source key* it came from ("osv:PyPI", "debian", "alpine", "nvd", ...), so an
update can replace one source and keep the others. Indexes are created after
the bulk load (``INDEXES``), except the unique key of ``vulnerabilities`` that
``INSERT OR IGNORE`` needs during the load.

Schema 2 added ``base_index`` (the base-image index: the chain ID of every indexed image's
layer stack -> repo, tag, digest, platform, first/last seen; one source key per repository,
``index:REPO``). Schema 1 files are reused by the next build (the tables they have are
unchanged); a scan refuses them until ``db update``/``db import`` rebuilds the file.

``vulnerabilities`` is a rowid table with a unique index on (id, source) (files built before
were ``WITHOUT ROWID`` with that primary key: the same columns and queries, so either layout
is read and copied alike). Its rows carry the texts (~700 B at real scale), and a
``WITHOUT ROWID`` b-tree keeps whole rows in its interior pages too: 1.30 GB for 0.69 GB of
rows at real scale, 0.82 GB as a rowid table (benchmarks/README.md, "Real-scale database").
"""

from __future__ import annotations

import json
import sqlite3
from typing import Any, Callable, Sequence

from layerscan.model import CVSS, Range, Severity

SCHEMA_VERSION = 2
REUSABLE_VERSIONS = frozenset({1, 2})  # previous files a build may copy sources from
DB_FILENAME = "layerscan.db"

TABLES = """
CREATE TABLE metadata (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE sources (
    name TEXT PRIMARY KEY, feed TEXT NOT NULL, status TEXT NOT NULL, message TEXT NOT NULL DEFAULT '',
    records INTEGER NOT NULL DEFAULT 0, skipped INTEGER NOT NULL DEFAULT 0, rows INTEGER NOT NULL DEFAULT 0,
    data_date TEXT NOT NULL DEFAULT '', updated_at TEXT NOT NULL DEFAULT ''
) WITHOUT ROWID;
CREATE TABLE vulnerabilities (
    id TEXT NOT NULL, source TEXT NOT NULL, summary TEXT NOT NULL, details TEXT NOT NULL,
    published TEXT NOT NULL, modified TEXT NOT NULL, severities TEXT NOT NULL, cvss TEXT NOT NULL,
    cwes TEXT NOT NULL, refs TEXT NOT NULL, related TEXT NOT NULL
);
CREATE UNIQUE INDEX vulnerabilities_key ON vulnerabilities (id, source);
CREATE TABLE aliases (id TEXT NOT NULL, alias TEXT NOT NULL, source TEXT NOT NULL);
CREATE TABLE groups (id TEXT PRIMARY KEY, group_id TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE affected (
    namespace TEXT NOT NULL, name_key TEXT NOT NULL, package TEXT NOT NULL, vuln_id TEXT NOT NULL,
    primary_id TEXT NOT NULL, source TEXT NOT NULL, ranges TEXT NOT NULL, versions TEXT NOT NULL, status TEXT NOT NULL,
    fixed_version TEXT NOT NULL, severity TEXT NOT NULL, urgency TEXT NOT NULL, purl TEXT NOT NULL
);
CREATE TABLE kev (
    cve TEXT PRIMARY KEY, vendor TEXT, product TEXT, name TEXT, date_added TEXT, due_date TEXT,
    ransomware TEXT, notes TEXT
) WITHOUT ROWID;
CREATE TABLE epss (cve TEXT PRIMARY KEY, score REAL NOT NULL, percentile REAL NOT NULL, date TEXT) WITHOUT ROWID;
CREATE TABLE eol (
    product TEXT NOT NULL, cycle TEXT NOT NULL, codename TEXT, release_date TEXT, eol TEXT, eoes TEXT,
    latest TEXT, latest_date TEXT, lts INTEGER, PRIMARY KEY (product, cycle)
) WITHOUT ROWID;
CREATE TABLE base_index (
    chain_id TEXT NOT NULL, layers INTEGER NOT NULL, repo TEXT NOT NULL, tag TEXT NOT NULL, digest TEXT NOT NULL,
    manifest TEXT NOT NULL, platform TEXT NOT NULL, first_seen TEXT NOT NULL, last_seen TEXT NOT NULL,
    current INTEGER NOT NULL, source TEXT NOT NULL, PRIMARY KEY (repo, tag, digest, platform)
) WITHOUT ROWID;
"""

INDEXES = """
CREATE INDEX affected_lookup ON affected (namespace, name_key);
CREATE INDEX affected_source ON affected (source);
CREATE INDEX affected_vuln ON affected (vuln_id);
CREATE INDEX aliases_id ON aliases (id);
CREATE INDEX aliases_alias ON aliases (alias);
CREATE INDEX groups_group ON groups (group_id);
CREATE INDEX vulnerabilities_source ON vulnerabilities (source);
CREATE INDEX base_index_chain ON base_index (chain_id);
CREATE INDEX base_index_source ON base_index (source);
"""

# tables whose rows carry a source column (replaced per source key)
SOURCED_TABLES = ("vulnerabilities", "aliases", "affected", "base_index")
INDEX_SOURCE_PREFIX = "index:"  # base-index sources: "index:REPO", rows in base_index
# tables that belong to one side feed as a whole
SIDE_TABLES = {"kev": "kev", "epss": "epss", "eol": "eol"}


def counts_affected_rows(source: str) -> bool:
    """Does this source's ``rows`` count rows of the affected table (checked after a build)?"""
    return source not in SIDE_TABLES and not source.startswith(INDEX_SOURCE_PREFIX)


def create(conn: sqlite3.Connection) -> None:
    conn.executescript(TABLES)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")


def create_indexes(conn: sqlite3.Connection) -> None:
    """Inside the caller's transaction (executescript would commit it)."""
    for statement in INDEXES.split(";"):
        if statement.strip():
            conn.execute(statement)


_ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)
_FAST: list[Callable[[Any], bytes] | None] = []  # orjson.dumps once looked up (lazily: scans rarely encode)


def _fast_dumps() -> Callable[[Any], bytes] | None:
    if not _FAST:
        try:  # orjson (the [fast] extra): the same compact text, several times faster per row
            import orjson

            _FAST.append(orjson.dumps)
        except ImportError:
            _FAST.append(None)
    return _FAST[0]


def _compact(value: list[Any]) -> str:
    """Compact JSON of a column's list (``[]`` for most rows: no encoder at all)."""
    if not value:
        return "[]"
    dumps = _fast_dumps()
    if dumps is not None:
        try:
            return dumps(value).decode()
        except TypeError:  # a lone surrogate from hostile input: the stdlib encoder keeps it
            pass
    return _ENCODER.encode(value)


def encode_ranges(ranges: Sequence[Range]) -> str:
    return _compact([[r.type, [list(e) for e in r.events]] for r in ranges])


def decode_ranges(raw: str) -> tuple[Range, ...]:
    return tuple([Range(t, tuple(map(tuple, events))) for t, events in json.loads(raw)])


def encode_strings(values: Sequence[str]) -> str:
    return _compact(list(values))


def decode_strings(raw: str) -> tuple[str, ...]:
    return tuple(json.loads(raw)) if raw and raw != "[]" else ()


def encode_severities(values: Sequence[Severity]) -> str:
    return _compact([[s.source, s.level] for s in values])


def decode_severities(raw: str) -> tuple[Severity, ...]:
    if raw == "[]":  # most records: skip the decoder
        return ()
    return tuple(Severity(source=s, level=lv) for s, lv in json.loads(raw))


def encode_cvss(values: Sequence[CVSS]) -> str:
    return _compact([[c.source, c.version, c.vector, c.score] for c in values])


def decode_cvss(raw: str) -> tuple[CVSS, ...]:
    if raw == "[]":  # most records: skip the decoder
        return ()
    return tuple(CVSS(source=s, version=v, vector=vec, score=sc) for s, v, vec, sc in json.loads(raw))
