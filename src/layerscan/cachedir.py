"""The cache root (``--cache-dir``) is private to the user who scans.

It holds the vulnerability database and the layer cache: whoever can write it
decides what a scan reports. So, whatever the umask:

- every directory we create under (and including) the root is ``0700``, every
  file ``0600`` (:func:`private_dir`, :func:`open_private`, :func:`make_private`);
- an existing root owned by another user, or writable by its group or by
  others, is refused before anything is read from it (:func:`check_cache_dir`).
  We do not fix its mode ourselves: the directory may be shared on purpose.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import BinaryIO

from layerscan.errors import LayerscanError

PRIVATE_DIR = 0o700
PRIVATE_FILE = 0o600


class CacheDirError(LayerscanError):
    """The cache root is not safe to use (exit 3, docs/cli.md "Exit codes")."""


def check_cache_dir(root: Path) -> Path:
    """``root`` if it is missing (created 0700 when first written) or private to us."""
    try:
        st = os.stat(root)
    except FileNotFoundError:
        return root
    except OSError as exc:
        raise CacheDirError(f"cache dir {root}: {exc.strerror or exc}") from None
    own = "use a directory of your own (--cache-dir DIR or LAYERSCAN_CACHE_DIR)"
    if not stat.S_ISDIR(st.st_mode):
        raise CacheDirError(f"cache dir {root} is not a directory", hint=own)
    if st.st_uid != os.geteuid():
        raise CacheDirError(f"cache dir {root} is owned by another user (uid {st.st_uid}): refusing to trust "
                            "its database and layer cache", hint=f"{own}, or 'chown' this one to yourself")
    writable = [who for who, bit in (("its group", stat.S_IWGRP), ("others", stat.S_IWOTH)) if st.st_mode & bit]
    if writable:
        raise CacheDirError(f"cache dir {root} is writable by {' and '.join(writable)} "
                            f"(mode {stat.S_IMODE(st.st_mode):04o}): refusing to trust its database and layer cache",
                            hint=f"'chmod 700 {root}', or {own}")
    return root


def private_dir(path: Path) -> Path:
    """``mkdir -p path``, each directory it creates ``0700`` (existing ones are left as they are)."""
    missing: list[Path] = []
    here = Path(path)
    while not here.exists() and here != here.parent:
        missing.append(here)
        here = here.parent
    for directory in reversed(missing):
        try:
            os.mkdir(directory, PRIVATE_DIR)
        except FileExistsError:
            continue  # another process made it
        os.chmod(directory, PRIVATE_DIR)  # the umask may have taken bits from the owner too
    return path


def _private_opener(path: str, flags: int) -> int:
    return os.open(path, flags, PRIVATE_FILE)


def open_private(path: Path) -> BinaryIO:
    """``open(path, "wb")``, a new file created ``0600``."""
    return open(path, "wb", opener=_private_opener)


def make_private(path: Path) -> None:
    """``chmod 0600`` a file that another library created (SQLite)."""
    os.chmod(path, PRIVATE_FILE)
