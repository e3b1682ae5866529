"""Building the database file: load feeds into a temp file next to the target,
keep the sources this build does not replace (copied from the current file),
merge aliases, index, verify, fsync, and atomically rename over the target.

A ``kill -9`` at any moment leaves the previous file untouched (the temp file
is removed by the next build); two builders are serialised by ``BuildLock``;
readers keep the inode they opened.
"""

from __future__ import annotations

import os
import sqlite3
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterable, Iterator, Mapping, Sequence

from layerscan.cachedir import make_private, private_dir
from layerscan.db import schema
from layerscan.db.aliases import group_ids
from layerscan.db.dates import rfc3339
from layerscan.db.feeds.base import ParseStats
from layerscan.db.feeds.osv import OsvFeed
from layerscan.db.feeds.registry import ALL_FEEDS, new_stats, read_mixed
from layerscan.db.feeds.source import BuildInput as BuildInput  # what a fetch step hands over
from layerscan.db.lock import BuildLock
from layerscan.db.namespaces import base_ecosystem, name_key
from layerscan.db.records import EolInfo, EpssScore, IndexEntry, KevEntry
from layerscan.db.store import STATE_PREFIX  # metadata keys carried from build to build
from layerscan.errors import DatabaseError
from layerscan.model import Advisory
from layerscan.progress import NULL_PROGRESS, Progress

BATCH = 5000


@dataclass(frozen=True)
class SourceResult:
    name: str  # source key: "osv:PyPI", "debian", "kev", ...
    feed: str
    status: str  # "updated", "kept" (previous data copied), "failed" (no data)
    records: int = 0
    rows: int = 0
    data_date: str = ""
    message: str = ""


@dataclass(frozen=True)
class BuildResult:
    path: Path
    sources: tuple[SourceResult, ...]
    skipped: Mapping[str, int]
    warnings: tuple[str, ...]
    seconds: float
    size: int


def source_key(feed: str, advisory: Advisory) -> str:
    """OSV rows are replaceable per ecosystem ("osv:PyPI"); other feeds as a whole."""
    if feed == "osv" and advisory.affected:
        return f"osv:{base_ecosystem(advisory.affected[0].namespace)}"
    return feed


def utc_now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class _Tally:
    feed: str
    records: int = 0
    rows: int = 0
    data_date: str = ""

    def saw(self, date: str) -> None:
        if date > self.data_date:
            self.data_date = date[:32]


