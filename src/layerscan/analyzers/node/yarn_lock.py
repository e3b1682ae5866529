"""Yarn ``yarn.lock``: classic (v1, its own syntax) and berry (v2+, YAML), fs mode.

Both are read by one line-based reader, so a huge or odd file cannot blow up
a YAML parser: entries start at column 0 (``"a@^1", a@^1.1:``), their fields
are indented two spaces (``version "1.2.3"`` or ``version: 1.2.3``), deeper
lines are the ``dependencies`` / ``optionalDependencies`` lists. The name comes
from berry's ``resolution`` or the first descriptor (aliases ``x@npm:real@^1`` and
``x@npm:real`` resolve to ``real``); workspace entries are the application's own
packages. Yarn does not record dev or direct dependencies: those come from the
package.json beside it (a sibling file, when present), as Trivy reads it —
- its name and version are the application (in place of berry's root ``workspace:.``);
- ``dependencies`` / ``optionalDependencies`` and what they reach (and what the other
  workspaces reach) are the production packages; a package reached only from
  ``devDependencies`` is ``dev``; one not reached at all keeps dev unset (not guessed);
- a package the manifest does not name itself is ``indirect``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from typing import ClassVar

from layerscan.analyzers.base import FileSpec, spec
from layerscan.analyzers.langbase import FileAnalyzer, Parsed, ParseError, basename, decode_text, reachable
from layerscan.analyzers.node.npm import npm_package, split_descriptor
from layerscan.analyzers.node.package_json import Manifest, in_node_modules, manifest
from layerscan.model import Package

ANALYZER = "node-yarn-lock"
PACKAGE_JSON = "package.json"
_DEPENDENCY_LISTS = frozenset({"dependencies", "optionalDependencies"})


@dataclass
class _Entry:
    descriptors: list[str]
    fields: dict[str, str] = field(default_factory=dict)
    dependencies: list[tuple[str, str]] = field(default_factory=list)  # (name, range)


def _unquote(text: str) -> str:
    text = text.strip()
    return text[1:-1] if len(text) >= 2 and text[0] == text[-1] == '"' else text


def _field(line: str) -> tuple[str, str]:
    """'version "1.2.3"' (classic) or 'version: 1.2.3' (berry) -> ('version', '1.2.3')."""
    key, _, value = line.strip().partition(" ")
    return _unquote(key.removesuffix(":")), _unquote(value)


def _dependency(line: str) -> tuple[str, str]:
    """'    js-tokens "^3.0.0"' (classic) or '    "@types/node": "*"' (berry) -> (name, range)."""
    first, _, rest = line.strip().partition(" ")
    return _unquote(first.removesuffix(":")), _unquote(rest)


def entries(text: str) -> Iterator[_Entry]:
    current: _Entry | None = None
    section = ""
    for line in text.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        if not line[0].isspace():
            if current is not None:
                yield current
            header = line.rstrip().removesuffix(":")
            current = _Entry([_unquote(d) for d in header.split(",") if d.strip()])
        elif current is not None and line.startswith("  ") and not line.startswith("   "):
            key, value = _field(line)
            current.fields[key] = value
            section = key if not value else ""
        elif current is not None and section in _DEPENDENCY_LISTS and line.startswith("    ") \
                and not line.startswith("     "):
            current.dependencies.append(_dependency(line))
    if current is not None:
        yield current


def entry_name(entry: _Entry) -> str:
    resolution = entry.fields.get("resolution", "")
    if resolution:
        return split_descriptor(resolution)[0]
    name, spec = split_descriptor(entry.descriptors[0])
    if spec.startswith("npm:") and not spec[4:5].isdigit() and spec[4:5] not in ("^", "~", "=", "<", ">", "*"):
        return split_descriptor(spec[4:])[0]  # an alias: 'x@npm:real@^1' or 'x@npm:real'
    return name


def _is_workspace(entry: _Entry) -> bool:
    return any(split_descriptor(d)[1].startswith(("workspace:", "link:", "portal:")) for d in entry.descriptors) or \
        split_descriptor(entry.fields.get("resolution", ""))[1].startswith(("workspace:", "link:", "portal:"))


def to_package(entry: _Entry) -> Package:
    name = entry_name(entry)
    if _is_workspace(entry):
        return npm_package(name, entry.fields.get("version", ""), is_application=True)
    return npm_package(name, entry.fields.get("version", ""))


def _is_root(entry: _Entry) -> bool:
    """Berry's entry for the project itself ('name@workspace:.')."""
    return any(split_descriptor(d)[1] == "workspace:." for d in entry.descriptors)


