"""Read-only queries on the vulnerability database (DESIGN.md §3).

Contract used by match/ and report/:

    store = Store.open(path)                  # read-only; DatabaseError if missing/invalid/too new
    store.affected(namespace, package_name)   # -> list[AffectedRow]  (PyPI names compared PEP 503-normalised)
    store.affected_many(namespace, names)     # -> {name: list[AffectedRow]}: ``affected`` for a name set, one
                                              #    query per 500 names (a scan: one per namespace)
    store.advisory(vuln_id)                   # -> Advisory | None  (merged: every source's record, NVD CVSS,
                                              #    CWE, aliases)
    store.advisory_batch(vuln_ids)            # -> AdvisoryBatch: .advisory(id) / .group_advisory(id) /
                                              #    .group_ratings(id) for an id set, from a few queries per 500
                                              #    ids (each row decoded once; group-only members' ratings only)
    store.group_advisory(vuln_id)             # -> Advisory | None  (merged: every record of the id's alias group)
    store.aliases(vuln_id)                    # -> tuple[str, ...]  (the group's ids and direct aliases, not vuln_id)
    store.primary_id(vuln_id)                 # -> str  (the CVE of the merged group when there is one)
    store.kev(cve_id)                         # -> bool ; store.kev_entry(cve_id) -> KevEntry | None
    store.epss(cve_id)                        # -> (score, percentile) | None
    store.kev_many(cve_ids) / epss_many(cve_ids)  # -> set of listed CVEs / {cve: (score, percentile)}
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
from itertools import chain
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

from layerscan.db import schema
from layerscan.db.namespaces import name_key
from layerscan.db.records import AffectedRow, EolInfo, IndexEntry, KevEntry
from layerscan.errors import DatabaseError
from layerscan.model import Advisory, Affected

log = logging.getLogger(__name__)

_AFFECTED_COLUMNS = ("vuln_id, primary_id, source, namespace, package, ranges, versions, status, fixed_version,"
                     " severity, urgency, purl")
# rows in index order: (name_key, rowid), as a one-key lookup returns them
_AFFECTED_MANY_SQL = (f"SELECT name_key, {_AFFECTED_COLUMNS} FROM affected WHERE namespace = ? AND name_key IN ({{}})"
                      " ORDER BY name_key, rowid")
_INDEX_COLUMNS = "chain_id, layers, repo, tag, digest, manifest, platform, first_seen, last_seen, current"
STATE_PREFIX = "state:"  # metadata keys kept for ``db update`` (HTTP validators, OSV sync points)
# a record's rows in primary-key order (id, source), as a one-id lookup returns them
_VULN_MANY_SQL = ("SELECT id, source, summary, details, published, modified, severities, cvss, cwes, refs, related"
                  " FROM vulnerabilities WHERE id IN ({}) ORDER BY id, source")
# the columns that rate a CVE (``AdvisoryBatch.group_ratings``): what a group-only member is read for
_RATINGS_MANY_SQL = "SELECT id, source, severities, cvss FROM vulnerabilities WHERE id IN ({}) ORDER BY id, source"
IN_CHUNK = 500  # values per ``IN (...)`` query: well under SQLite's bound-parameter limit (999 before 3.32)


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


def _merge_columns(rows: list[tuple[Any, ...]], column: int) -> tuple[Any, ...]:
    """The values of a decoded list column over ``rows``, first occurrence first."""
    return tuple(dict.fromkeys(chain.from_iterable(r[column] for r in rows)))


@dataclasses.dataclass(frozen=True)
class _Links:
    """The alias structure around a set of ids, read in batches (``Store._links``)."""

    primary: dict[str, str]  # id -> its group's id (itself when it is in no group)
    members: dict[str, tuple[str, ...]]  # group id -> member ids, sorted
    direct: dict[str, set[str]]  # id -> ids it names as aliases or that name it

    def group_members(self, vuln_id: str) -> tuple[str, ...]:
        return self.members.get(self.primary.get(vuln_id, vuln_id), ())

    def aliases(self, vuln_id: str) -> tuple[str, ...]:
        """The group's ids and the direct aliases, sorted, without ``vuln_id``."""
        group = self.primary.get(vuln_id, vuln_id)
        ids = set(self.members.get(group, ())) | self.direct.get(vuln_id, set()) | {group}
        return tuple(sorted(ids - {vuln_id}))


def _decoded(row: tuple[Any, ...]) -> tuple[Any, ...]:
    """A vulnerabilities row (source, summary, details, published, modified, then the JSON
    columns severities, cvss, cwes, refs, related) with its JSON columns decoded."""
    return (*row[:5], schema.decode_severities(row[5]), schema.decode_cvss(row[6]), schema.decode_strings(row[7]),
            schema.decode_strings(row[8]), schema.decode_strings(row[9]))