@dataclass
class _Writer:
    """Batched inserts into the temp database."""

    conn: sqlite3.Connection
    tallies: dict[str, _Tally] = field(default_factory=dict)
    _vulns: list[tuple] = field(default_factory=list)
    _aliases: list[tuple] = field(default_factory=list)
    _affected: list[tuple] = field(default_factory=list)

    def tally(self, key: str, feed: str) -> _Tally:
        return self.tallies.setdefault(key, _Tally(feed))

    def advisory(self, feed: str, adv: Advisory) -> None:
        key = source_key(feed, adv)
        t = self.tally(key, feed)
        t.records += 1
        t.rows += len(adv.affected)
        published, modified = rfc3339(adv.published), rfc3339(adv.modified)  # placeholders dropped
        t.saw(max(modified, published))  # some exports leave modified at 0001-01-01
        self._vulns.append((
            adv.id, key, adv.summary, adv.details, published, modified,
            schema.encode_severities(adv.severities), schema.encode_cvss(adv.cvss),
            schema.encode_strings(adv.cwes), schema.encode_strings(adv.references),
            schema.encode_strings(adv.related),
        ))
        self._aliases.extend((adv.id, alias, key) for alias in adv.aliases)
        self._affected.extend((
            a.namespace, name_key(a.namespace, a.package), a.package, adv.id, adv.id, key,
            schema.encode_ranges(a.ranges), schema.encode_strings(a.versions), a.status,
            a.fixed_version, a.severity, a.urgency, a.purl,
        ) for a in adv.affected)
        if len(self._affected) >= BATCH or len(self._vulns) >= BATCH:
            self.flush()

    def side(self, feed: str, record: object) -> None:
        key = schema.INDEX_SOURCE_PREFIX + record.repo if isinstance(record, IndexEntry) else feed
        t = self.tally(key, feed)
        t.records += 1
        t.rows += 1
        if isinstance(record, IndexEntry):
            t.saw(record.last_seen)
            self._side("INSERT OR REPLACE INTO base_index VALUES (?,?,?,?,?,?,?,?,?,?,?)", (
                record.chain_id, record.layers, record.repo, record.tag, record.digest, record.manifest,
                record.platform, record.first_seen, record.last_seen, int(record.current), key))
        elif isinstance(record, KevEntry):
            t.saw(record.date_added)
            self._side("INSERT OR REPLACE INTO kev VALUES (?,?,?,?,?,?,?,?)", (
                record.cve, record.vendor, record.product, record.name, record.date_added,
                record.due_date, record.ransomware, record.notes))
        elif isinstance(record, EpssScore):
            t.saw(record.date)
            self._side("INSERT OR REPLACE INTO epss VALUES (?,?,?,?)",
                       (record.cve, record.score, record.percentile, record.date))
        elif isinstance(record, EolInfo):
            self._side("INSERT OR REPLACE INTO eol VALUES (?,?,?,?,?,?,?,?,?)", (
                record.product, record.cycle, record.codename, record.release_date, record.eol,
                record.eoes, record.latest, record.latest_date, int(record.lts)))

    def _side(self, sql: str, row: tuple) -> None:
        self.conn.execute(sql, row)

    def flush(self) -> None:
        self.conn.executemany("INSERT OR IGNORE INTO vulnerabilities VALUES (?,?,?,?,?,?,?,?,?,?,?)", self._vulns)
        self.conn.executemany("INSERT INTO aliases VALUES (?,?,?)", self._aliases)
        self.conn.executemany("INSERT INTO affected VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)", self._affected)
        self._vulns, self._aliases, self._affected = [], [], []


def _records(inp: BuildInput, stats: dict[str, ParseStats]) -> Iterator[tuple[str, object]]:
    if inp.feed == "osv" and inp.overlay is not None:
        for path in inp.paths:
            for adv in OsvFeed().parse_with_overlay(path, inp.overlay, stats["osv"]):
                yield "osv", adv
    elif inp.feed:
        feed = ALL_FEEDS[inp.feed]()
        for path in inp.paths:
            for record in feed.parse(path, stats[inp.feed]):
                yield inp.feed, record
    else:
        yield from read_mixed(inp.paths, stats)


def _temp_path(target: Path) -> Path:
    return target.with_name(f".{target.name}.{os.getpid()}.tmp")


def _remove_stale_temps(target: Path) -> None:
    """Temp files of builders that died (we hold the lock, so none is live)."""
    for stale in target.parent.glob(f".{target.name}.*.tmp"):
        try:
            stale.unlink()
        except OSError:
            pass


