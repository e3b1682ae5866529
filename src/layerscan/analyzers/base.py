"""Analyzer contract (DESIGN.md §2).

An analyzer declares which files it wants (``files``: names, paths, extensions,
directories, executables — indexed once by ``analyzers.index``, so a tar member
is offered only to the analyzers its name can concern), may refine that per file
(``wants``), and turns the bytes of one such file into an :class:`AnalysisResult`
(``analyze``). It knows nothing about
layers: the walker feeds it files, the squash step attributes its packages to
layers. Each analyzer module also keeps a pure ``parse(...)`` function that is
unit-tested on real files.

Analyzers must never raise on bad input: a file they cannot read becomes an
``Unknown`` in the result (the walker also guards against exceptions, turning
them into unknowns, but an analyzer should give a precise reason itself).

Sibling files: an analyzer whose format is only half the story (a yarn.lock's dev
dependencies are named in the package.json beside it) declares the basenames it wants
from the same directory (``siblings``). The walker hands those present in the image's
final view (same layer or a lower one not deleted since; ``max_sibling_size`` bytes at
most each, ``limits.MAX_SIBLING_BYTES`` unless the analyzer says otherwise) to
``analyze_with_siblings``; without them it calls ``analyze`` as always.
"""

from __future__ import annotations

import stat
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import BinaryIO, ClassVar, Mapping

from layerscan.limits import MAX_SIBLING_BYTES
from layerscan.model import OSInfo, Package, Unknown

MiB = 1024 * 1024
STREAM_MIN_SIZE = 8 * MiB  # files this large reach a streaming analyzer as a stream, not bytes
SPOOL_IN_MEMORY = 8 * MiB  # a spooled stream (tar member, nested archive) larger than this goes to a temp file

# Scan modes: "image" and "rootfs" read installed metadata; "fs" reads lockfiles
# (as Trivy does: image mode does not report a lockfile left in the image).
INSTALLED = frozenset({"image", "rootfs"})
LOCKFILE = frozenset({"fs"})
ALL_MODES = frozenset({"image", "rootfs", "fs"})


@dataclass(frozen=True)
class FileSpec:
    """The files an analyzer is offered: any member matching one of these; ``wants`` then
    decides. Names and extensions compare lowercased; paths and directories exactly."""

    names: frozenset[str] = frozenset()  # basenames in any directory ("package-lock.json")
    paths: frozenset[str] = frozenset()  # whole paths from the root ("lib/apk/db/installed")
    dirs: frozenset[str] = frozenset()  # every file directly inside ("var/lib/dpkg/status.d")
    extensions: frozenset[str] = frozenset()  # the basename's last ".ext", without the dot ("jar")
    executables: bool = False  # every executable regular file (binary analyzers)
    # basenames starting with one of these (at least PREFIX_KEY characters: "libpython" for
    # "libpython3.11.so.1.0"), for versioned file names no list of names can enumerate
    prefixes: frozenset[str] = frozenset()

    @property
    def empty(self) -> bool:
        return not (self.names or self.paths or self.dirs or self.extensions or self.executables or self.prefixes)

    def describe(self) -> str:
        """One line for docs/analyzers.md."""
        parts = [*(f"`{n}`" for n in sorted(self.names)), *(f"`/{p}`" for p in sorted(self.paths)),
                 *(f"`/{d}/*`" for d in sorted(self.dirs)), *(f"`*.{e}`" for e in sorted(self.extensions)),
                 *(f"`{p}*`" for p in sorted(self.prefixes))]
        if self.executables:
            parts.append("executable files")
        return ", ".join(parts)


PREFIX_KEY = 3  # the shortest basename prefix a FileSpec may declare (the index looks prefixes up by it)


def spec(*, names: tuple[str, ...] = (), paths: tuple[str, ...] = (), dirs: tuple[str, ...] = (),
         extensions: tuple[str, ...] = (), executables: bool = False, prefixes: tuple[str, ...] = ()) -> FileSpec:
    if any(len(p) < PREFIX_KEY for p in prefixes):
        raise ValueError(f"basename prefixes need at least {PREFIX_KEY} characters: {prefixes}")
    return FileSpec(frozenset(n.lower() for n in names), frozenset(paths), frozenset(dirs),
                    frozenset(e.lower().lstrip(".") for e in extensions), executables,
                    frozenset(p.lower() for p in prefixes))


