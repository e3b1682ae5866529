"""PDM ``pdm.lock`` (TOML), fs mode: ``[[package]]`` with ``groups`` (dev when "default" is absent)."""

from __future__ import annotations

from typing import Any, ClassVar

from layerscan.analyzers.base import FileSpec, spec
from layerscan.analyzers.langbase import FileAnalyzer, Parsed, as_str, basename, lang_package
from layerscan.analyzers.python.tomllock import package_tables, string_list
from layerscan.model import Package

ANALYZER = "python-pdm-lock"


def _package(table: dict[str, Any]) -> Package:
    groups = string_list(table.get("groups"))
    return lang_package("pypi", as_str(table.get("name")), as_str(table.get("version")),
                        dev=bool(groups) and "default" not in groups)


def parse(data: bytes) -> Parsed:
    return Parsed(packages=tuple(_package(t) for t in package_tables(data)))


class PdmLockAnalyzer(FileAnalyzer):
    name: ClassVar[str] = ANALYZER
    version: ClassVar[int] = 1
    description: ClassVar[str] = "PDM pdm.lock"
    result_type: ClassVar[str] = "pdm"
    files: ClassVar[FileSpec] = spec(names=("pdm.lock",))

    def matches(self, path: str) -> bool:
        return basename(path) == "pdm.lock"

    def parse_file(self, path: str, data: bytes) -> Parsed:
        return parse(data)
