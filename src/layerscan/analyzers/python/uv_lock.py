"""uv ``uv.lock`` (TOML), fs mode.

The project itself (``source = { virtual | editable = "." }``) and every other
local project (workspace members and path dependencies: ``source = { editable |
virtual | directory = "<path>" }``) is listed as an application, not matched: its
version is the user's own code, not a release on PyPI. Dev flag: a package
reachable from the local projects only through ``[package.dev-dependencies]``
groups is dev; indirect: not a direct dependency of a local project.
"""

from __future__ import annotations

from typing import Any, ClassVar

from layerscan.analyzers.base import FileSpec, spec
from layerscan.analyzers.langbase import (FileAnalyzer, Parsed, as_dict, as_list, as_str, basename, lang_package,
                                          pep503, reachable)
from layerscan.analyzers.python.tomllock import package_tables

ANALYZER = "python-uv-lock"


LOCAL_SOURCES = ("virtual", "editable", "directory")


def is_project(table: dict[str, Any]) -> bool:
    """The lockfile's own project (``source = { virtual | editable = "." }``)."""
    source = as_dict(table.get("source"))
    return any(key in source for key in ("virtual", "editable")) and as_str(
        source.get("virtual") or source.get("editable")) == "."


def is_local(table: dict[str, Any]) -> bool:
    """A local project: the root, a workspace member or a path dependency (built from a directory)."""
    source = as_dict(table.get("source"))
    return any(isinstance(source.get(key), str) for key in LOCAL_SOURCES)


def _dep_names(value: Any) -> list[str]:
    return [pep503(as_str(as_dict(d).get("name"))) for d in as_list(value) if as_str(as_dict(d).get("name"))]


def _runtime_deps(table: dict[str, Any]) -> list[str]:
    names = _dep_names(table.get("dependencies"))
    for group in as_dict(table.get("optional-dependencies")).values():
        names += _dep_names(group)
    return names


def parse(data: bytes) -> Parsed:
    tables = package_tables(data)
    graph = {pep503(as_str(t.get("name"))): _runtime_deps(t) for t in tables}
    local = [t for t in tables if is_local(t)]
    roots = [t for t in tables if is_project(t)] or local  # a virtual workspace root is not locked itself
    direct = {n for t in local for n in _runtime_deps(t)}  # declared by the user's own code
    dev_direct = {n for t in local for g in as_dict(t.get("dev-dependencies")).values() for n in _dep_names(g)}
    runtime = reachable(sorted(n for t in roots for n in _runtime_deps(t)), graph)
    dev_only = reachable(sorted(dev_direct), graph) - runtime if roots else set()
    packages = []
    for table in tables:
        key = pep503(as_str(table.get("name")))
        packages.append(lang_package(
            "pypi", as_str(table.get("name")), as_str(table.get("version")),
            is_application=is_local(table), dev=key in dev_only and not is_local(table),
            indirect=bool(roots) and not is_local(table) and key not in direct | dev_direct,
        ))
    return Parsed(packages=tuple(packages))


class UvLockAnalyzer(FileAnalyzer):
    name: ClassVar[str] = ANALYZER
    version: ClassVar[int] = 2  # 2: workspace members and path projects are local
    description: ClassVar[str] = "uv uv.lock"
    result_type: ClassVar[str] = "uv"
    files: ClassVar[FileSpec] = spec(names=("uv.lock",))

    def matches(self, path: str) -> bool:
        return basename(path) == "uv.lock"

    def parse_file(self, path: str, data: bytes) -> Parsed:
        return parse(data)
