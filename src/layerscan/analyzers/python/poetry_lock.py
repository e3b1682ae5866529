"""Poetry ``poetry.lock`` (TOML), fs mode.

Dev flag: Poetry 1.x writes ``category = "dev"``; Poetry 2 writes ``groups``
(dev when "main" is not among them). Lockfiles of Poetry 1.5+ without either
carry no group information, and the flag stays False (the sibling
``pyproject.toml`` would be needed; this analyzer reads one file).
"""

from __future__ import annotations

from typing import Any, ClassVar

from layerscan.analyzers.base import FileSpec, spec
from layerscan.analyzers.langbase import FileAnalyzer, Parsed, as_dict, as_str, basename, lang_package
from layerscan.analyzers.python.tomllock import package_tables, string_list
from layerscan.model import Package

ANALYZER = "python-poetry-lock"


def is_dev(table: dict[str, Any]) -> bool:
    if "groups" in table:
        return "main" not in string_list(table.get("groups"))
    return as_str(table.get("category")) == "dev"


def _package(table: dict[str, Any]) -> Package:
    version = as_str(table.get("version"))
    source_type = as_str(as_dict(table.get("source")).get("type"))
    extra = (("source_type", source_type),) if source_type else ()
    return lang_package("pypi", as_str(table.get("name")), version, dev=is_dev(table), extra=extra)


def parse(data: bytes) -> Parsed:
    return Parsed(packages=tuple(_package(t) for t in package_tables(data)))


class PoetryLockAnalyzer(FileAnalyzer):
    name: ClassVar[str] = ANALYZER
    version: ClassVar[int] = 1
    description: ClassVar[str] = "Poetry poetry.lock"
    result_type: ClassVar[str] = "poetry"
    files: ClassVar[FileSpec] = spec(names=("poetry.lock",))

    def matches(self, path: str) -> bool:
        return basename(path) == "poetry.lock"

    def parse_file(self, path: str, data: bytes) -> Parsed:
        return parse(data)