def _merged(vuln_id: str, rows: list[tuple[Any, ...]], aliases: tuple[str, ...]) -> Advisory | None:
    """One Advisory from decoded rows: feed records first, NVD fills the gaps."""
    if not rows:
        return None
    rows = sorted(rows, key=lambda r: r[0] == "nvd")
    first = lambda idx: next((r[idx] for r in rows if r[idx]), "")  # noqa: E731
    return Advisory(
        id=vuln_id,
        source=",".join(_merge_unique(r[0] for r in rows)),
        aliases=aliases,
        summary=first(1),
        details=first(2),
        published=first(3), modified=max((r[4] for r in rows), default=""),
        severities=_merge_columns(rows, 5),
        cvss=_merge_columns(rows, 6),
        cwes=_merge_columns(rows, 7),
        references=_merge_columns(rows, 8),
        related=_merge_columns(rows, 9),
    )


_Rows = dict[str, list[tuple[Any, ...]]]


def _rated(vuln_id: str, rows: list[tuple[Any, ...]], aliases: tuple[str, ...]) -> Advisory | None:
    """``_merged`` of (source, severities, cvss) rows: the same sources, severities and CVSS, nothing else."""
    if not rows:
        return None
    rows = sorted(rows, key=lambda r: r[0] == "nvd")
    return Advisory(id=vuln_id, source=",".join(_merge_unique(r[0] for r in rows)), aliases=aliases,
                    severities=_merge_columns(rows, 1), cvss=_merge_columns(rows, 2))


