"""Rust binaries built with cargo-auditable: the ``.dep-v0`` section (ELF, PE;
``__dep_v0`` on Mach-O) holds zlib-compressed JSON ``{"packages": [...]}``.

Every crate is reported. The root crate (``"root": true``) is the binary's own
crate: ``is_application``. Build-time crates (``"kind": "build"``: proc
macros, build scripts) are not linked in: reported with ``dev=True`` and
``extra`` ``("cargo_kind", "build")`` so the matcher can tell.

Modes: all (a binary in a source tree ships just the same).
"""

from __future__ import annotations

import zlib
from typing import Any, ClassVar

from layerscan.analyzers.base import ALL_MODES, FileSpec, MiB, is_executable, spec
from layerscan.analyzers.binfmt import BinaryFormatError, open_executable, sniff
from layerscan.analyzers.langbase import FileAnalyzer, Parsed, ParseError
from layerscan.analyzers.rust.names import cargo_package
from layerscan.model import Package
from layerscan.textload import LoadError, parse_json

NAME = "rust-binary"
SECTION_NAMES = (".dep-v0", "__dep_v0")
MAX_JSON = 16 * MiB


class AuditDataError(ValueError):
    pass


def read_audit_json(data: bytes, max_json: int = MAX_JSON) -> dict[str, Any] | None:
    """The decoded dependency JSON, or None when the binary has no ``.dep-v0`` section."""
    exe = open_executable(data)
    section = exe.section(*SECTION_NAMES)
    if section is None:
        return None
    raw = data[section.offset : section.offset + section.size]
    if len(raw) != section.size:
        raise AuditDataError("section runs past the end of the file")
    inflater = zlib.decompressobj()
    try:
        text = inflater.decompress(raw, max_json)
    except zlib.error as exc:
        raise AuditDataError(f"bad zlib data: {exc}") from exc
    if inflater.unconsumed_tail:
        raise AuditDataError(f"dependency data inflates beyond {max_json} bytes")
    try:
        doc = parse_json(text)
    except LoadError as exc:
        raise AuditDataError(f"bad JSON: {exc.detail}") from exc
    if not isinstance(doc, dict) or not isinstance(doc.get("packages"), list):
        raise AuditDataError("JSON has no 'packages' array")
    return doc


def parse(data: bytes, max_json: int = MAX_JSON) -> Parsed:
    try:
        doc = read_audit_json(data, max_json)
    except (AuditDataError, BinaryFormatError) as exc:
        raise ParseError(f"cargo-auditable data unreadable: {exc}") from None
    if doc is None:
        return Parsed()
    packages: list[Package] = []
    for entry in doc["packages"]:
        if not isinstance(entry, dict):
            continue
        name, version = entry.get("name"), entry.get("version")
        if not isinstance(name, str) or not isinstance(version, str):
            continue
        build = entry.get("kind") == "build"
        packages.append(cargo_package(
            name, version, file_path="", found_by=NAME, evidence=".dep-v0",
            is_application=entry.get("root") is True, dev=build,
            extra=(("cargo_kind", "build"),) if build else (),
        ))
    return Parsed(packages=tuple(packages))


class RustBinaryAnalyzer(FileAnalyzer):
    name: ClassVar[str] = NAME
    version: ClassVar[int] = 1
    description: ClassVar[str] = "Rust executables built with cargo-auditable: the embedded dependency list"
    result_type: ClassVar[str] = "rustbinary"
    files: ClassVar[FileSpec] = spec(executables=True, extensions=("exe", "dll"))
    modes: ClassVar[frozenset[str]] = ALL_MODES
    max_file_size: ClassVar[int] = 256 * MiB

    def matches(self, path: str) -> bool:
        return path.lower().endswith((".exe", ".dll"))

    def wants(self, path: str, mode: int, size: int) -> bool:
        return (is_executable(mode) or self.matches(path)) and size > 1024

    def parse_file(self, path: str, data: bytes) -> Parsed:
        return parse(data) if sniff(data) else Parsed()
