"""pnpm ``pnpm-lock.yaml`` (lockfile formats 5.x, 6.x and 9.x), fs mode.

Package keys by format:

- 5.x: ``/name/1.0.0``, ``/@scope/name/1.0.0_peer@2.0.0`` (optionally prefixed
  by a registry host), ``dev: true|false`` on each entry;
- 6.x: ``/name@1.0.0(peer@2.0.0)``, ``dev`` on each entry;
- 9.x: ``name@1.0.0`` in ``packages`` (metadata) and ``snapshots`` (graph);
  no dev flag: a package is dev when it is reachable from the importers only
  through ``devDependencies``.

Entries with explicit ``name``/``version`` fields (tarballs, git) use them; their
``resolution`` (``{tarball: URL}`` or ``{type: git, repo, commit}``) is kept in
``extra`` (``reference``, ``commit``). A tarball or git entry without a ``version``
field is listed unversioned with its reference (the key holds a URL, not a version).
Indirect: the name is not a direct dependency of any importer. Multi-document
files (pnpm's env lockfile first) use the document holding ``packages``.
"""

from __future__ import annotations

from typing import Any, ClassVar

from layerscan.analyzers.base import FileSpec, spec
from layerscan.analyzers.langbase import (FileAnalyzer, Parsed, ParseError, as_dict, as_str, basename,
                                          load_yaml_documents, reachable)
from layerscan.analyzers.node.npm import npm_package, split_descriptor
from layerscan.model import Package

ANALYZER = "node-pnpm-lock"
PROD_FIELDS = ("dependencies", "optionalDependencies")
DEV_FIELD = "devDependencies"


def lockfile_major(doc: dict[str, Any]) -> int:
    try:
        return int(float(str(doc.get("lockfileVersion", "5")).strip("'\"")))
    except ValueError:
        raise ParseError(f"unrecognised lockfileVersion {doc.get('lockfileVersion')!r}") from None


def _v5_key(key: str) -> tuple[str, str]:
    parts = key.lstrip("/").split("/")
    if parts and "." in parts[0] and not key.startswith("/"):
        parts = parts[1:]  # registry host prefix
    if parts and parts[0].startswith("@"):
        name, rest = "/".join(parts[:2]), parts[2:]
    else:
        name, rest = (parts[0] if parts else ""), parts[1:]
    version = rest[0].split("_", 1)[0] if len(rest) == 1 else ""
    return name, version if version[:1].isdigit() else ""


def split_key(key: str, major: int) -> tuple[str, str]:
    """A packages/snapshots key -> (name, version) without peer suffixes."""
    if major < 6:
        return _v5_key(key)
    return split_descriptor(key.lstrip("/").split("(", 1)[0])


def _dep_version(value: Any) -> str:
    """Importer entries are 'version' (5.x) or {specifier, version} (6.x, 9.x)."""
    return as_str(as_dict(value).get("version")) if isinstance(value, dict) else as_str(value)


def _importers(doc: dict[str, Any]) -> list[dict[str, Any]]:
    importers = as_dict(doc.get("importers"))
    return [as_dict(i) for i in importers.values()] if importers else [doc]


def _direct(doc: dict[str, Any], fields: tuple[str, ...]) -> dict[str, str]:
    return {name: _dep_version(value) for imp in _importers(doc) for f in fields
            for name, value in as_dict(imp.get(f)).items()}


def _v9_dev_keys(doc: dict[str, Any]) -> set[str]:
    """'name@version' keys reachable from importers only through devDependencies."""
    graph: dict[str, list[str]] = {}
    for key, snapshot in as_dict(doc.get("snapshots")).items():
        base = key.split("(", 1)[0]
        deps = [f"{n}@{_dep_version(v).split('(', 1)[0]}" for f in PROD_FIELDS
                for n, v in as_dict(as_dict(snapshot).get(f)).items()]
        graph.setdefault(base, []).extend(deps)
    prod = reachable([f"{n}@{v.split('(', 1)[0]}" for n, v in _direct(doc, PROD_FIELDS).items()], graph)
    dev = reachable([f"{n}@{v.split('(', 1)[0]}" for n, v in _direct(doc, (DEV_FIELD,)).items()], graph)
    return dev - prod


def _resolution_extra(entry: dict[str, Any]) -> tuple[tuple[str, str], ...]:
    """Where a tarball or git dependency came from (registry entries carry only an integrity)."""
    resolution = as_dict(entry.get("resolution"))
    reference = as_str(resolution.get("tarball")) or as_str(resolution.get("repo"))
    commit = as_str(resolution.get("commit"))
    return tuple((k, v) for k, v in (("reference", reference), ("commit", commit)) if v)


def _lock_document(data: bytes) -> dict[str, Any]:
    docs = [d for d in load_yaml_documents(data) if isinstance(d, dict)]
    with_packages = [d for d in docs if "packages" in d or "importers" in d]
    if not with_packages:
        if docs:
            return {}
        raise ParseError("no lockfile document (expected a mapping with 'packages')")
    return with_packages[-1]


def parse(data: bytes) -> Parsed:
    doc = _lock_document(data)
    major = lockfile_major(doc) if doc else 9
    direct = set(_direct(doc, PROD_FIELDS + (DEV_FIELD,)))
    dev_keys = _v9_dev_keys(doc) if major >= 9 else set()
    packages: list[Package] = []
    for key, raw in as_dict(doc.get("packages")).items():
        entry = as_dict(raw)
        key_name, key_version = split_key(str(key), major)
        name = as_str(entry.get("name")) or key_name
        version = as_str(entry.get("version")) or key_version
        dev = entry.get("dev") is True if major < 9 else f"{key_name}@{key_version}" in dev_keys
        packages.append(npm_package(name, version, dev=dev, indirect=bool(direct) and name not in direct,
                                    extra=_resolution_extra(entry)))
    return Parsed(packages=tuple(packages))


class PnpmLockAnalyzer(FileAnalyzer):
    name: ClassVar[str] = ANALYZER
    version: ClassVar[int] = 2
    description: ClassVar[str] = "pnpm pnpm-lock.yaml"
    result_type: ClassVar[str] = "pnpm"
    files: ClassVar[FileSpec] = spec(names=("pnpm-lock.yaml",))

    def matches(self, path: str) -> bool:
        return basename(path) == "pnpm-lock.yaml" and "node_modules/" not in path

    def parse_file(self, path: str, data: bytes) -> Parsed:
        return parse(data)
