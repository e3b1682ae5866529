"""``Cargo.lock`` (fs mode): every ``[[package]]`` with its name and version.

Packages without a ``source`` are workspace/path crates (the project's own
code): listed with ``is_application`` and recorded in ``extra``; registry and
git sources are kept in ``extra`` as ``source``.

With the ``Cargo.toml`` beside it (a sibling file, when present), the manifest says
which of the root crate's dependencies are dev-only: a crate reached from the root only
through ``[dev-dependencies]`` (``[target.*.dev-dependencies]`` too) is marked ``dev``
(Trivy drops those; we list them, out of a default scan), everything reached from
``[dependencies]``, ``[build-dependencies]``, ``[workspace.dependencies]`` or from the
other local crates (workspace members: their own manifests are not beside the lockfile)
is production, and a crate neither the root nor a member depends on directly is
``indirect``. A
crate reached from nowhere keeps dev unset (not guessed).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any, ClassVar

from layerscan.analyzers.base import FileSpec, MiB, spec
from layerscan.analyzers.langbase import FileAnalyzer, Parsed, ParseError, as_dict, as_list, as_str, basename, reachable
from layerscan.analyzers.rust.names import cargo_package
from layerscan.model import Package
from layerscan.textload import LoadError, parse_toml

NAME = "cargo-lock"
CARGO_TOML = "Cargo.toml"
_PROD_TABLES = ("dependencies", "build-dependencies")
_DEV_TABLES = ("dev-dependencies",)


def _load(data: bytes, what: str) -> dict[str, Any]:
    try:
        return parse_toml(data)
    except LoadError as exc:
        raise ParseError(f"invalid {what}: {exc.detail}") from None


def _crate_names(table: Any) -> set[str]:
    """The crate names a dependency table names (``foo = { package = "real" }`` is ``real``)."""
    return {as_str(as_dict(spec).get("package")) or key for key, spec in as_dict(table).items()}


def manifest_dependencies(doc: Mapping[str, Any]) -> tuple[str, set[str], set[str]]:
    """(the root crate's name, its production dependency names, its dev dependency names)."""
    sections = [doc, *(as_dict(t) for t in as_dict(doc.get("target")).values())]
    prod = {n for s in sections for t in _PROD_TABLES for n in _crate_names(s.get(t))}
    prod |= _crate_names(as_dict(doc.get("workspace")).get("dependencies"))
    dev = {n for s in sections for t in _DEV_TABLES for n in _crate_names(s.get(t))}
    return as_str(as_dict(doc.get("package")).get("name")), prod, dev


def _edges(entries: list[dict[str, Any]]) -> dict[str, list[str]]:
    """Lock entry index -> the indexes of its dependencies ('name', 'name version', 'name version (source)')."""
    by_name: dict[str, list[int]] = {}
    for i, entry in enumerate(entries):
        by_name.setdefault(entry["name"], []).append(i)
    edges: dict[str, list[str]] = {}
    for i, entry in enumerate(entries):
        targets = edges.setdefault(str(i), [])
        for dep in as_list(entry.get("dependencies")):
            name, _, rest = as_str(dep).partition(" ")
            version = rest.split(" ", 1)[0]
            targets += [str(j) for j in by_name.get(name, ()) if not version or entries[j]["version"] == version]
    return edges


def _with_manifest(entries: list[dict[str, Any]], packages: list[Package], doc: Mapping[str, Any]) -> list[Package]:
    root_name, prod_names, dev_names = manifest_dependencies(doc)
    edges = _edges(entries)
    local = [i for i, e in enumerate(entries) if not e.get("source")]
    root = next((i for i in local if entries[i]["name"] == root_name), None)
    root_deps = [int(j) for j in edges.get(str(root), ())] if root is not None else []
    listed = {entries[j]["name"] for j in root_deps}
    unlisted = [i for i, e in enumerate(entries) if e["name"] not in listed]  # not locked under the root

    def direct(names: set[str]) -> set[int]:
        return {j for j in root_deps + unlisted if entries[j]["name"] in names}

    members = set(local) - {root}
    prod_direct, dev_direct = direct(prod_names), direct(dev_names)
    prod = {int(k) for k in reachable((str(i) for i in prod_direct | members), edges)}
    dev = {int(k) for k in reachable((str(i) for i in dev_direct), edges)} - prod
    roots = prod_direct | dev_direct | {int(j) for i in members for j in edges[str(i)]}
    return [p if p.is_application else replace(p, dev=i in dev, indirect=i not in roots)
            for i, p in enumerate(packages)]


def parse(data: bytes, siblings: Mapping[str, bytes] | None = None) -> Parsed:
    """``siblings``: the files beside the Cargo.lock, of which ``Cargo.toml`` is read."""
    doc = _load(data, "Cargo.lock")
    raw = doc.get("package", [])
    if not isinstance(raw, list):
        raise ParseError("invalid Cargo.lock: 'package' is not an array of tables")
    entries = [e for e in raw if isinstance(e, dict) and isinstance(e.get("name"), str)
               and isinstance(e.get("version"), str)]
    packages: list[Package] = []
    for entry in entries:
        source = entry.get("source", "")
        source = source if isinstance(source, str) else ""
        packages.append(cargo_package(
            entry["name"], entry["version"], file_path="", found_by=NAME, evidence="Cargo.lock",
            is_application=not source, extra=(("source", source),) if source else (("source", "local"),),
        ))
    skipped = len(raw) - len(entries)
    problems = [f"{skipped} [[package]] entries without a name or version"] if skipped else []
    if siblings and CARGO_TOML in siblings:
        try:
            packages = _with_manifest(entries, packages, _load(siblings[CARGO_TOML], CARGO_TOML))
        except ParseError as exc:
            problems.append(f"{CARGO_TOML} beside it is unreadable ({exc}): read without it")
    return Parsed(packages=tuple(packages), problems=tuple(problems))


class CargoLockAnalyzer(FileAnalyzer):
    name: ClassVar[str] = NAME
    version: ClassVar[int] = 2
    description: ClassVar[str] = "Cargo.lock: the locked crates (with the Cargo.toml beside it: dev-only, direct)"
    result_type: ClassVar[str] = "cargo"
    files: ClassVar[FileSpec] = spec(names=("Cargo.lock",))
    max_file_size: ClassVar[int] = 64 * MiB
    siblings: ClassVar[frozenset[str]] = frozenset({CARGO_TOML})

    def matches(self, path: str) -> bool:
        return basename(path) == "Cargo.lock"

    def parse_file(self, path: str, data: bytes) -> Parsed:
        return parse(data)

    def parse_with_siblings(self, path: str, data: bytes, siblings: Mapping[str, bytes]) -> Parsed:
        return parse(data, siblings)