def _open_temp(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=OFF")
    conn.execute("PRAGMA synchronous=OFF")
    conn.execute("PRAGMA cache_size=-65536")
    schema.create(conn)
    conn.execute("BEGIN")
    return conn


def _attach_old(conn: sqlite3.Connection, target: Path, warnings: list[str]) -> bool:
    if not target.exists():
        return False
    try:
        conn.execute("COMMIT")  # ATTACH is not allowed inside a transaction
        conn.execute("ATTACH DATABASE ? AS old", (f"file:{target}?mode=ro",))
        version = conn.execute("PRAGMA old.user_version").fetchone()[0]
        conn.execute("BEGIN")
        if version not in schema.REUSABLE_VERSIONS:
            warnings.append(f"previous database has schema {version}, not {schema.SCHEMA_VERSION}: not reused")
            return False
        return True
    except sqlite3.DatabaseError as exc:
        if not conn.in_transaction:
            conn.execute("BEGIN")
        warnings.append(f"previous database unreadable ({exc}): not reused")
        return False


def _copy_old_sources(conn: sqlite3.Connection, replaced: set[str], failed: Mapping[str, str],
                      keep_others: bool) -> list[SourceResult]:
    """Copy every old source not replaced by this build; failed ones are marked as kept."""
    results = []
    old_tables = {r[0] for r in conn.execute("SELECT name FROM old.sqlite_master WHERE type = 'table'")}
    for name, feed, records, rows, data_date in conn.execute(
            "SELECT name, feed, records, rows, data_date FROM old.sources").fetchall():
        if name in replaced or not (keep_others or name in failed):
            continue
        if name in schema.SIDE_TABLES:
            table = schema.SIDE_TABLES[name]
            conn.execute(f"INSERT OR REPLACE INTO {table} SELECT * FROM old.{table}")
        else:
            for table in (t for t in schema.SOURCED_TABLES if t in old_tables):  # schema 1 has no base_index
                conn.execute(f"INSERT OR IGNORE INTO {table} SELECT * FROM old.{table} WHERE source = ?", (name,))
        message = f"update failed ({failed[name]}); previous data kept" if name in failed else "previous data kept"
        results.append(SourceResult(name, feed, "kept", records, rows, data_date, message))
    return results




def _old_metadata(conn: sqlite3.Connection) -> dict[str, str]:
    return dict(conn.execute("SELECT key, value FROM old.metadata WHERE key LIKE ?", (STATE_PREFIX + "%",)).fetchall())


def _write_groups(conn: sqlite3.Connection) -> None:
    """Alias groups, and each affected row's primary id (denormalised: lookups need no join)."""
    edges = conn.execute("SELECT id, alias FROM aliases").fetchall()
    groups = group_ids(edges)
    conn.executemany("INSERT INTO groups VALUES (?, ?)", groups.items())
    # rows are inserted with primary_id = vuln_id (copied ones with the old file's): rewrite only
    # the rows whose primary changes (half of them at real scale; a row rewrite is the cost)
    primary = "COALESCE((SELECT group_id FROM groups WHERE groups.id = affected.vuln_id), vuln_id)"
    conn.execute(f"UPDATE affected SET primary_id = {primary} WHERE primary_id != {primary}")


def _write_sources(conn: sqlite3.Connection, results: Sequence[SourceResult], now: str) -> None:
    conn.executemany("INSERT OR REPLACE INTO sources VALUES (?,?,?,?,?,?,?,?,?)", [
        (r.name, r.feed, r.status, r.message, r.records, 0, r.rows, r.data_date, now) for r in results])


def _verify(conn: sqlite3.Connection, expected_rows: int) -> None:
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    if version != schema.SCHEMA_VERSION:
        raise DatabaseError(f"built database has schema {version}")
    # quick_check: every page and b-tree of the file, not each index entry against its row
    # (integrity_check took 17 s of a 3.5-minute real-scale import; quick_check ~4 s)
    check = conn.execute("PRAGMA quick_check").fetchone()[0]
    if check != "ok":
        raise DatabaseError(f"built database failed quick_check: {check}")
    rows = conn.execute("SELECT COUNT(*) FROM affected").fetchone()[0]
    if rows != expected_rows:
        raise DatabaseError(f"built database has {rows} affected rows, expected {expected_rows}")


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _load(conn: sqlite3.Connection, inputs: Sequence[BuildInput], stats: dict[str, ParseStats],
          progress: Progress) -> _Writer:
    writer = _Writer(conn)
    for inp in inputs:
        label = inp.feed or ", ".join(p.name for p in inp.paths)[:60]
        task = progress.task(f"load {label}")
        try:
            for n, (feed, record) in enumerate(_records(inp, stats), 1):
                if isinstance(record, Advisory):
                    writer.advisory(feed, record)
                else:
                    writer.side(feed, record)
                if n % 1000 == 0:
                    task.advance(1000)
        finally:
            task.close()
    writer.flush()
    return writer


def build_database(target: Path, inputs: Sequence[BuildInput], *, failed: Mapping[str, str] | None = None,
                   keep_others: bool = True, metadata: Mapping[str, str] | None = None,
                   progress: Progress = NULL_PROGRESS, lock_timeout: float = 600.0) -> BuildResult:
    """Build ``target`` from ``inputs``; sources not replaced are copied from the current
    ``target`` when ``keep_others`` (always for the ``failed`` ones: key -> reason)."""
    target = Path(target).resolve()
    private_dir(target.parent)
    failed = dict(failed or {})
    started = time.monotonic()
    with BuildLock(target, lock_timeout):
        _remove_stale_temps(target)
        tmp = _temp_path(target)
        try:
            result = _build_into(tmp, target, inputs, failed, keep_others, dict(metadata or {}), progress)
            _fsync(tmp)
            make_private(tmp)  # SQLite creates files 0644 minus the umask
            os.replace(tmp, target)
            _fsync(target.parent)
        finally:
            if tmp.exists():
                tmp.unlink()
    return BuildResult(target, result[0], result[1], result[2], time.monotonic() - started, target.stat().st_size)


def _build_into(tmp: Path, target: Path, inputs: Sequence[BuildInput], failed: dict[str, str],
                keep_others: bool, metadata: dict[str, str], progress: Progress
                ) -> tuple[tuple[SourceResult, ...], dict[str, int], tuple[str, ...]]:
    conn = _open_temp(tmp)
    try:
        stats = new_stats()
        writer = _load(conn, inputs, stats, progress)
        now = utc_now()
        results = [SourceResult(k, t.feed, "updated", t.records, t.rows, t.data_date)
                   for k, t in sorted(writer.tallies.items())]
        covered = {c for inp in inputs for c in inp.covers} | set(writer.tallies)
        results += [SourceResult(c, c.split(":")[0], "updated") for c in sorted(covered - set(writer.tallies))]
        warnings: list[str] = []
        old_meta: dict[str, str] = {}
        if _attach_old(conn, target, warnings):
            results += _copy_old_sources(conn, covered, failed, keep_others)
            old_meta = _old_metadata(conn)
        have = {r.name for r in results}
        results += [SourceResult(k, k.split(":")[0], "failed", message=f"update failed ({why}); no previous data")
                    for k, why in failed.items() if k not in have]
        _write_sources(conn, results, now)
        _write_groups(conn)
        meta = {**old_meta, "built_at": now, **metadata, "schema_version": str(schema.SCHEMA_VERSION),
                **{f"skipped:{name}": str(s.skipped) for name, s in stats.items() if s.skipped}}
        conn.executemany("INSERT OR REPLACE INTO metadata VALUES (?, ?)", meta.items())
        schema.create_indexes(conn)
        conn.execute("COMMIT")
        if conn.execute("PRAGMA database_list").fetchall()[-1][1] == "old":
            conn.execute("DETACH DATABASE old")
        conn.execute("ANALYZE")
        expected = sum(r.rows for r in results if schema.counts_affected_rows(r.name))
        _verify(conn, expected)
        skipped = {name: s.skipped for name, s in stats.items() if s.skipped}
        warnings += [w for s in stats.values() for w in s.warnings]
        return tuple(results), skipped, tuple(warnings)
    finally:
        conn.close()


def import_paths(target: Path, paths: Iterable[Path], **kwargs: object) -> BuildResult:
    """``db import``: detect the format of every file under ``paths`` and build."""
    return build_database(target, [BuildInput(paths=tuple(Path(p) for p in paths))], **kwargs)  # type: ignore[arg-type]