class AdvisoryBatch:
    """The records of a set of ids and of their alias groups' members, read at once
    (``Store.advisory_batch``); merges them as ``Store.advisory``/``group_advisory`` do.
    The asked ids' records are read whole; a member only the group names is read for its
    ratings (source, severities, CVSS: ``group_ratings``) and whole only when
    ``group_advisory`` needs it (``load``). A merge is made once per id and set of records
    (a CVE whose group adds no records gives the same object for both)."""

    def __init__(self, links: _Links, records: _Rows, ratings: _Rows, load: Callable[[Iterable[str]], _Rows]) -> None:
        self._links = links
        self._records = records  # id -> its decoded rows (``_decoded``), for the ids read whole
        self._ratings = ratings  # id -> its (source, severities, cvss) rows, for every id of the batch
        self._load = load
        self._merged: dict[tuple[str, tuple[str, ...]], Advisory | None] = {}
        self._rated: dict[tuple[str, tuple[str, ...]], Advisory | None] = {}

    def _contributing(self, ids: Iterable[str]) -> tuple[str, ...]:
        return tuple(i for i in dict.fromkeys(ids) if self._ratings[i])

    def _merge(self, vuln_id: str, ids: Iterable[str]) -> Advisory | None:
        """``vuln_id``'s Advisory from the records of ``ids``."""
        contributing = self._contributing(ids)
        key = (vuln_id, contributing)
        if key not in self._merged:
            unread = [i for i in contributing if i not in self._records]
            if unread:
                self._records.update(self._load(unread))
            rows = [r for i in contributing for r in self._records[i]]
            self._merged[key] = _merged(vuln_id, rows, self._links.aliases(vuln_id))
        return self._merged[key]

    def _members(self, vuln_id: str) -> tuple[str, ...]:
        if vuln_id not in self._links.primary:
            raise KeyError(f"{vuln_id} was not read into this batch")
        return self._links.group_members(vuln_id)

    def advisory(self, vuln_id: str) -> Advisory | None:
        """Every source's record for ``vuln_id`` merged (or, when it has none, those of its alias group)."""
        members = self._members(vuln_id)
        return self._merge(vuln_id, (vuln_id,) if self._ratings[vuln_id] else members)

    def group_advisory(self, vuln_id: str) -> Advisory | None:
        """Every record of ``vuln_id``'s alias group merged (see ``Store.group_advisory``)."""
        return self._merge(vuln_id, (vuln_id, *self._members(vuln_id)))

    def group_ratings(self, vuln_id: str) -> Advisory | None:
        """``group_advisory`` with only its source, aliases, severities and CVSS (texts, references,
        dates left empty): what rates a finding its own records do not (``match.severity``)."""
        contributing = self._contributing((vuln_id, *self._members(vuln_id)))
        key = (vuln_id, contributing)
        if key not in self._rated:
            rows = [r for i in contributing for r in self._ratings[i]]
            self._rated[key] = _rated(vuln_id, rows, self._links.aliases(vuln_id))
        return self._rated[key]


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

    def _select_in(self, sql: str, values: Iterable[str], *args: Any) -> list[tuple[Any, ...]]:
        """Rows of ``sql`` (one ``IN ({})``, after ``args``' placeholders) for every distinct value,
        IN_CHUNK values per query; each chunk's rows in the order the SQL gives."""
        wanted = list(dict.fromkeys(values))
        rows: list[tuple[Any, ...]] = []
        for start in range(0, len(wanted), IN_CHUNK):
            part = wanted[start:start + IN_CHUNK]
            rows += self._conn.execute(sql.format(",".join("?" * len(part))), (*args, *part)).fetchall()
        return rows

    def affected(self, namespace: str, package_name: str) -> list[AffectedRow]:
        return self.affected_many(namespace, (package_name,))[package_name]

    def affected_many(self, namespace: str, names: Iterable[str]) -> dict[str, list[AffectedRow]]:
        """``affected`` for every name in ``names`` (each a key of the result, [] when it has no rows)."""
        keys = {name: name_key(namespace, name) for name in names}
        by_key: dict[str, list[AffectedRow]] = {key: [] for key in keys.values()}
        for row in self._select_in(_AFFECTED_MANY_SQL, by_key, namespace):
            by_key[row[0]].append(_row_to_affected(row[1:]))
        log.debug("query affected %s: %d names, %d rows", namespace, len(keys), sum(map(len, by_key.values())))
        return {name: list(by_key[key]) for name, key in keys.items()}

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
        return self._links((vuln_id,)).aliases(vuln_id)

    def _links(self, vuln_ids: Iterable[str]) -> _Links:
        ids = list(dict.fromkeys(vuln_ids))
        primary = {i: i for i in ids}
        primary.update(self._select_in("SELECT id, group_id FROM groups WHERE id IN ({})", ids))
        members: dict[str, list[str]] = {g: [] for g in primary.values()}
        for group, member in self._select_in("SELECT group_id, id FROM groups WHERE group_id IN ({})"
                                             " ORDER BY group_id, id", members):
            members[group].append(member)
        direct: dict[str, set[str]] = {i: set() for i in ids}
        for vid, alias in self._select_in("SELECT id, alias FROM aliases WHERE id IN ({})", ids):
            direct[vid].add(alias)
        for vid, alias in self._select_in("SELECT alias, id FROM aliases WHERE alias IN ({})", ids):
            direct[vid].add(alias)
        return _Links(primary, {g: tuple(m) for g, m in members.items()}, direct)

    def advisory(self, vuln_id: str) -> Advisory | None:
        """Every source's record for ``vuln_id`` merged (or, when it has none, those of
        its alias group); NVD-only CVEs give details only. No affected rows (use ``affected``)."""
        return self.advisory_batch((vuln_id,)).advisory(vuln_id)

    def group_advisory(self, vuln_id: str) -> Advisory | None:
        """Every record of ``vuln_id``'s alias group merged: its own and those of the ids linked
        to its CVE (GHSA, Bitnami, NVD, OSV...), whatever product they are for. A bundle id (a
        DSA naming several CVEs) is not a member, so its records never rate one CVE."""
        return self.advisory_batch((vuln_id,)).group_advisory(vuln_id)

    def advisory_batch(self, vuln_ids: Iterable[str]) -> AdvisoryBatch:
        """The records of ``vuln_ids`` (and of the alias groups of those that have none) read whole, the
        other members' ratings only (the rest on demand): each row read and decoded once."""
        links = self._links(vuln_ids)
        records = self._records(links.primary)
        records.update(self._records({m: None for i in links.primary if not records[i]
                                      for m in links.group_members(i) if m not in records}))
        ratings = {i: [(r[0], r[5], r[6]) for r in rows] for i, rows in records.items()}
        ratings.update({m: [] for i in links.primary for m in links.group_members(i) if m not in records})
        for vid, source, severities, cvss in self._select_in(_RATINGS_MANY_SQL, [m for m, r in ratings.items()
                                                                                 if m not in records]):
            ratings[vid].append((source, schema.decode_severities(severities), schema.decode_cvss(cvss)))
        return AdvisoryBatch(links, records, ratings, self._records)

    def _records(self, vuln_ids: Iterable[str]) -> _Rows:
        """The decoded rows (``_decoded``) of each id of ``vuln_ids`` ([] when it has none)."""
        records: _Rows = {i: [] for i in vuln_ids}
        for row in self._select_in(_VULN_MANY_SQL, records):
            records[row[0]].append(_decoded(row[1:]))
        return records

    def kev(self, cve_id: str) -> bool:
        return self._conn.execute("SELECT 1 FROM kev WHERE cve = ?", (cve_id,)).fetchone() is not None

    def kev_many(self, cve_ids: Iterable[str]) -> set[str]:
        """The CVEs of ``cve_ids`` that are in the KEV catalog."""
        return {r[0] for r in self._select_in("SELECT cve FROM kev WHERE cve IN ({})", cve_ids)}

    def kev_entry(self, cve_id: str) -> KevEntry | None:
        row = self._conn.execute("SELECT * FROM kev WHERE cve = ?", (cve_id,)).fetchone()
        return KevEntry(*row) if row else None

    def epss(self, cve_id: str) -> tuple[float, float] | None:
        row = self._conn.execute("SELECT score, percentile FROM epss WHERE cve = ?", (cve_id,)).fetchone()
        return (row[0], row[1]) if row else None

    def epss_many(self, cve_ids: Iterable[str]) -> dict[str, tuple[float, float]]:
        """(score, percentile) of the CVEs of ``cve_ids`` that EPSS scores."""
        return {r[0]: (r[1], r[2]) for r in self._select_in("SELECT cve, score, percentile FROM epss WHERE cve IN ({})",
                                                             cve_ids)}

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
    chain_id, layers, repo, tag, digest, manifest, platform, first_seen, last_seen, current = row
    return IndexEntry(chain_id, layers, repo, tag, digest, manifest, platform, first_seen, last_seen, bool(current))
