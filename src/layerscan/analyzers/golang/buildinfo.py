"""Go executables (ELF, PE, Mach-O): the build information the linker embeds.

The ``\\xff Go buildinf:`` header holds the toolchain version and the module
info (``path``/``mod``/``dep``/``=>`` lines). Go 1.18+ stores both inline as
varint-prefixed strings; older toolchains store pointers to Go string headers,
resolved here through the executable's sections. Reported: the main module
(version ``(devel)`` is reported as no version and ``is_application``, unless
``-ldflags "-X main.version=v1.0.0"`` is recorded in the build settings, in
which case that version is used and the module is matched, as Trivy does), every
dependency with its ``=>`` replacement applied as go.mod's analyzer applies it
(the new module at its version, the original in ``evidence``; a directory keeps
the original path, without a version), and the toolchain as
``stdlib`` (``go1.21.1`` -> ``v1.21.1``).

Modes: all. A Go binary in a source tree (``bin/``) ships just the same.
"""

from __future__ import annotations

from typing import ClassVar, Literal

import re

from layerscan.analyzers.base import ALL_MODES, FileSpec, MiB, is_executable, spec
from layerscan.analyzers.binfmt import BinaryFormatError, Executable, open_executable, sniff
from layerscan.analyzers.golang.names import STDLIB, apply_replacement, go_package, toolchain_version
from layerscan.analyzers.langbase import FileAnalyzer, Parsed, ParseError
from layerscan.model import Package

NAME = "go-binary"
MAGIC = b"\xff Go buildinf:"
_MAX_CANDIDATES = 16
_MAX_STRING = 4 * MiB
_LDFLAGS_VERSION = re.compile(rb"-X[ =](?:main|[\w./-]+/version)\.(?:version|Version)=(v?\d[\w.+-]*)")


class BuildInfoError(ValueError):
    pass


def parse(data: bytes) -> Parsed:
    """Pure parser. A binary without Go build info yields an empty result."""
    if MAGIC not in data:
        return Parsed()
    try:
        go_version, modinfo = read_buildinfo(data)
    except (BuildInfoError, BinaryFormatError) as exc:
        raise ParseError(f"Go build info unreadable: {exc}") from None
    return Parsed(packages=tuple(_packages(go_version, modinfo)))


def read_buildinfo(data: bytes) -> tuple[str, str]:
    """(toolchain version, modinfo text) from the first valid build-info header."""
    start, last_error = 0, "no build info header"
    for _ in range(_MAX_CANDIDATES):
        at = data.find(MAGIC, start)
        if at < 0:
            break
        start = at + 1
        try:
            return _decode_header(data, at)
        except (BuildInfoError, BinaryFormatError, IndexError) as exc:
            last_error = str(exc)
    raise BuildInfoError(last_error)


def _decode_header(data: bytes, at: int) -> tuple[str, str]:
    header = data[at : at + 32]
    if len(header) < 32:
        raise BuildInfoError("truncated build info header")
    ptr_size, flags = header[14], header[15]
    if flags & 2:
        version, end = _varint_string(data, at + 32)
        modinfo, _ = _varint_string(data, end)
    else:
        if ptr_size not in (4, 8):
            raise BuildInfoError(f"bad pointer size {ptr_size}")
        exe = open_executable(data)
        order: Literal["big", "little"] = "big" if flags & 1 else "little"
        version = _pointer_string(data, exe, int.from_bytes(header[16 : 16 + ptr_size], order), ptr_size, order)
        modinfo_at = int.from_bytes(header[16 + ptr_size : 16 + 2 * ptr_size], order)
        modinfo = _pointer_string(data, exe, modinfo_at, ptr_size, order)
    if not version.startswith("go"):
        raise BuildInfoError(f"unexpected toolchain version {version[:40]!r}")
    return version, _strip_sentinels(modinfo)


def _varint_string(data: bytes, pos: int) -> tuple[str, int]:
    length, shift = 0, 0
    while True:
        if pos >= len(data) or shift > 63:
            raise BuildInfoError("truncated varint")
        byte = data[pos]
        pos += 1
        length |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            break
    if length > _MAX_STRING or pos + length > len(data):
        raise BuildInfoError("string length out of bounds")
    return data[pos : pos + length].decode("utf-8", "replace"), pos + length


def _pointer_string(data: bytes, exe: Executable, addr: int, ptr_size: int, order: str) -> str:
    string_header = exe.read_at(data, addr, 2 * ptr_size)
    ptr = int.from_bytes(string_header[:ptr_size], order)  # type: ignore[arg-type]
    length = int.from_bytes(string_header[ptr_size:], order)  # type: ignore[arg-type]
    if length > _MAX_STRING:
        raise BuildInfoError("string length out of bounds")
    return exe.read_at(data, ptr, length).decode("utf-8", "replace") if length else ""


def _strip_sentinels(modinfo: str) -> str:
    """Module info is framed by 16-byte sentinels."""
    if len(modinfo) >= 33 and modinfo[-17] == "\n":
        return modinfo[16:-16]
    return modinfo


def _packages(go_version: str, modinfo: str) -> list[Package]:
    packages: list[Package] = []
    main_path, main_version = "", ""
    lines = modinfo.splitlines()
    for i, line in enumerate(lines):
        fields = line.split("\t")
        if fields[0] == "mod" and len(fields) >= 3:
            main_path, main_version = fields[1], fields[2]
        elif fields[0] == "dep" and len(fields) >= 3:
            following = lines[i + 1].split("\t") if i + 1 < len(lines) else []
            if following and following[0] == "=>" and len(following) >= 3:
                built = apply_replacement(fields[1], fields[2], following[1], following[2], "go buildinfo")
                packages.append(go_package(built.name, built.version, file_path="", found_by=NAME,
                                           evidence=built.evidence,
                                           version_unknown_reason=built.version_unknown_reason))
            else:
                packages.append(go_package(fields[1], fields[2], file_path="", found_by=NAME,
                                           evidence="go buildinfo"))
    stdlib = toolchain_version(go_version)
    if stdlib:
        packages.insert(0, go_package(STDLIB, stdlib, file_path="", found_by=NAME, evidence="go buildinfo",
                                      extra=(("go_toolchain", go_version),)))
    if main_path:
        evidence = "go buildinfo"
        if main_version in ("", "(devel)"):
            main_version = ldflags_version(modinfo)
            evidence = "go buildinfo -ldflags -X" if main_version else evidence
        packages.insert(0, go_package(main_path, main_version, file_path="", found_by=NAME,
                                      evidence=evidence, is_application=not main_version))
    return packages


def ldflags_version(modinfo: str) -> str:
    """Version passed with ``-ldflags "-X main.version=v1.0.0"`` (recorded in build settings)."""
    match = _LDFLAGS_VERSION.search(modinfo.encode())
    return match.group(1).decode() if match else ""


class GoBinaryAnalyzer(FileAnalyzer):
    name: ClassVar[str] = NAME
    version: ClassVar[int] = 2
    description: ClassVar[str] = "Go executables: the embedded build info (main module, dependencies, toolchain)"
    result_type: ClassVar[str] = "gobinary"
    files: ClassVar[FileSpec] = spec(executables=True)
    modes: ClassVar[frozenset[str]] = ALL_MODES
    max_file_size: ClassVar[int] = 256 * MiB

    def matches(self, path: str) -> bool:
        return False  # chosen by mode, not name (wants)

    def wants(self, path: str, mode: int, size: int) -> bool:
        return is_executable(mode) and size > 1024

    def parse_file(self, path: str, data: bytes) -> Parsed:
        return parse(data) if sniff(data) else Parsed()
