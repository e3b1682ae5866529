"""rpm's SQLite backend (``rpmdb.sqlite``: Fedora 33+, RHEL 9, CBL-Mariner 2).

The file is hostile input, and SQLite would run what its schema says: a
``Packages`` VIEW can hold a recursive CTE that builds gigabytes from a 20 KB
file, a generated column can compute ``zeroblob(2e9)`` on every read. So:

- the bytes are written to a private temp directory and opened read-only and
  immutable (``file:...?mode=ro&immutable=1``; ``PRAGMA query_only``); rpm keeps
  the database in WAL mode, and the copy's file-format bytes are set back to
  the rollback journal (the ``-wal`` file is not part of the committed state);
- the schema is checked before any query: ``Packages`` must be a plain table
  (no view, no virtual table, no generated column) without triggers;
- ``sqlite3`` limits bound one value's length, the SQL and expression depth,
  and a progress handler interrupts a query past an instruction budget;
- the rows are read in table order (rpm's ``hnum`` is the rowid), so nothing
  is sorted.
"""

from __future__ import annotations

import sqlite3
import tempfile
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

from layerscan.analyzers.os.rpm.errors import RpmDbError

MAGIC = b"SQLite format 3\x00"
TABLE = "Packages"
MAX_VM_STEPS = 200_000_000  # far above what reading a real rpmdb costs
MAX_VALUE_BYTES = 64 << 20  # one header blob (real ones: a few MB at most)
CACHE_KIB = 8 << 10  # page cache of the connection
_STEP_CHUNK = 100_000
_LIMITS = (
    (sqlite3.SQLITE_LIMIT_LENGTH, MAX_VALUE_BYTES),
    (sqlite3.SQLITE_LIMIT_SQL_LENGTH, 100_000),  # our query, and each schema statement
    (sqlite3.SQLITE_LIMIT_EXPR_DEPTH, 100),
    (sqlite3.SQLITE_LIMIT_COMPOUND_SELECT, 4),
    (sqlite3.SQLITE_LIMIT_VDBE_OP, 25_000),
    (sqlite3.SQLITE_LIMIT_FUNCTION_ARG, 8),
    (sqlite3.SQLITE_LIMIT_ATTACHED, 0),
    (sqlite3.SQLITE_LIMIT_LIKE_PATTERN_LENGTH, 100),
    (sqlite3.SQLITE_LIMIT_TRIGGER_DEPTH, 1),
    (sqlite3.SQLITE_LIMIT_WORKER_THREADS, 0),
)


def is_sqlite(data: bytes) -> bool:
    return data[:16] == MAGIC


def _write_copy(data: bytes, path: Path) -> None:
    """``data`` to ``path`` without a second copy in memory; header bytes 18-19
    (write/read format versions) 2 = WAL -> 1 = legacy journal."""
    view = memoryview(data)
    with open(path, "xb") as fh:
        if data[18:20] == b"\x02\x02":
            fh.write(view[:18])
            fh.write(b"\x01\x01")
            fh.write(view[20:])
        else:
            fh.write(view)


def _connect(path: Path) -> sqlite3.Connection:
    con = sqlite3.connect(f"file:{quote(str(path))}?mode=ro&immutable=1", uri=True)
    for category, limit in _LIMITS:
        con.setlimit(category, limit)
    con.text_factory = bytes  # a damaged file may hold undecodable TEXT where a BLOB belongs
    con.execute("PRAGMA query_only = 1")
    con.execute(f"PRAGMA cache_size = -{CACHE_KIB}")
    con.execute("PRAGMA trusted_schema = 0")  # no functions with side effects from the schema
    return con


def check_schema(con: sqlite3.Connection) -> None:
    """RpmDbError unless ``Packages`` is a plain table without triggers."""
    rows = con.execute("SELECT type, sql FROM sqlite_master WHERE tbl_name = ? COLLATE NOCASE",
                       (TABLE,)).fetchall()
    kinds = {bytes(kind) for kind, _ in rows}
    if b"trigger" in kinds:
        raise RpmDbError(f"the {TABLE} table has triggers")
    tables = [sql or b"" for kind, sql in rows if kind == b"table"]
    if not tables:
        raise RpmDbError(f"no {TABLE} table" + (" (it is a view)" if b"view" in kinds else ""))
    if not bytes(tables[0]).lstrip().upper().startswith(b"CREATE TABLE"):
        raise RpmDbError(f"the {TABLE} table is not a plain table")
    # table_xinfo's "hidden": 2 and 3 are generated columns (computed on every read)
    if any(hidden for *_, hidden in con.execute(f"PRAGMA table_xinfo({TABLE})")):
        raise RpmDbError(f"the {TABLE} table has generated columns")


def iter_values(data: bytes) -> Iterator[bytes]:
    """Header blobs of the ``Packages`` table in ``hnum`` (rowid) order."""
    if not is_sqlite(data):
        raise RpmDbError("not an SQLite database")
    steps = 0

    def progress() -> int:
        nonlocal steps
        steps += _STEP_CHUNK
        return 1 if steps > MAX_VM_STEPS else 0

    with tempfile.TemporaryDirectory(prefix="layerscan-rpmdb-") as tmp:
        path = Path(tmp) / "rpmdb.sqlite"
        try:
            _write_copy(data, path)
        except OSError as exc:
            raise RpmDbError(f"cannot copy the rpm sqlite database to a temp file: {exc.strerror or exc}") from exc
        con: sqlite3.Connection | None = None
        try:
            con = _connect(path)
            con.set_progress_handler(progress, _STEP_CHUNK)
            check_schema(con)
            for (blob,) in con.execute(f"SELECT blob FROM {TABLE}"):
                if isinstance(blob, bytes):
                    yield blob
        except sqlite3.Error as exc:
            if steps > MAX_VM_STEPS:
                raise RpmDbError(f"query interrupted after {MAX_VM_STEPS} SQLite steps") from exc
            raise RpmDbError(f"unreadable rpm sqlite database: {exc}") from exc
        except UnicodeDecodeError as exc:  # sqlite's message quotes the damaged schema text
            raise RpmDbError("unreadable rpm sqlite database: damaged schema") from exc
        finally:
            if con is not None:
                con.close()
