"""bun ``bun.lock`` (the text lockfile of bun >= 1.2), fs mode.

The file is JSONC (comments, trailing commas). Two maps matter:

- ``workspaces``: folder -> ``{name, version, dependencies, devDependencies,
  optionalDependencies, peerDependencies}``; ``""`` is the root project.
  Workspaces with a name and version are listed as the application.
- ``packages``: install key -> a tuple whose first element is
  ``"name@reference"``. Registry packages are ``[id, registry, info,
  integrity]``; git/GitHub ``[id, info, checkout]``; file/link/workspace
  entries are shorter. ``info`` holds the package's own dependency maps.

Keys are install paths: ``a`` is hoisted, ``a/b`` is ``b`` nested under
``a`` (names may be scoped: ``@s/a/@s/b``); an alias dependency keeps its
alias as the key while the id carries the real name. A dependency resolves the
node way: from key ``a/b``, ``c`` is ``a/b/c`` when present, else ``a/c``,
else ``c``.

Flags: ``indirect`` when no workspace depends on the key directly; ``dev`` when
the key is reachable from workspace ``devDependencies`` only; ``optional``
(in ``extra``) when only optional dependency edges reach it. Git references
become unversioned packages with their commit in ``extra``.
``bun.lockb`` (the older binary lockfile) is recorded as an unknown.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, ClassVar

from layerscan.analyzers.base import FileSpec, spec
from layerscan.analyzers.langbase import (FileAnalyzer, Parsed, ParseError, as_dict, as_list, as_str, basename,
                                          reachable)
from layerscan.analyzers.node.jsonc import load_jsonc_object
from layerscan.analyzers.node.npm import npm_package, split_descriptor
from layerscan.model import Package

ANALYZER = "node-bun-lock"
PROD_FIELDS = ("dependencies", "peerDependencies")
OPTIONAL_FIELD = "optionalDependencies"
DEV_FIELD = "devDependencies"
GIT_PREFIXES = ("github:", "gitlab:", "bitbucket:", "git+", "git:", "git@")


@dataclass(frozen=True)
class Entry:
    """One ``packages`` entry: its key, real name, reference and dependency maps."""

    key: str
    name: str
    reference: str
    info: dict[str, Any]


def key_segments(key: str) -> list[str]:
    """'@s/a/b/@t/c' -> ['@s/a', 'b', '@t/c'] (a scope and its name are one segment)."""
    parts = key.split("/")
    segments: list[str] = []
    i = 0
    while i < len(parts):
        if parts[i].startswith("@") and i + 1 < len(parts):
            segments.append(parts[i] + "/" + parts[i + 1])
            i += 2
        else:
            segments.append(parts[i])
            i += 1
    return segments


def resolve(parent: list[str], dep: str, keys: dict[str, Entry]) -> str:
    """The key a dependency named ``dep`` of the package at ``parent`` installs to ('' if absent)."""
    for depth in range(len(parent), -1, -1):
        candidate = "/".join(parent[:depth] + [dep])
        if candidate in keys:
            return candidate
    return ""


def _entry(key: str, raw: Any) -> Entry:
    values = as_list(raw)
    if not values or not isinstance(values[0], str):
        raise ParseError(f"package {key!r}: expected [\"name@version\", ...], found {type(raw).__name__}"
                         f"{' starting with ' + type(values[0]).__name__ if values else ''}")
    name, reference = split_descriptor(values[0])
    if not name or not reference:
        raise ParseError(f"package {key!r}: no version in {values[0]!r}")
    info = next((as_dict(v) for v in values[1:3] if isinstance(v, dict)), {})
    return Entry(key=key, name=name, reference=reference, info=info)


def _entries(doc: dict[str, Any]) -> tuple[dict[str, Entry], list[str]]:
    entries: dict[str, Entry] = {}
    problems: list[str] = []
    for key, raw in as_dict(doc.get("packages")).items():
        try:
            entries[key] = _entry(key, raw)
        except ParseError as exc:
            problems.append(str(exc))
    return entries, problems


def _edges(parent: list[str], deps: dict[str, Any], fields: Iterable[str], keys: dict[str, Entry]) -> list[str]:
    found = (resolve(parent, name, keys) for field in fields for name in as_dict(deps.get(field)))
    return [key for key in found if key]


@dataclass(frozen=True)
class Graph:
    """Which keys each root kind and each package reaches."""

    direct: frozenset[str]
    dev: frozenset[str]
    optional: frozenset[str]


def _graph(workspaces: dict[str, Any], keys: dict[str, Entry]) -> Graph:
    all_fields = PROD_FIELDS + (OPTIONAL_FIELD, DEV_FIELD)
    full = {k: _edges(key_segments(k), e.info, PROD_FIELDS + (OPTIONAL_FIELD,), keys) for k, e in keys.items()}
    required = {k: _edges(key_segments(k), e.info, PROD_FIELDS, keys) for k, e in keys.items()}
    roots: dict[str, list[str]] = {field: [] for field in all_fields}
    for ws in map(as_dict, workspaces.values()):
        parent = key_segments(as_str(ws.get("name"))) if as_str(ws.get("name")) in keys else []
        for field in all_fields:
            roots[field] += _edges(parent, ws, (field,), keys)
    prod = reachable(roots["dependencies"] + roots["peerDependencies"] + roots[OPTIONAL_FIELD], full)
    dev = reachable(roots[DEV_FIELD], full) - prod
    needed = reachable(roots["dependencies"] + roots["peerDependencies"] + roots[DEV_FIELD], required)
    every = reachable([k for field in all_fields for k in roots[field]], full)
    return Graph(direct=frozenset(k for field in all_fields for k in roots[field]),
                 dev=frozenset(dev), optional=frozenset(every - needed))


def _package(entry: Entry, graph: Graph) -> Package:
    extra: tuple[tuple[str, str], ...] = ()
    if entry.key in graph.optional:
        extra += (("optional", "true"),)
    if entry.reference.startswith(GIT_PREFIXES) and "#" in entry.reference:
        extra += (("commit", entry.reference.rsplit("#", 1)[1]),)
    return npm_package(entry.name, entry.reference, dev=entry.key in graph.dev,
                       indirect=entry.key not in graph.direct, extra=extra)


def _applications(workspaces: dict[str, Any]) -> list[Package]:
    apps = []
    for ws in map(as_dict, workspaces.values()):
        name, version = as_str(ws.get("name")), as_str(ws.get("version"))
        if name and version:
            apps.append(npm_package(name, version, is_application=True))
    return apps


def parse(data: bytes) -> Parsed:
    doc = load_jsonc_object(data)
    if "packages" not in doc and "workspaces" not in doc:
        raise ParseError("not a bun.lock: no 'packages' or 'workspaces'")
    workspaces = as_dict(doc.get("workspaces"))
    entries, problems = _entries(doc)
    graph = _graph(workspaces, entries)
    packages = _applications(workspaces) + [
        _package(e, graph) for e in entries.values() if not e.reference.startswith("workspace:")]
    return Parsed(packages=tuple(packages), problems=tuple(problems))


class BunLockAnalyzer(FileAnalyzer):
    name: ClassVar[str] = ANALYZER
    version: ClassVar[int] = 1
    description: ClassVar[str] = "Bun bun.lock (the binary bun.lockb is recorded as unknown)"
    result_type: ClassVar[str] = "bun"
    files: ClassVar[FileSpec] = spec(names=("bun.lock", "bun.lockb"))

    def matches(self, path: str) -> bool:
        return basename(path) in ("bun.lock", "bun.lockb") and "node_modules/" not in path

    def parse_file(self, path: str, data: bytes) -> Parsed:
        if path.endswith(".lockb"):
            raise ParseError("binary bun.lockb is not read (bun >= 1.2 writes the text bun.lock)")
        return parse(data)
