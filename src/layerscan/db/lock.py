"""An exclusive file lock (fcntl) that serialises database builders.

Readers never take it: they open the current file read-only and keep their
inode across the builder's atomic rename.
"""

from __future__ import annotations

import fcntl
import os
import time
from pathlib import Path
from types import TracebackType

from layerscan.cachedir import PRIVATE_FILE, private_dir
from layerscan.errors import DatabaseError


class BuildLock:
    """``with BuildLock(db_path): ...`` — blocks until no other builder holds it
    (or ``timeout`` seconds pass: DatabaseError)."""

    def __init__(self, db_path: Path, timeout: float = 600.0) -> None:
        self.path = Path(db_path).with_name(Path(db_path).name + ".lock")
        self.timeout = timeout
        self._fd: int | None = None

    def __enter__(self) -> "BuildLock":
        private_dir(self.path.parent)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, PRIVATE_FILE)
        deadline = time.monotonic() + self.timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    os.close(fd)
                    raise DatabaseError(f"another layerscan is updating {self.path.parent} (lock {self.path})",
                                        hint="wait for it to finish, then retry") from None
                time.sleep(0.1)
        self._fd = fd
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None
