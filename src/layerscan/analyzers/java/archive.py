"""Java archives (.jar/.war/.ear/.par/.jpi/.hpi), nested archives included.

Identity per archive: every ``pom.properties`` inside it (shaded jars carry
several, one package each); when none describes the archive itself, the
``MANIFEST.MF`` attributes, then the file name. Nested archives (Spring Boot
``BOOT-INF/lib``, ``WEB-INF/lib``, ``lib/`` of ears, ``META-INF/jars``...) are
read recursively from memory and reported with ``outer.jar!/inner/path.jar``.

Hostile archives are bounded: nesting depth, members per archive, bytes per
member, compression ratio, total bytes inflated per top-level archive, number
of nested archives, and self-nesting (an archive containing its own bytes). A
breach becomes an :class:`Unknown` with the reason; the packages found before
it are kept.

Modes: all (image, rootfs and fs), as Trivy does: a jar in a source tree is an
artifact that ships, not a lockfile.
"""

from __future__ import annotations

import hashlib
import io
import posixpath
import zipfile
from dataclasses import dataclass, field

from layerscan.analyzers.base import ALL_MODES, AnalysisResult, Analyzer, MiB, spec
from layerscan.analyzers.java.coords import Coordinates, maven_package
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

    def unknown(self, path: str, reason: str) -> None:
        self.unknowns.append(Unknown(path=path, reason=reason, analyzer=NAME))


def is_archive_name(path: str) -> bool:
    return path.lower().endswith(ARCHIVE_SUFFIXES)


def parse(path: str, data: bytes, limits: Limits = Limits()) -> AnalysisResult:
    """Pure parser: packages in the archive ``data`` (named ``path``) and its nested archives."""
    walk = _Walk(limits)
    _walk_archive(walk, path, data, ancestors=())
    return AnalysisResult(packages=tuple(walk.packages), unknowns=tuple(walk.unknowns))


def _walk_archive(walk: _Walk, path: str, data: bytes, ancestors: tuple[str, ...]) -> None:
    digest = hashlib.sha256(data).hexdigest()
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
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            _walk_members(walk, path, zf, ancestors + (digest,))
    except _LimitExceeded as exc:
        walk.unknown(path, str(exc))
    except (zipfile.BadZipFile, zipfile.LargeZipFile, NotImplementedError, EOFError,
            OSError, ValueError, RuntimeError) as exc:
        walk.unknown(path, f"unreadable archive: {exc}")


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
            inner = _read(walk, zf, info, walk.limits.max_nested_bytes)
        except _LimitExceeded as exc:
            walk.unknown(inner_path, str(exc))
            if walk.inflated >= walk.limits.max_total_bytes:
                raise
            continue
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


def _read(walk: _Walk, zf: zipfile.ZipFile, info: zipfile.ZipInfo, max_bytes: int) -> bytes:
    """Read one member after checking its declared size, ratio and the walk's budget.
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
    with zf.open(info) as member:
        return member.read(info.file_size)


class JavaArchiveAnalyzer(Analyzer):
    name = NAME
    version = 1
    files = spec(extensions=ARCHIVE_SUFFIXES)
    modes = ALL_MODES
    max_file_size = 512 * MiB

    def wants(self, path: str, mode: int, size: int) -> bool:
        return is_archive_name(path)

    def analyze(self, path: str, data: bytes) -> AnalysisResult:
        return parse(path, data)
