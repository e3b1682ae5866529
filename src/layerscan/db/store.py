"""Read-only queries on the vulnerability database (DESIGN.md §3).

Contract used by match/ and report/:

    store = Store.open(path)                  # read-only; DatabaseError if missing/invalid/too new
    store.affected(namespace, package_name)   # -> list[AffectedRow]  (PyPI names compared PEP 503-normalised)
    store.advisory(vuln_id)                   # -> Advisory | None  (merged: every source's record, NVD CVSS,
                                              #    CWE, aliases)
    store.group_advisory(vuln_id)             # -> Advisory | None  (merged: every record of the id's alias group)
    store.aliases(vuln_id)                    # -> tuple[str, ...]  (the group's ids and direct aliases, not vuln_id)
    store.primary_id(vuln_id)                 # -> str  (the CVE of the merged group when there is one)
    store.kev(cve_id)                         # -> bool ; store.kev_entry(cve_id) -> KevEntry | None
    store.epss(cve_id)                        # -> (score, percentile) | None
    store.eol(product, cycle)                 # -> EolInfo | None   (product: "debian", "python", "alpine-linux", ...)
    store.metadata()                          # -> dict (schema_version, built_at, next_update,
                                              #    sources: {key: {...}}, state: {update bookkeeping})
    store.namespaces()                        # -> set[str]
    store.has_namespace(namespace)            # -> bool (any advisory row in it; one indexed lookup)
    store.key_digests()                       # -> Iterator[(namespace, name_key, sha256)]: one content hash
                                              #    per key's advisory rows (fleet re-match diffs them)
    store.index_hits(chain_ids)               # -> list[IndexEntry]: base-index images whose whole stack is
                                              #    one of chain_ids
    store.index_entries(repo="")              # -> list[IndexEntry]: the base index (one repository's, or all)

The file is opened with ``mode=ro``: a builder's atomic rename never disturbs
an open store (it keeps reading the inode it opened).
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import sqlite3
from pathlib import Path
from typing import Any, Iterable, Iterator

from layerscan.db import schema
from layerscan.db.namespaces import name_key
from layerscan.db.records import AffectedRow, EolInfo, IndexEntry, KevEntry
from layerscan.errors import DatabaseError
from layerscan.model import Advisory, Affected

log = logging.getLogger(__name__)

_AFFECTED_COLUMNS = ("vuln_id, primary_id, source, namespace, package, ranges, versions, status, fixed_version,"
                     " severity, urgency, purl")
_AFFECTED_SQL = f"SELECT {_AFFECTED_COLUMNS} FROM affected WHERE namespace = ? AND name_key = ?"
_INDEX_COLUMNS = "chain_id, layers, repo, tag, digest, manifest, platform, first_seen, last_seen, current"
STATE_PREFIX = "state:"  # metadata keys kept for ``db update`` (HTTP validators, OSV sync points)
_VULN_SQL = ("SELECT source, summary, details, published, modified, severities, cvss, cwes, refs, related"
             " FROM vulnerabilities WHERE id = ?")


def _row_to_affected(row: tuple[Any, ...]) -> AffectedRow:
    vuln_id, primary, source, namespace, package, ranges, versions, status, fixed, severity, urgency, purl = row
    return AffectedRow(
        vuln_id=vuln_id, primary_id=primary, source=source,
        affected=Affected(
            namespace=namespace, package=package, ranges=schema.decode_ranges(ranges),
            versions=schema.decode_strings(versions), status=status, fixed_version=fixed,
            severity=severity, purl=purl, urgency=urgency,
        ),
    )


def _merge_unique(values: Iterable[Any]) -> tuple[Any, ...]:
    return tuple(dict.fromkeys(values))


class Store:
    """A read-only view of one database file. Not shared across threads."""

    def __init__(self, conn: sqlite3.Connection, path: Path) -> None:
        self._conn = conn
        self.path = path

    @classmethod
    def open(cls, path: Path | str) -> "Store":
        path = Path(path)
        if not path.is_file():
            raise DatabaseError(f"vulnerability database not found: {path}")
        try:
            conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, check_same_thread=False)
            conn.execute("PRAGMA query_only = ON")
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            conn.execute("SELECT 1 FROM metadata LIMIT 1").fetchall()
        except sqlite3.DatabaseError as exc:
            raise DatabaseError(f"vulnerability database {path} is not readable: {exc}") from exc
        if version > schema.SCHEMA_VERSION:
            conn.close()
            raise DatabaseError(f"vulnerability database {path} has schema {version}, newer than this layerscan "
                                f"({schema.SCHEMA_VERSION})", hint="upgrade layerscan, or run 'layerscan db update'")
        if version < schema.SCHEMA_VERSION:
            conn.close()
            raise DatabaseError(f"vulnerability database {path} has old schema {version}",
                                hint="run 'layerscan db update' (or 'db import') to rebuild it")
        log.debug("opened database %s (schema %d, %d bytes)", path, version, path.stat().st_size)
        return cls(conn, path)

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> "Store":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- lookups ------------------------------------------------------------

    def affected(self, namespace: str, package_name: str) -> list[AffectedRow]:
        rows = self._conn.execute(_AFFECTED_SQL, (namespace, name_key(namespace, package_name))).fetchall()
        log.debug("query affected %s %s: %d rows", namespace, package_name, len(rows))
        return [_row_to_affected(r) for r in rows]

    def key_digests(self) -> Iterator[tuple[str, str, bytes]]:
        """(namespace, name_key, sha256 of that key's affected rows) for every key, in key order."""
        cur = self._conn.execute(f"SELECT namespace, name_key, {_AFFECTED_COLUMNS}"
                                 " FROM affected ORDER BY 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14")
        key: tuple[str, str] | None = None
        digest = hashlib.sha256()
        for row in cur:
            if (row[0], row[1]) != key:
                if key is not None:
                    yield key[0], key[1], digest.digest()
                key, digest = (row[0], row[1]), hashlib.sha256()
            digest.update(repr(row[2:]).encode())
        if key is not None:
            yield key[0], key[1], digest.digest()

    def primary_id(self, vuln_id: str) -> str:
        row = self._conn.execute("SELECT group_id FROM groups WHERE id = ?", (vuln_id,)).fetchone()
        return row[0] if row else vuln_id

    def aliases(self, vuln_id: str) -> tuple[str, ...]:
        group = self.primary_id(vuln_id)
        members = [r[0] for r in self._conn.execute("SELECT id FROM groups WHERE group_id = ?", (group,))]
        direct = [r[0] for r in self._conn.execute(
            "SELECT alias FROM aliases WHERE id = ? UNION SELECT id FROM aliases WHERE alias = ?",
            (vuln_id, vuln_id))]
        ids = sorted(set(members) | set(direct) | ({group} if group != vuln_id else set()))
        return tuple(i for i in ids if i != vuln_id)

    def advisory(self, vuln_id: str) -> Advisory | None:
        """Every source's record for ``vuln_id`` merged (or, when it has none, those of
        its alias group); NVD-only CVEs give details only. No affected rows (use ``affected``)."""
        rows = self._records(vuln_id) or self._records(*self._group_members(vuln_id))
        return self._merged(vuln_id, rows)

    def group_advisory(self, vuln_id: str) -> Advisory | None:
        """Every record of ``vuln_id``'s alias group merged: its own and those of the ids linked
        to its CVE (GHSA, Bitnami, NVD, OSV...), whatever product they are for. A bundle id (a
        DSA naming several CVEs) is not a member, so its records never rate one CVE."""
        return self._merged(vuln_id, self._records(vuln_id, *self._group_members(vuln_id)))

    def _group_members(self, vuln_id: str) -> list[str]:
        group = self.primary_id(vuln_id)
        return [r[0] for r in self._conn.execute("SELECT id FROM groups WHERE group_id = ? ORDER BY id", (group,))]

    def _records(self, *ids: str) -> list[tuple[Any, ...]]:
        return [row for i in dict.fromkeys(ids) for row in self._conn.execute(_VULN_SQL, (i,)).fetchall()]

    def _merged(self, vuln_id: str, rows: list[tuple[Any, ...]]) -> Advisory | None:
        if not rows:
            return None
        rows.sort(key=lambda r: r[0] == "nvd")  # feed records first, NVD fills the gaps
        first = lambda idx: next((r[idx] for r in rows if r[idx]), "")  # noqa: E731
        return Advisory(
            id=vuln_id,
            source=",".join(_merge_unique(r[0] for r in rows)),
            aliases=self.aliases(vuln_id),
            summary=first(1),
            details=first(2),
            published=first(3), modified=max((r[4] for r in rows), default=""),
            severities=_merge_unique(s for r in rows for s in schema.decode_severities(r[5])),
            cvss=_merge_unique(c for r in rows for c in schema.decode_cvss(r[6])),
            cwes=_merge_unique(c for r in rows for c in schema.decode_strings(r[7])),
            references=_merge_unique(u for r in rows for u in schema.decode_strings(r[8])),
            related=_merge_unique(u for r in rows for u in schema.decode_strings(r[9])),
        )

    def kev(self, cve_id: str) -> bool:
        return self._conn.execute("SELECT 1 FROM kev WHERE cve = ?", (cve_id,)).fetchone() is not None

    def kev_entry(self, cve_id: str) -> KevEntry | None:
        row = self._conn.execute("SELECT * FROM kev WHERE cve = ?", (cve_id,)).fetchone()
        return KevEntry(*row) if row else None

    def epss(self, cve_id: str) -> tuple[float, float] | None:
        row = self._conn.execute("SELECT score, percentile FROM epss WHERE cve = ?", (cve_id,)).fetchone()
        return (row[0], row[1]) if row else None

    def eol(self, product: str, cycle: str) -> EolInfo | None:
        row = self._conn.execute("SELECT * FROM eol WHERE product = ? AND cycle = ?", (product, cycle)).fetchone()
        if row is None:
            return None
        return _eol_info(row)

    def eol_cycles(self, product: str) -> list[EolInfo]:
        rows = self._conn.execute("SELECT * FROM eol WHERE product = ?", (product,)).fetchall()
        return [_eol_info(r) for r in rows]

    def metadata(self) -> dict[str, Any]:
        raw = dict(self._conn.execute("SELECT key, value FROM metadata").fetchall())
        meta: dict[str, Any] = {k: v for k, v in raw.items() if not k.startswith(STATE_PREFIX)}
        meta["state"] = {k: v for k, v in raw.items() if k.startswith(STATE_PREFIX)}  # update bookkeeping
        meta["schema_version"] = int(meta.get("schema_version", 0))
        cols = ("feed", "status", "message", "records", "skipped", "rows", "data_date", "updated_at")
        meta["sources"] = {
            r[0]: dict(zip(cols, r[1:]))
            for r in self._conn.execute(f"SELECT name, {', '.join(cols)} FROM sources ORDER BY name")
        }
        return meta

    def index_hits(self, chain_ids: Iterable[str]) -> list[IndexEntry]:
        wanted = list(dict.fromkeys(chain_ids))
        rows: list[tuple[Any, ...]] = []
        for start in range(0, len(wanted), 500):  # SQLite's bound-parameter limit
            part = wanted[start:start + 500]
            rows += self._conn.execute(f"SELECT {_INDEX_COLUMNS} FROM base_index WHERE chain_id IN "
                                       f"({','.join('?' * len(part))})", part).fetchall()
        return [_index_entry(r) for r in rows]

    def index_entries(self, repo: str = "") -> list[IndexEntry]:
        where, args = ("WHERE repo = ?", (repo,)) if repo else ("", ())
        return [_index_entry(r) for r in self._conn.execute(
            f"SELECT {_INDEX_COLUMNS} FROM base_index {where} ORDER BY repo, tag, first_seen, platform", args)]

    def namespaces(self) -> set[str]:
        return {r[0] for r in self._conn.execute("SELECT DISTINCT namespace FROM affected")}

    def has_namespace(self, namespace: str) -> bool:
        return self._conn.execute("SELECT 1 FROM affected WHERE namespace = ? LIMIT 1",
                                  (namespace,)).fetchone() is not None


def _eol_info(row: tuple[Any, ...]) -> EolInfo:
    """An eol table row (columns in EolInfo's field order, lts stored as 0/1)."""
    values = dict(zip((f.name for f in dataclasses.fields(EolInfo)), row))
    values["lts"] = bool(values.get("lts"))
    return EolInfo(**values)


def _index_entry(row: tuple[Any, ...]) -> IndexEntry:
    return IndexEntry(*row[:9], current=bool(row[9]))
