"""apk installed database (Alpine, Wolfi, Chainguard): ``lib/apk/db/installed``.

One record per package, records separated by blank lines, one ``K:value`` a
line: ``P`` name, ``V`` version, ``A`` arch, ``o`` origin (the source
package, matched against the secdb), ``L`` licence, ``F`` a directory and the
``R`` lines after it the files in that directory.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import ClassVar

from layerscan.analyzers.base import INSTALLED, FileSpec, MiB, spec
from layerscan.analyzers.langbase import FileAnalyzer, Parsed
from layerscan.analyzers.os.purl import os_purl
from layerscan.analyzers.os.records import database_result
from layerscan.model import Package

ANALYZER = "apk"
DB_PATH = "lib/apk/db/installed"


@dataclass
class _Record:
    line: int
    fields: dict[str, str] = field(default_factory=dict)
    files: list[str] = field(default_factory=list)
    directory: str = ""
    problems: list[str] = field(default_factory=list)

    def add(self, lineno: int, key: str, value: str) -> None:
        if key == "F":
            self.directory = value.strip("/")
        elif key == "R":
            name = value.strip("/")
            if name:
                self.files.append(f"{self.directory}/{name}" if self.directory else name)
        elif key in "PVAoL":
            self.fields.setdefault(key, value)


def _records(data: bytes) -> Iterator[_Record]:
    record: _Record | None = None
    for lineno, raw in enumerate(data.split(b"\n"), start=1):
        line = raw.rstrip(b"\r").decode("utf-8", errors="replace")
        if not line.strip():
            if record is not None:
                yield record
                record = None
            continue
        if record is None:
            record = _Record(line=lineno)
        if len(line) < 2 or line[1] != ":":
            if len(record.problems) < 3:
                record.problems.append(f"line {lineno}: not a 'K:value' line")
            continue
        record.add(lineno, line[0], line[2:].strip())
    if record is not None:
        yield record


def record_package(record: _Record, path: str = "") -> Package | str:
    name, version = record.fields.get("P", ""), record.fields.get("V", "")
    if not name or any(c.isspace() for c in name):
        return "record without a valid P: (name)"
    if not version or any(c.isspace() for c in version):
        return f"package {name!r} has no valid V: (version)"
    arch = record.fields.get("A", "")
    license_text = record.fields.get("L", "")
    return Package(
        name=name,
        version=version,
        type="apk",
        purl=os_purl("apk", name, version, arch),
        arch=arch,
        src_name=record.fields.get("o", "") or name,
        src_version=version,
        file_path=path,
        installed_files=tuple(record.files),
        licenses=(license_text,) if license_text else (),
        found_by=ANALYZER,
    )


def parse(data: bytes) -> Parsed:
    records = ((r.line, record_package(r), r.problems) for r in _records(data))
    return database_result(records, "record")


class ApkAnalyzer(FileAnalyzer):
    name: ClassVar[str] = ANALYZER
    version: ClassVar[int] = 1
    description: ClassVar[str] = "Alpine apk installed database"
    files: ClassVar[FileSpec] = spec(paths=(DB_PATH,))
    modes: ClassVar[frozenset[str]] = INSTALLED
    max_file_size: ClassVar[int] = 128 * MiB

    def matches(self, path: str) -> bool:
        return path == DB_PATH

    def parse_file(self, path: str, data: bytes) -> Parsed:
        return parse(data)
