"""``Cargo.lock`` (fs mode): every ``[[package]]`` with its name and version.

Packages without a ``source`` are workspace/path crates (the project's own
code): listed with ``is_application`` and recorded in ``extra``; registry and
git sources are kept in ``extra`` as ``source``.
"""

from __future__ import annotations

from typing import ClassVar

from layerscan.analyzers.base import FileSpec, MiB, spec
from layerscan.analyzers.langbase import FileAnalyzer, Parsed, ParseError, basename
from layerscan.analyzers.rust.names import cargo_package
from layerscan.model import Package
from layerscan.textload import LoadError, parse_toml

NAME = "cargo-lock"


def parse(data: bytes) -> Parsed:
    try:
        doc = parse_toml(data)
    except LoadError as exc:
        raise ParseError(f"invalid Cargo.lock: {exc.detail}") from None
    entries = doc.get("package", [])
    if not isinstance(entries, list):
        raise ParseError("invalid Cargo.lock: 'package' is not an array of tables")
    packages: list[Package] = []
    skipped = 0
    for entry in entries:
        name = entry.get("name") if isinstance(entry, dict) else None
        version = entry.get("version") if isinstance(entry, dict) else None
        if not isinstance(name, str) or not isinstance(version, str):
            skipped += 1
            continue
        source = entry.get("source", "")
        source = source if isinstance(source, str) else ""
        packages.append(cargo_package(
            name, version, file_path="", found_by=NAME, evidence="Cargo.lock",
            is_application=not source, extra=(("source", source),) if source else (("source", "local"),),
        ))
    problems = (f"{skipped} [[package]] entries without a name or version",) if skipped else ()
    return Parsed(packages=tuple(packages), problems=problems)


class CargoLockAnalyzer(FileAnalyzer):
    name: ClassVar[str] = NAME
    version: ClassVar[int] = 1
    description: ClassVar[str] = "Cargo.lock: the locked crates"
    result_type: ClassVar[str] = "cargo"
    files: ClassVar[FileSpec] = spec(names=("Cargo.lock",))
    max_file_size: ClassVar[int] = 64 * MiB

    def matches(self, path: str) -> bool:
        return basename(path) == "Cargo.lock"

    def parse_file(self, path: str, data: bytes) -> Parsed:
        return parse(data)