class _Graph:
    """Which entry a dependency (name, range) resolves to, and what each entry depends on."""

    def __init__(self, found: list[_Entry]) -> None:
        self.by_descriptor: dict[str, int] = {}
        for i, entry in enumerate(found):
            for descriptor in entry.descriptors:
                self.by_descriptor.setdefault(descriptor, i)
        self.edges = {str(i): [str(j) for j in (self.resolve(d) for d in entry.dependencies) if j is not None]
                      for i, entry in enumerate(found)}

    def resolve(self, dependency: tuple[str, str]) -> int | None:
        name, spec = dependency
        found = self.by_descriptor.get(f"{name}@{spec}")
        return found if found is not None else self.by_descriptor.get(f"{name}@npm:{spec}")

    def reach(self, roots: list[int]) -> set[int]:
        return {int(k) for k in reachable((str(i) for i in roots), self.edges)}


def _with_manifest(found: list[_Entry], packages: list[Package], project: Manifest) -> list[Package]:
    """Dev, indirect and the application from the project's package.json (see module docstring)."""
    graph = _Graph(found)
    prod_roots = [i for i in map(graph.resolve, project.dependencies) if i is not None]
    dev_roots = [i for i in map(graph.resolve, project.dev_dependencies) if i is not None]
    workspaces = [i for i, e in enumerate(found) if _is_workspace(e) and not _is_root(e)]
    prod = graph.reach(prod_roots + workspaces)
    dev = graph.reach(dev_roots) - prod
    direct = set(prod_roots) | set(dev_roots) | set(workspaces)
    out = [replace(p, dev=i in dev, indirect=i not in direct) if not p.is_application else p
           for i, p in enumerate(packages) if not _is_root(found[i])]
    if project.name:
        out.insert(0, npm_package(project.name, project.version, is_application=True, licenses=project.licenses,
                                  evidence=PACKAGE_JSON))
    return out


def parse(data: bytes, siblings: Mapping[str, bytes] | None = None) -> Parsed:
    """``siblings``: the files beside the yarn.lock, of which ``package.json`` is read."""
    found = [e for e in entries(decode_text(data)) if e.descriptors and e.descriptors[0] != "__metadata"]
    packages = [to_package(e) for e in found]
    problems: tuple[str, ...] = ()
    if siblings and PACKAGE_JSON in siblings:
        try:
            packages = _with_manifest(found, packages, manifest(siblings[PACKAGE_JSON]))
        except ParseError as exc:
            problems = (f"{PACKAGE_JSON} beside it is unreadable ({exc}): read without it",)
    seen: dict[tuple[str, str, bool], Package] = {}
    for package in packages:
        seen.setdefault((package.name, package.version, package.is_application), package)
    return Parsed(packages=tuple(seen.values()), problems=problems)


class YarnLockAnalyzer(FileAnalyzer):
    name: ClassVar[str] = ANALYZER
    version: ClassVar[int] = 2
    description: ClassVar[str] = "Yarn yarn.lock (with the package.json beside it: dev, direct, the application)"
    result_type: ClassVar[str] = "yarn"
    files: ClassVar[FileSpec] = spec(names=("yarn.lock",))
    siblings: ClassVar[frozenset[str]] = frozenset({PACKAGE_JSON})

    def matches(self, path: str) -> bool:
        return basename(path) == "yarn.lock" and not in_node_modules(path)

    def keeps_sibling(self, path: str) -> bool:
        return not in_node_modules(path)

    def parse_file(self, path: str, data: bytes) -> Parsed:
        return parse(data)

    def parse_with_siblings(self, path: str, data: bytes, siblings: Mapping[str, bytes]) -> Parsed:
        return parse(data, siblings)
