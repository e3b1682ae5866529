"""Read-only access to the files of an image archive or layout directory.

A ``BlobStore`` gives the docker-archive and OCI-layout readers one way to
open named files, whether they sit in a directory or inside a tar. Every
``open`` returns a fresh, independent stream (its own file handle), so layers
may be read in parallel threads.

Gzip-compressed archives (``docker save | gzip``) are decompressed once into a
private temp directory, then read like a plain tar: random access to each
layer member needs a seekable file, and re-inflating the whole archive for
every layer would cost far more than one bounded spool to disk. The spool is
removed on ``close``.
"""

from __future__ import annotations

import io
import os
import posixpath
import shutil
import tarfile
import tempfile
from abc import ABC, abstractmethod
from pathlib import Path
from typing import BinaryIO

from layerscan.errors import ImageError
from layerscan.limits import MAX_SPOOL_BYTES

MAX_MEMBERS = 200_000  # headers scanned in an archive
MAX_LINK_DEPTH = 8
_CHUNK = 1024 * 1024


class NotATarError(ImageError):
    """The file is not a tar archive at all (as opposed to a damaged one)."""


class SectionReader(io.RawIOBase):
    """``size`` bytes of a file starting at ``offset``, through its own handle."""

    def __init__(self, path: str | os.PathLike[str], offset: int, size: int) -> None:
        self._fh = open(path, "rb")  # noqa: SIM115 - closed in close()
        self._fh.seek(offset)
        self._left = size

    def readable(self) -> bool:
        return True

    def readinto(self, b) -> int:  # type: ignore[override]
        if self._left <= 0:
            return 0
        view = memoryview(b)[: min(len(b), self._left)]
        n = self._fh.readinto(view)
        if not n:
            raise ImageError("archive is truncated: member data ends early")
        self._left -= n
        return n

    def close(self) -> None:
        try:
            self._fh.close()
        finally:
            super().close()


class BlobStore(ABC):
    """Named files of an archive or a directory. Names are relative POSIX paths."""

    description: str

    @abstractmethod
    def size(self, name: str) -> int:
        """Size in bytes, or -1 when the file is absent."""

    @abstractmethod
    def open(self, name: str) -> BinaryIO: ...

    def exists(self, name: str) -> bool:
        return self.size(name) >= 0

    def identity(self, name: str) -> str:
        """A stat fingerprint of the bytes ``name`` holds (``file_identity``), or "" when there
        is none worth remembering (a missing file, a temp spool)."""
        return ""

    def read(self, name: str, limit: int) -> bytes:
        size = self.size(name)
        if size < 0:
            raise ImageError(f"{self.description}: missing {name}")
        if size > limit:
            raise ImageError(f"{self.description}: {name} is too large ({size} bytes, limit {limit})")
        with self.open(name) as fh:
            return fh.read()

    def close(self) -> None:  # noqa: B027 - optional hook
        pass


def _clean_name(name: str) -> str | None:
    norm = posixpath.normpath(name.lstrip("/")) if name else ""
    if not norm or norm == "." or norm.startswith("../") or norm == "..":
        return None
    return norm


def file_identity(path: str | os.PathLike[str]) -> str:
    """Device, inode, size, mtime and ctime (ns) of a file: any rewrite of its bytes changes it
    (ctime cannot be set back without changing the system clock), so a digest verified for one
    identity need not be hashed again while the identity is unchanged."""
    st = os.stat(path)
    return f"{os.fspath(path)}|{st.st_dev}:{st.st_ino}:{st.st_size}:{st.st_mtime_ns}:{st.st_ctime_ns}"


class DirStore(BlobStore):
    def __init__(self, root: Path) -> None:
        self.root = root.resolve()
        self.description = f"OCI layout {root}"

    def _path(self, name: str) -> Path | None:
        clean = _clean_name(name)
        if clean is None:
            return None
        path = (self.root / clean).resolve()
        return path if path.is_relative_to(self.root) else None

    def size(self, name: str) -> int:
        path = self._path(name)
        return path.stat().st_size if path is not None and path.is_file() else -1

    def open(self, name: str) -> BinaryIO:
        path = self._path(name)
        if path is None or not path.is_file():
            raise ImageError(f"{self.description}: missing {name}")
        return open(path, "rb")  # noqa: SIM115 - caller closes

    def identity(self, name: str) -> str:
        path = self._path(name)
        try:
            return file_identity(path) if path is not None and path.is_file() else ""
        except OSError:
            return ""


