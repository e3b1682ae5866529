"""Analyze a directory tree (rootfs / fs modes) as one pseudo-layer.

Symlinks are never followed (neither to directories nor to files); files are
opened with O_NOFOLLOW | O_NONBLOCK and checked to still be regular files
before reading, reads are bounded by the analyzer limit, and permission or
I/O errors become Unknowns. For a root filesystem, proc/, sys/ and dev/ are
skipped. The sibling files an analyzer asks for (``Analyzer.siblings``) are read
from the file's directory when it is analysed, the same way (regular files only,
bounded). In a root filesystem, a package database reached through a symlink
(``var/lib/dpkg -> /opt/dpkg``) is read where the link leads, resolved inside the
root as a container runtime would (``walk.links``), and reported at its declared
path; links never lead out of the root.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import BinaryIO, Callable, Sequence

from layerscan.analyzers.base import Analyzer, sibling_path
from layerscan.errors import ImageError
from layerscan.walk.analysis import LayerAnalysis, LayerBuilder, PathFilter, SiblingReader, link_target
from layerscan.walk.links import Redirects, plan_redirects

ROOTFS_SKIP = ("proc", "sys", "dev")
_O_FLAGS = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0)


class FileReadError(Exception):
    """A file could not be read (recorded as an Unknown by the walk)."""


def _open_regular(path: str) -> int:
    """A file descriptor on a regular file, opened without following a symlink."""
    try:
        fd = os.open(path, _O_FLAGS)
    except OSError as exc:
        raise FileReadError(exc.strerror or str(exc)) from None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise FileReadError("no longer a regular file")
    except BaseException:
        os.close(fd)
        raise
    return fd


def open_regular_file(path: str) -> BinaryIO:
    """A regular file as a binary stream, opened without following a symlink."""
    fd = _open_regular(path)
    os.set_blocking(fd, True)
    return os.fdopen(fd, "rb")


def read_regular_file(path: str, size: int) -> bytes:
    """Read at most ``size`` bytes of a regular file without following a symlink."""
    fd = _open_regular(path)
    try:
        chunks, left = [], size
        while left > 0:
            chunk = os.read(fd, min(left, 1 << 20))
            if not chunk:
                break
            chunks.append(chunk)
            left -= len(chunk)
        return b"".join(chunks)
    except OSError as exc:
        raise FileReadError(exc.strerror or str(exc)) from None
    finally:
        os.close(fd)


def analyze_directory(root: Path, analyzers: Sequence[Analyzer], *, rootfs: bool = False,
                      skip_dirs: Sequence[str] = (), on_file: Callable[[], None] | None = None) -> LayerAnalysis:
    """Walk ``root`` (not following symlinks) and analyze its regular files.

    A regular file as ``root`` (fs mode: ``layerscan fs package-lock.json``) is
    analysed alone, under its own name."""
    root = Path(root)
    skip = PathFilter([*skip_dirs, *(ROOTFS_SKIP if rootfs else ())])
    builder = LayerBuilder(analyzers, skip, record_shadowed=False)
    if not rootfs and root.is_file() and not root.is_symlink():
        _add_file(builder, str(root), _printable(root.name), root.stat().st_mode, root.stat().st_size)
        return builder.build("")
    if not root.is_dir():
        raise ImageError(f"{root}: not a directory")
    links: dict[str, str] = {}
    stack: list[tuple[str, str]] = [(str(root), "")]
    while stack:
        abs_dir, rel_dir = stack.pop()
        for abs_path, rel, st_mode, size in _list_dir(abs_dir, rel_dir, builder):
            if builder.skipped(rel):
                continue
            if stat.S_ISDIR(st_mode):
                stack.append((abs_path, rel))
            elif stat.S_ISREG(st_mode):
                _add_file(builder, abs_path, rel, st_mode, size)
                if on_file is not None:
                    on_file()
            elif stat.S_ISLNK(st_mode) and rootfs:
                _remember_link(links, abs_path, rel)
    if links:
        _add_redirected(builder, root, plan_redirects(links, analyzers))
    return builder.build("")


def _remember_link(links: dict[str, str], abs_path: str, rel: str) -> None:
    try:
        links[rel] = link_target(rel, os.readlink(abs_path))
    except (OSError, ValueError):
        pass  # unreadable or not decodable: the link is left unfollowed, as before


def _add_redirected(builder: LayerBuilder, root: Path, redirects: Redirects) -> None:
    """The files at the real locations of declared paths reached through a link, analysed
    under the declared paths (read without following any further link: ``resolve`` followed
    them all, inside the root)."""
    for real, declared in sorted(redirects.files.items()):
        if not builder.skipped(real) and _real_directory(root, real.rpartition("/")[0]):
            _add_if_regular(builder, os.path.join(root, real), declared)
    for real_dir, declared_dir in sorted(redirects.dirs.items()):
        if builder.skipped(real_dir) or not _real_directory(root, real_dir):
            continue
        for abs_path, name, st_mode, size in _list_dir(os.path.join(root, real_dir), "", builder):
            if stat.S_ISREG(st_mode):
                _add_file(builder, abs_path, f"{declared_dir}/{name}", st_mode, size)


def _real_directory(root: Path, rel: str) -> bool:
    """``rel`` below ``root`` is a directory and none of its components is a symlink (one the
    walk did not see, in a skipped directory, would otherwise be followed by the kernel,
    possibly out of the root)."""
    path = str(root)
    for part in [p for p in rel.split("/") if p]:
        path = os.path.join(path, part)
        try:
            if not stat.S_ISDIR(os.lstat(path).st_mode):
                return False
        except OSError:
            return False
    return True


def _add_if_regular(builder: LayerBuilder, abs_path: str, rel: str) -> None:
    try:
        st = os.lstat(abs_path)
    except OSError:
        return  # a dangling link: nothing there
    if stat.S_ISREG(st.st_mode):
        _add_file(builder, abs_path, rel, st.st_mode, st.st_size)


def _list_dir(abs_dir: str, rel_dir: str, builder: LayerBuilder) -> list[tuple[str, str, int, int]]:
    out = []
    try:
        with os.scandir(abs_dir) as it:
            for entry in it:
                rel = f"{rel_dir}/{entry.name}" if rel_dir else entry.name
                try:
                    st = entry.stat(follow_symlinks=False)
                except OSError as exc:
                    builder.add_unknown(_printable(rel), f"cannot stat: {exc.strerror or exc}")
                    continue
                out.append((entry.path, _printable(rel), st.st_mode, st.st_size))
    except OSError as exc:
        builder.add_unknown(_printable(rel_dir) or ".", f"cannot list directory: {exc.strerror or exc}")
    out.sort(key=lambda item: item[1])
    return out


def _add_file(builder: LayerBuilder, abs_path: str, rel: str, st_mode: int, size: int) -> None:
    try:
        builder.add_file(rel, st_mode, size, lambda: read_regular_file(abs_path, size),
                         lambda: open_regular_file(abs_path), _sibling_reader(builder, abs_path, rel))
    except FileReadError as exc:
        builder.add_unknown(rel, f"cannot read: {exc}")


def _sibling_reader(builder: LayerBuilder, abs_path: str, rel: str) -> SiblingReader:
    """Reads a file beside ``abs_path`` (one byte over the limit at most, so the builder sees it is
    too large); None when it is absent, skipped, not a regular file or unreadable."""
    def read(name: str, limit: int) -> bytes | None:
        if builder.skipped(sibling_path(rel, name)):
            return None
        try:
            return read_regular_file(os.path.join(os.path.dirname(abs_path), name), limit + 1)
        except FileReadError:
            return None
    return read


def _printable(path: str) -> str:
    """Undecodable file names (surrogate-escaped by os) as backslash escapes."""
    try:
        path.encode("utf-8")
        return path
    except UnicodeEncodeError:
        return path.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
