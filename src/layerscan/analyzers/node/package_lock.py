"""npm ``package-lock.json`` / ``npm-shrinkwrap.json`` (lockfileVersion 1, 2 and 3), fs mode.

- v2/v3: the flat ``packages`` map keyed by install path
  (``node_modules/a/node_modules/b``); the root entry ``""`` gives the direct
  dependencies. Links (workspaces) are skipped; the workspace folders
  themselves (keys outside node_modules) are the application's own packages.
- v1: the nested ``dependencies`` tree; direct/indirect is not recorded there.

``dev`` comes from the entry's ``dev`` flag; ``optional`` is kept in ``extra``. A
name@version installed both as a dev copy and a non-dev copy (two install paths) is
non-dev in both: production code loads it (``devOptional`` is non-dev too, as npm means it).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from typing import Any, ClassVar

from layerscan.analyzers.base import FileSpec, spec
from layerscan.analyzers.langbase import FileAnalyzer, Parsed, as_dict, as_str, basename, load_json_object
from layerscan.analyzers.node.npm import npm_package, split_descriptor
from layerscan.model import Package

ANALYZER = "node-package-lock"
MARK = "node_modules/"
DEP_FIELDS = ("dependencies", "devDependencies", "optionalDependencies", "peerDependencies")
MAX_DEPTH = 200


def _direct_names(entries: dict[str, Any]) -> set[str]:
    """Direct dependencies of the root and of workspace folders."""
    names: set[str] = set()
    for key, entry in entries.items():
        if MARK not in key:
            for field in DEP_FIELDS:
                names.update(as_dict(as_dict(entry).get(field)))
    return names


def _resolve_alias(name: str, version: str) -> tuple[str, str]:
    if version.startswith("npm:"):
        return split_descriptor(version[4:])
    return name, version


def _flags(entry: dict[str, Any]) -> dict[str, Any]:
    return {"dev": entry.get("dev") is True,
            "extra": (("optional", "true"),) if entry.get("optional") is True else ()}


def parse_v2(doc: dict[str, Any]) -> list[Package]:
    entries = as_dict(doc.get("packages"))
    direct = _direct_names(entries)
    packages = []
    for key, raw in entries.items():
        entry = as_dict(raw)
        if MARK not in key:
            packages += _project(key, entry, doc)
            continue
        if entry.get("link") is True:
            continue
        install_name = key.rsplit(MARK, 1)[1]
        name = as_str(entry.get("name")) or install_name
        top_level = key.startswith(MARK) and key.count(MARK) == 1
        packages.append(npm_package(name, as_str(entry.get("version")), **_flags(entry),
                                    indirect=not (top_level and install_name in direct)))
    return packages


def _project(key: str, entry: dict[str, Any], doc: dict[str, Any]) -> list[Package]:
    """The root project ("" key) or a workspace folder: the application, listed and not matched."""
    name = as_str(entry.get("name")) or (as_str(doc.get("name")) if key == "" else key.rsplit("/", 1)[-1])
    version = as_str(entry.get("version")) or (as_str(doc.get("version")) if key == "" else "")
    return [npm_package(name, version, is_application=True)] if name and version else []


def _walk_v1(deps: dict[str, Any], depth: int) -> Iterator[tuple[str, dict[str, Any]]]:
    if depth > MAX_DEPTH:
        return
    for name, raw in deps.items():
        entry = as_dict(raw)
        yield name, entry
        yield from _walk_v1(as_dict(entry.get("dependencies")), depth + 1)


def parse_v1(doc: dict[str, Any]) -> list[Package]:
    packages = _project("", {}, doc)
    for name, entry in _walk_v1(as_dict(doc.get("dependencies")), 0):
        real_name, version = _resolve_alias(name, as_str(entry.get("version")))
        packages.append(npm_package(real_name, version, **_flags(entry)))
    return packages


def _prod_wins(packages: list[Package]) -> tuple[Package, ...]:
    """Clear ``dev`` on every copy of a name@version that some non-dev copy shares."""
    prod = {(p.name, p.version) for p in packages if not p.dev}
    return tuple(replace(p, dev=False) if p.dev and (p.name, p.version) in prod else p for p in packages)


def parse(data: bytes) -> Parsed:
    doc = load_json_object(data)
    if isinstance(doc.get("packages"), dict):
        return Parsed(packages=_prod_wins(parse_v2(doc)))
    return Parsed(packages=_prod_wins(parse_v1(doc)))


class PackageLockAnalyzer(FileAnalyzer):
    name: ClassVar[str] = ANALYZER
    version: ClassVar[int] = 2
    description: ClassVar[str] = "npm package-lock.json and npm-shrinkwrap.json"
    result_type: ClassVar[str] = "npm"
    files: ClassVar[FileSpec] = spec(names=("package-lock.json", "npm-shrinkwrap.json"))

    def matches(self, path: str) -> bool:
        return basename(path) in ("package-lock.json", "npm-shrinkwrap.json") and "node_modules/" not in path

    def parse_file(self, path: str, data: bytes) -> Parsed:
        return parse(data)