class TarStore(BlobStore):
    """Members of an uncompressed tar file, indexed once by header scan."""

    def __init__(self, path: Path, description: str, cleanup_dir: str | None = None) -> None:
        self.path = path
        self.description = description
        self._cleanup = cleanup_dir
        self._files: dict[str, tuple[int, int]] = {}
        self._links: dict[str, str] = {}
        try:
            self._index()
        except BaseException:
            self.close()
            raise

    def _index(self) -> None:
        total = self.path.stat().st_size
        try:
            with tarfile.open(self.path, "r:") as tf:
                for count, member in enumerate(tf):
                    if count >= MAX_MEMBERS:
                        raise ImageError(f"{self.description}: more than {MAX_MEMBERS} members")
                    self._add(member, total)
        except tarfile.TarError as exc:
            raise NotATarError(f"{self.description}: not a readable tar archive ({exc})") from None
        except (OSError, EOFError) as exc:
            raise ImageError(f"{self.description}: cannot read archive ({exc})") from None

    def _add(self, member: tarfile.TarInfo, total: int) -> None:
        name = _clean_name(member.name)
        if name is None:
            return
        if member.isfile():
            if member.offset_data + member.size > total:
                raise ImageError(f"{self.description}: archive is truncated (member {name})")
            self._files[name] = (member.offset_data, member.size)
        elif member.issym():
            self._links[name] = posixpath.join(posixpath.dirname(name), member.linkname)
        elif member.islnk():
            self._links[name] = member.linkname

    def _resolve(self, name: str) -> tuple[int, int] | None:
        clean = _clean_name(name)
        for _ in range(MAX_LINK_DEPTH):
            if clean is None:
                return None
            if clean in self._files:
                return self._files[clean]
            target = self._links.get(clean)
            clean = _clean_name(target) if target is not None else None
        return None

    def names(self) -> list[str]:
        return sorted(set(self._files) | set(self._links))

    def size(self, name: str) -> int:
        found = self._resolve(name)
        return found[1] if found else -1

    def open(self, name: str) -> BinaryIO:
        found = self._resolve(name)
        if found is None:
            raise ImageError(f"{self.description}: missing {name}")
        return SectionReader(self.path, *found)  # type: ignore[return-value]

    def identity(self, name: str) -> str:
        found = self._resolve(name)
        if found is None or self._cleanup:  # a spool is a new file every time
            return ""
        try:
            return f"{file_identity(self.path.resolve())}|{found[0]}:{found[1]}"
        except OSError:
            return ""

    def close(self) -> None:
        if self._cleanup:
            shutil.rmtree(self._cleanup, ignore_errors=True)
            self._cleanup = None


def is_gzip_file(path: Path) -> bool:
    with open(path, "rb") as fh:
        return fh.read(2) == b"\x1f\x8b"


def _gzip_open(path: Path) -> BinaryIO:
    try:
        from isal import igzip  # fast path when installed

        return igzip.open(path, "rb")  # type: ignore[return-value]
    except ImportError:
        import gzip

        return gzip.open(path, "rb")  # type: ignore[return-value]


def open_tar_store(path: Path, description: str, max_spool_bytes: int = MAX_SPOOL_BYTES) -> TarStore:
    """A TarStore for a plain or gzip-compressed tar (the latter spooled to a temp dir, at most
    ``max_spool_bytes``)."""
    if not is_gzip_file(path):
        return TarStore(path, description)
    tmpdir = tempfile.mkdtemp(prefix="layerscan-archive-")
    spool = Path(tmpdir) / "archive.tar"
    try:
        _inflate(path, spool, description, max_spool_bytes)
    except BaseException:
        shutil.rmtree(tmpdir, ignore_errors=True)
        raise
    return TarStore(spool, description, cleanup_dir=tmpdir)


def _inflate(src: Path, dest: Path, description: str, limit: int) -> None:
    written = 0
    try:
        with _gzip_open(src) as gz, open(dest, "wb") as out:
            while chunk := gz.read(_CHUNK):
                written += len(chunk)
                if written > limit:
                    raise ImageError(f"{description}: decompresses to more than {limit} bytes")
                out.write(chunk)
    except (OSError, EOFError, ValueError) as exc:
        raise ImageError(f"{description}: corrupt or truncated gzip archive ({exc})") from None
