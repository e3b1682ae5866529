"""Java archives (.jar/.war/.ear/.par/.jpi/.hpi), nested archives included.

Identity per archive: every ``pom.properties`` inside it (shaded jars carry
several, one package each); when none describes the archive itself, the
``MANIFEST.MF`` attributes, then the file name. Nested archives (Spring Boot
``BOOT-INF/lib``, ``WEB-INF/lib``, ``lib/`` of ears, ``META-INF/jars``...) are
read recursively and reported with ``outer.jar!/inner/path.jar``.

Only the members named above are read, through the central directory, each as
a bounded stream: a large jar reaches the analyzer as a stream (``streams``),
never whole in memory, and a nested archive is spooled (in memory up to
``SPOOL_IN_MEMORY``, else to an anonymous temp file) while it is walked.

Hostile archives are bounded: nesting depth, members per archive and bytes of
the central directory (checked from the end record before it is parsed), bytes
per member, compression ratio, total bytes inflated per top-level archive,
number of nested archives, and self-nesting (an archive containing its own
bytes). A breach becomes an :class:`Unknown` with the reason; the packages
found before it are kept.

Modes: all (image, rootfs and fs), as Trivy does: a jar in a source tree is an
artifact that ships, not a lockfile.
"""

from __future__ import annotations

import hashlib
import io
import posixpath
import shutil
import tempfile
import zipfile
from dataclasses import dataclass, field
from typing import BinaryIO, cast

from layerscan.analyzers.base import ALL_MODES, SPOOL_IN_MEMORY, AnalysisResult, Analyzer, MiB, spec
from layerscan.analyzers.java.coords import Coordinates, maven_package
from layerscan.analyzers.zipbound import central_directory
from layerscan.analyzers.java.identity import (
    ARCHIVE_SUFFIXES,
    claims_archive,
    from_filename,
    from_manifest,
    from_pom_properties,
)
from layerscan.model import Package, Unknown

NAME = "java-archive"


@dataclass(frozen=True)
class Limits:
    max_depth: int = 16
    max_members: int = 200_000
    max_metadata_bytes: int = 1 * MiB  # one pom.properties / MANIFEST.MF
    max_nested_bytes: int = 256 * MiB  # one nested archive, inflated
    max_total_bytes: int = 1024 * MiB  # everything inflated under one top-level archive
    max_ratio: int = 200  # inflated/compressed, for members above ratio_floor bytes
    ratio_floor: int = 1 * MiB
    max_archives: int = 10_000  # nested archives opened under one top-level archive
    # bytes of one archive's member list (~100 per member in real jars; zipfile holds up to
    # ~11x that in objects), and of the member lists open at once (an archive and its ancestors)
    max_central_directory: int = 12 * MiB
    max_open_directories: int = 16 * MiB


class _LimitExceeded(Exception):
    pass


@dataclass
class _Walk:
    """Mutable state of one top-level archive walk (budgets, results)."""

    limits: Limits
    packages: list[Package] = field(default_factory=list)
    unknowns: list[Unknown] = field(default_factory=list)
    inflated: int = 0
    archives: int = 0
    open_directories: int = 0  # central-directory bytes of the archives being walked

    def unknown(self, path: str, reason: str) -> None:
        self.unknowns.append(Unknown(path=path, reason=reason, analyzer=NAME))


def is_archive_name(path: str) -> bool:
    return path.lower().endswith(ARCHIVE_SUFFIXES)


def parse(path: str, data: bytes | BinaryIO, limits: Limits = Limits()) -> AnalysisResult:
    """Pure parser: packages in the archive ``data`` (bytes, or a seekable binary stream) named
    ``path``, and in its nested archives."""
    walk = _Walk(limits)
    _walk_archive(walk, path, data, ancestors=())
    return AnalysisResult(packages=tuple(walk.packages), unknowns=tuple(walk.unknowns))


def _sha256(stream: BinaryIO) -> str:
    stream.seek(0)
    digest = hashlib.sha256()
    for chunk in iter(lambda: stream.read(1 << 20), b""):
        digest.update(chunk)
    return digest.hexdigest()


def _check_central_directory(stream: BinaryIO, limits: Limits, already_open: int) -> int:
    """Members and central-directory bytes from the end records, before zipfile builds an
    object per member; the central directory's size. A missing or damaged record is left
    for zipfile to report."""
    found = central_directory(stream)
    if found is None:
        return 0
    if found.members > limits.max_members:
        raise _LimitExceeded(f"archive has {found.members} members (limit {limits.max_members})")
    if found.size > limits.max_central_directory:
        raise _LimitExceeded(f"archive's member list is {found.size} bytes (limit {limits.max_central_directory})")
    if already_open + found.size > limits.max_open_directories:
        raise _LimitExceeded(f"member lists of nested archives above {limits.max_open_directories} bytes")
    return found.size


def _walk_archive(walk: _Walk, path: str, data: bytes | BinaryIO, ancestors: tuple[str, ...]) -> None:
    stream = io.BytesIO(data) if isinstance(data, bytes) else data
    digest = _sha256(stream)
    if digest in ancestors:
        walk.unknown(path, "self-nesting archive: it contains a copy of an enclosing archive")
        return
    if len(ancestors) >= walk.limits.max_depth:
        walk.unknown(path, f"archive nesting deeper than {walk.limits.max_depth} levels")
        return
    walk.archives += 1
    if walk.archives > walk.limits.max_archives:
        walk.unknown(path, f"more than {walk.limits.max_archives} nested archives")
        return
    directory = 0
    try:
        directory = _check_central_directory(stream, walk.limits, walk.open_directories)
        walk.open_directories += directory
        with zipfile.ZipFile(stream) as zf:
            _walk_members(walk, path, zf, ancestors + (digest,))
    except _LimitExceeded as exc:
        walk.unknown(path, str(exc))
    except (zipfile.BadZipFile, zipfile.LargeZipFile, NotImplementedError, EOFError,
            OSError, ValueError, RuntimeError) as exc:
        walk.unknown(path, f"unreadable archive: {exc}")
    finally:
        walk.open_directories -= directory


