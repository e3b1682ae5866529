"""Poetry ``poetry.lock`` (TOML), fs mode.

Dev flag: Poetry 1.x writes ``category = "dev"``; Poetry 2 writes ``groups``
(dev when "main" is not among them). Lockfiles of Poetry 1.5+ without either
carry no group information: then the ``pyproject.toml`` beside the lockfile (a
sibling file, when present) says it, as Trivy reads it — what the runtime
dependencies (``[project]``, ``[tool.poetry.dependencies]``) reach through the
lockfile's ``[package.dependencies]`` is production, what only the dev groups reach
is dev, and a package the manifest does not name itself is ``indirect``. A package
reached from neither keeps the lockfile's own flag.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any, ClassVar

from layerscan.analyzers.base import FileSpec, spec
from layerscan.analyzers.langbase import (FileAnalyzer, Parsed, ParseError, as_dict, as_str, basename, lang_package,
                                          pep503, reachable)
from layerscan.analyzers.python import pyproject
from layerscan.analyzers.python.tomllock import package_tables, string_list
from layerscan.model import Package

ANALYZER = "python-poetry-lock"
PYPROJECT = "pyproject.toml"


def is_dev(table: dict[str, Any]) -> bool:
    if "groups" in table:
        return "main" not in string_list(table.get("groups"))
    return as_str(table.get("category")) == "dev"


def _package(table: dict[str, Any]) -> Package:
    version = as_str(table.get("version"))
    source_type = as_str(as_dict(table.get("source")).get("type"))
    extra = (("source_type", source_type),) if source_type else ()
    return lang_package("pypi", as_str(table.get("name")), version, dev=is_dev(table), extra=extra)


def _with_manifest(tables: list[dict[str, Any]], packages: list[Package], manifest: Parsed) -> list[Package]:
    """Dev and indirect from the project's declared dependencies (see module docstring)."""
    names = [pep503(as_str(t.get("name"))) for t in tables]
    edges = {name: [pep503(dep) for dep in as_dict(t.get("dependencies"))] for name, t in zip(names, tables)}
    declared = [p for p in manifest.packages if not p.is_application]
    prod_roots = {pep503(p.name) for p in declared if not p.dev}
    dev_roots = {pep503(p.name) for p in declared if p.dev}
    prod = reachable(prod_roots, edges)
    dev = reachable(dev_roots, edges) - prod
    return [replace(p, dev=name in dev if name in prod or name in dev else p.dev,
                    indirect=name not in prod_roots and name not in dev_roots)
            for name, p in zip(names, packages)]


def parse(data: bytes, siblings: Mapping[str, bytes] | None = None) -> Parsed:
    """``siblings``: the files beside the poetry.lock, of which ``pyproject.toml`` is read."""
    tables = package_tables(data)
    packages = [_package(t) for t in tables]
    problems: tuple[str, ...] = ()
    if siblings and PYPROJECT in siblings:
        try:
            packages = _with_manifest(tables, packages, pyproject.parse(siblings[PYPROJECT]))
        except ParseError as exc:
            problems = (f"{PYPROJECT} beside it is unreadable ({exc}): read without it",)
    return Parsed(packages=tuple(packages), problems=problems)


class PoetryLockAnalyzer(FileAnalyzer):
    name: ClassVar[str] = ANALYZER
    version: ClassVar[int] = 2
    description: ClassVar[str] = "Poetry poetry.lock (groups and direct dependencies from the pyproject.toml beside it)"
    result_type: ClassVar[str] = "poetry"
    files: ClassVar[FileSpec] = spec(names=("poetry.lock",))
    siblings: ClassVar[frozenset[str]] = frozenset({PYPROJECT})

    def matches(self, path: str) -> bool:
        return basename(path) == "poetry.lock"

    def parse_file(self, path: str, data: bytes) -> Parsed:
        return parse(data)

    def parse_with_siblings(self, path: str, data: bytes, siblings: Mapping[str, bytes]) -> Parsed:
        return parse(data, siblings)
