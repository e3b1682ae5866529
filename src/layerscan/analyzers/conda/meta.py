"""Installed conda packages: ``conda-meta/<name>-<version>-<build>.json`` (image/rootfs)."""

from __future__ import annotations

import re
from typing import ClassVar

from layerscan.analyzers.base import INSTALLED, FileSpec, MiB, spec
from layerscan.analyzers.conda.names import conda_package
from layerscan.analyzers.langbase import FileAnalyzer, Parsed, ParseError
from layerscan.textload import LoadError, parse_json

NAME = "conda-meta"
_PATH_RE = re.compile(r"(^|/)conda-meta/[^/]+\.json$")


def parse(data: bytes) -> Parsed:
    try:
        doc = parse_json(data)
    except LoadError as exc:
        raise ParseError(f"invalid conda-meta JSON: {exc.detail}") from None
    if not isinstance(doc, dict):
        raise ParseError("conda-meta record is not a JSON object")
    name, version = doc.get("name"), doc.get("version")
    if not isinstance(name, str) or not isinstance(version, str) or not name or not version:
        raise ParseError("conda-meta record without name or version")
    license_ = doc.get("license")
    files = doc.get("files")
    return Parsed(packages=(conda_package(
        name, version, file_path="", found_by=NAME, evidence="conda-meta",
        licenses=(license_,) if isinstance(license_, str) and license_ else (),
        installed_files=tuple(f for f in files if isinstance(f, str)) if isinstance(files, list) else (),
    ),))


class CondaMetaAnalyzer(FileAnalyzer):
    name: ClassVar[str] = NAME
    version: ClassVar[int] = 1
    description: ClassVar[str] = "Installed conda packages: conda-meta/*.json"
    result_type: ClassVar[str] = "conda-pkg"
    files: ClassVar[FileSpec] = spec(extensions=("json",))  # in a conda-meta directory (matches)
    modes: ClassVar[frozenset[str]] = INSTALLED
    max_file_size: ClassVar[int] = 32 * MiB

    def matches(self, path: str) -> bool:
        return _PATH_RE.search(path) is not None

    def parse_file(self, path: str, data: bytes) -> Parsed:
        return parse(data)