def _walk_members(walk: _Walk, path: str, zf: zipfile.ZipFile, ancestors: tuple[str, ...]) -> None:
    infos = zf.infolist()
    if len(infos) > walk.limits.max_members:
        raise _LimitExceeded(f"archive has {len(infos)} members (limit {walk.limits.max_members})")
    _identify(walk, path, zf, infos)
    for info in infos:
        if info.is_dir() or not is_archive_name(info.filename):
            continue
        inner_path = f"{path}!/{info.filename}"
        try:
            inner = _spool(walk, zf, info, walk.limits.max_nested_bytes)
        except _LimitExceeded as exc:
            walk.unknown(inner_path, str(exc))
            if walk.inflated >= walk.limits.max_total_bytes:
                raise
            continue
        with inner:
            _walk_archive(walk, inner_path, inner, ancestors)


def _identify(walk: _Walk, path: str, zf: zipfile.ZipFile, infos: list[zipfile.ZipInfo]) -> None:
    found: list[tuple[Coordinates, str]] = []
    for info in infos:
        if posixpath.basename(info.filename) == "pom.properties" and not info.is_dir():
            coords = from_pom_properties(_read_text(walk, path, zf, info))
            if coords is not None:
                found.append((coords, "pom.properties"))
    if not any(claims_archive(coords, path) for coords, _ in found):
        own = _own_identity(walk, path, zf)
        if own is not None:
            found.append(own)
    seen: set[tuple[str, str]] = set()
    for coords, evidence in found:
        if (coords.name, coords.version) in seen:
            continue
        seen.add((coords.name, coords.version))
        walk.packages.append(
            maven_package(coords, file_path=path, found_by=NAME, evidence=evidence)
        )


def _own_identity(walk: _Walk, path: str, zf: zipfile.ZipFile) -> tuple[Coordinates, str] | None:
    try:
        info = zf.getinfo("META-INF/MANIFEST.MF")
    except KeyError:
        info = None
    if info is not None:
        coords = from_manifest(_read_text(walk, path, zf, info))
        if coords is not None:
            return coords, "MANIFEST.MF"
    coords = from_filename(path)
    return (coords, "filename") if coords is not None else None


def _read_text(walk: _Walk, path: str, zf: zipfile.ZipFile, info: zipfile.ZipInfo) -> str:
    try:
        return _read(walk, zf, info, walk.limits.max_metadata_bytes).decode("utf-8", "replace")
    except _LimitExceeded as exc:
        walk.unknown(f"{path}!/{info.filename}", str(exc))
        return ""


def _admit(walk: _Walk, info: zipfile.ZipInfo, max_bytes: int) -> None:
    """Check one member's declared size, ratio and the walk's budget before it is read.
    zipfile stops at the declared size, so a lying header cannot inflate more."""
    limits = walk.limits
    if info.file_size > max_bytes:
        raise _LimitExceeded(f"member {info.filename} is {info.file_size} bytes (limit {max_bytes})")
    if info.file_size > limits.ratio_floor and info.file_size > limits.max_ratio * max(info.compress_size, 1):
        raise _LimitExceeded(
            f"member {info.filename} compression ratio above {limits.max_ratio} (zip bomb?)"
        )
    if walk.inflated + info.file_size > limits.max_total_bytes:
        walk.inflated = limits.max_total_bytes
        raise _LimitExceeded(f"more than {limits.max_total_bytes} bytes inflated in one archive")
    walk.inflated += info.file_size


def _read(walk: _Walk, zf: zipfile.ZipFile, info: zipfile.ZipInfo, max_bytes: int) -> bytes:
    """One (small) member's content, admitted first."""
    _admit(walk, info, max_bytes)
    with zf.open(info) as member:
        return member.read(info.file_size)


def _spool(walk: _Walk, zf: zipfile.ZipFile, info: zipfile.ZipInfo, max_bytes: int) -> BinaryIO:
    """One member (a nested archive), admitted first, as a rewound seekable stream: in memory
    up to ``SPOOL_IN_MEMORY`` bytes, else in an anonymous temp file. The caller closes it."""
    _admit(walk, info, max_bytes)
    spool = tempfile.SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY, prefix="layerscan-jar-")
    try:
        with zf.open(info) as member:
            shutil.copyfileobj(member, spool, 1 << 20)
        spool.seek(0)
    except BaseException:
        spool.close()
        raise
    return cast(BinaryIO, spool)


class JavaArchiveAnalyzer(Analyzer):
    name = NAME
    version = 1
    description = "Java archives (JAR, WAR, EAR, ...): pom.properties, MANIFEST.MF or the name; nested ones too"
    result_type = "jar"
    files = spec(extensions=ARCHIVE_SUFFIXES)
    modes = ALL_MODES
    max_file_size = 512 * MiB
    streams = True

    def wants(self, path: str, mode: int, size: int) -> bool:
        return is_archive_name(path)

    def analyze(self, path: str, data: bytes) -> AnalysisResult:
        return parse(path, data)

    def analyze_stream(self, path: str, stream: BinaryIO) -> AnalysisResult:
        return parse(path, stream)