@dataclass(frozen=True)
class AnalysisResult:
    packages: tuple[Package, ...] = ()
    os: OSInfo | None = None
    # package name -> files it installed, for package DBs whose file lists live
    # in separate files (dpkg info/*.list). Keys are "<type>:<name>".
    owned_files: tuple[tuple[str, tuple[str, ...]], ...] = ()
    unknowns: tuple[Unknown, ...] = ()

    @property
    def empty(self) -> bool:
        return not (self.packages or self.os or self.owned_files or self.unknowns)


class Analyzer(ABC):
    name: ClassVar[str]  # stable kebab-case, e.g. "dpkg", "python-dist-info"
    version: ClassVar[int]  # bump when output changes (part of the layer-cache key)
    modes: ClassVar[frozenset[str]] = INSTALLED
    max_file_size: ClassVar[int] = 64 * MiB  # larger files become an Unknown, unread
    files: ClassVar[FileSpec] = FileSpec()  # what it is offered (see FileSpec); empty = nothing
    description: ClassVar[str] = ""  # the format, one line, for docs/analyzers.md
    # Trivy's result Type of the packages it finds ("pip", "yarn", "jar", "gobinary", an entry of
    # an ``ecosystems`` record's result_types); "" for OS package databases (their result is
    # typed by the distribution) and os-release. The report groups packages by it (found_by).
    result_type: ClassVar[str] = ""
    streams: ClassVar[bool] = False  # large files go to analyze_stream (see there)
    # basenames of files in the same directory this analyzer reads too, when present
    # ("package.json" beside a "yarn.lock"); see analyze_with_siblings
    siblings: ClassVar[frozenset[str]] = frozenset()
    max_sibling_size: ClassVar[int] = MAX_SIBLING_BYTES  # a larger sibling is left out (an Unknown says so)
    # its packages only name what a file is (binary classifiers): where an OS package owns the file,
    # the OS package is that package and the squash step drops this one (instead of marking os_owner)
    superseded_by_os_package: ClassVar[bool] = False

    def wants(self, path: str, mode: int, size: int) -> bool:
        """Refine ``files`` for one offered file. path: normalised, relative to the image
        root, no leading '/' (e.g. 'var/lib/dpkg/status'); mode: st_mode bits (regular
        files only are offered)."""
        return True

    @abstractmethod
    def analyze(self, path: str, data: bytes) -> AnalysisResult:
        """Parse one wanted file. Never raises for bad content."""

    def keeps_sibling(self, path: str) -> bool:
        """Could the sibling file at ``path`` (a basename in ``siblings``) be paired with a file
        of this analyzer's? An image layer keeps the content of those only (a package.json
        under node_modules/ never sits beside a yarn.lock this analyzer reads)."""
        return True

    def analyze_with_siblings(self, path: str, data: bytes, siblings: Mapping[str, bytes]) -> AnalysisResult:
        """``analyze`` given the declared ``siblings`` found beside ``path`` (basename -> content;
        only those present, never empty). Never raises for bad content in either."""
        return self.analyze(path, data)

    def analyze_stream(self, path: str, stream: BinaryIO) -> AnalysisResult:
        """Parse one wanted file given as a seekable binary stream. The walker calls it instead
        of ``analyze`` for files of at least ``STREAM_MIN_SIZE`` bytes when ``streams`` is set
        (archives read through their central directory: the file never sits whole in memory)."""
        return self.analyze(path, stream.read())


def sibling_path(path: str, name: str) -> str:
    """The path of file ``name`` in the directory of ``path`` ('app/yarn.lock' -> 'app/package.json')."""
    head = path.rpartition("/")[0]
    return f"{head}/{name}" if head else name


def is_executable(mode: int) -> bool:
    return bool(mode & (stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH))


FILE_TOO_LARGE = "file too large"  # the reason's prefix when a file exceeds max_file_size (unread)


def too_large(path: str, size: int, analyzer: "Analyzer") -> Unknown:
    """The Unknown for a file larger than ``analyzer.max_file_size``."""
    return Unknown(path=path, reason=f"{FILE_TOO_LARGE} ({size} bytes, limit {analyzer.max_file_size})",
                   analyzer=analyzer.name)


def unknown(path: str, reason: str, analyzer: str) -> AnalysisResult:
    return AnalysisResult(unknowns=(Unknown(path=path, reason=reason, analyzer=analyzer),))
