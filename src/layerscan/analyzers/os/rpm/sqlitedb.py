"""rpm's SQLite backend (``rpmdb.sqlite``: Fedora 33+, RHEL 9, CBL-Mariner 2).

The file is opened from memory (``deserialize``), read-only, with a progress
handler that interrupts a query running too long on a crafted file. rpm keeps
the database in WAL mode, which an in-memory database cannot open: the copy's
file-format bytes are set back to the rollback journal (the ``-wal`` file, if
any, is not part of the layer's committed state we read).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator

from layerscan.analyzers.os.rpm.errors import RpmDbError

MAGIC = b"SQLite format 3\x00"
MAX_VM_STEPS = 200_000_000  # far above what reading a real rpmdb costs
_STEP_CHUNK = 100_000


def is_sqlite(data: bytes) -> bool:
    return data[:16] == MAGIC


def _without_wal(data: bytes) -> bytes:
    """Header bytes 18-19 (write/read format versions) 2 = WAL -> 1 = legacy journal."""
    if data[18:20] == b"\x02\x02":
        return data[:18] + b"\x01\x01" + data[20:]
    return data


def iter_values(data: bytes) -> Iterator[bytes]:
    """Header blobs of the ``Packages`` table in ``hnum`` order."""
    if not is_sqlite(data):
        raise RpmDbError("not an SQLite database")
    con = sqlite3.connect(":memory:")
    steps = 0

    def progress() -> int:
        nonlocal steps
        steps += _STEP_CHUNK
        return 1 if steps > MAX_VM_STEPS else 0

    try:
        con.text_factory = bytes  # a damaged file may hold undecodable TEXT where a BLOB belongs
        con.deserialize(_without_wal(data))
        con.execute("PRAGMA query_only = 1")
        con.set_progress_handler(progress, _STEP_CHUNK)
        for (blob,) in con.execute("SELECT blob FROM Packages ORDER BY hnum"):
            if isinstance(blob, bytes):
                yield blob
    except sqlite3.Error as exc:
        raise RpmDbError(f"unreadable rpm sqlite database: {exc}") from exc
    except UnicodeDecodeError as exc:  # sqlite's message quotes the damaged schema text
        raise RpmDbError("unreadable rpm sqlite database: damaged schema") from exc
    finally:
        con.close()
