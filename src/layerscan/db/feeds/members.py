"""Reading feed inputs as a flat stream of named members, with bounds.

A feed input may be a single file, a directory tree, a zip (osv.dev ``all.zip``
or a repository snapshot), or a gzip of one file. Every member is read with a
size cap so a hostile archive (zip bomb, huge file) becomes a counted skip,
never unbounded memory.
"""

from __future__ import annotations

import gzip
import os
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from layerscan.db.feeds.stats import ParseStats
from layerscan.errors import FeedError

MAX_MEMBER_BYTES = 64 * 1024 * 1024  # one advisory file / one feed JSON page
MAX_MEMBERS = 2_000_000  # members per input
_CHUNK = 1 << 20


@dataclass(frozen=True)
class Member:
    """One file of a feed input: its path inside the input and its bytes."""

    name: str
    data: bytes


def _read_capped(stream, name: str, limit: int) -> bytes:
    parts: list[bytes] = []
    total = 0
    while True:
        chunk = stream.read(_CHUNK)
        if not chunk:
            return b"".join(parts)
        total += len(chunk)
        if total > limit:
            raise FeedError(f"{name}: larger than {limit} bytes")
        parts.append(chunk)


def _maybe_gunzip(name: str, data: bytes, limit: int) -> Member:
    if name.endswith(".gz") and data[:2] == b"\x1f\x8b":
        import io

        with gzip.GzipFile(fileobj=io.BytesIO(data)) as gz:
            return Member(name[:-3], _read_capped(gz, name, limit))
    return Member(name, data)


def _file_member(path: Path, rel: str, stats: ParseStats, limit: int) -> Member | None:
    try:
        with open(path, "rb") as fh:
            data = _read_capped(fh, rel, limit)
        return _maybe_gunzip(rel, data, limit)
    except (OSError, FeedError, EOFError, gzip.BadGzipFile) as exc:
        stats.skip(f"{rel}: {exc}")
        return None


def _zip_members(path: Path, stats: ParseStats, limit: int) -> Iterator[Member]:
    try:
        zf = zipfile.ZipFile(path)
    except (OSError, zipfile.BadZipFile) as exc:
        raise FeedError(f"{path}: not a readable zip ({exc})") from exc
    with zf:
        for count, info in enumerate(zf.infolist()):
            if count >= MAX_MEMBERS:
                stats.skip(f"{path}: more than {MAX_MEMBERS} members, rest ignored")
                return
            if info.is_dir():
                continue
            if info.file_size > limit:
                stats.skip(f"{info.filename}: {info.file_size} bytes exceeds {limit}")
                continue
            try:
                with zf.open(info) as fh:
                    data = _read_capped(fh, info.filename, limit)
                yield _maybe_gunzip(info.filename, data, limit)
            except (OSError, FeedError, EOFError, zipfile.BadZipFile, gzip.BadGzipFile,
                    NotImplementedError, RuntimeError) as exc:
                stats.skip(f"{info.filename}: {exc}")


def _dir_members(root: Path, stats: ParseStats, limit: int) -> Iterator[Member]:
    count = 0
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for fname in sorted(filenames):
            full = Path(dirpath) / fname
            if full.is_symlink() or not full.is_file():
                continue
            count += 1
            if count > MAX_MEMBERS:
                stats.skip(f"{root}: more than {MAX_MEMBERS} files, rest ignored")
                return
            rel = full.relative_to(root).as_posix()
            if fname.endswith(".zip"):
                yield from _zip_members(full, stats, limit)
                continue
            member = _file_member(full, rel, stats, limit)
            if member is not None:
                yield member


def iter_members(path: Path, stats: ParseStats, limit: int = MAX_MEMBER_BYTES) -> Iterator[Member]:
    """Yield every file of ``path`` (file, directory, .zip, .gz) as a Member."""
    path = Path(path)
    if path.is_dir():
        yield from _dir_members(path, stats, limit)
    elif path.is_file():
        if zipfile.is_zipfile(path):
            yield from _zip_members(path, stats, limit)
        else:
            member = _file_member(path, path.name, stats, limit)
            if member is not None:
                yield member
    else:
        raise FeedError(f"{path}: no such file or directory")
