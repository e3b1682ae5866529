"""Installed Node.js packages: ``package.json`` files (image and rootfs mode).

Every ``node_modules/**/package.json`` is an installed package. A
``package.json`` outside ``node_modules`` is a project's own manifest: it is
reported as the application (``is_application=True``), listed but never
matched against advisories. Files without a name or version (test fixtures,
nested non-package manifests) are skipped, not reported.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from layerscan.analyzers.base import FileSpec, INSTALLED, MiB, spec
from layerscan.analyzers.langbase import FileAnalyzer, Parsed, as_dict, as_list, as_str, basename, load_json_object
from layerscan.analyzers.node.npm import npm_package

ANALYZER = "node-package-json"


def licenses(doc: dict[str, Any]) -> tuple[str, ...]:
    """``license`` as a string or {type}; legacy ``licenses`` as a list of strings or {type}."""
    values: list[Any] = [doc.get("license")] if doc.get("license") is not None else as_list(doc.get("licenses"))
    if isinstance(doc.get("license"), list):
        values = doc["license"]
    found = []
    for value in values:
        text = as_str(value) or as_str(as_dict(value).get("type"))
        if text:
            found.append(text)
    return tuple(found)


def parse(data: bytes, *, application: bool = False) -> Parsed:
    doc = load_json_object(data)
    name, version = as_str(doc.get("name")), as_str(doc.get("version"))
    if not name or not version:
        return Parsed()
    return Parsed(packages=(npm_package(name, version, licenses=licenses(doc), is_application=application,
                                        evidence="package.json"),))


@dataclass(frozen=True)
class Manifest:
    """What a project's package.json says about it (read beside a lockfile)."""

    name: str
    version: str
    licenses: tuple[str, ...]
    dependencies: tuple[tuple[str, str], ...]  # (name, range): dependencies and optionalDependencies
    dev_dependencies: tuple[tuple[str, str], ...]  # devDependencies


def _ranges(value: Any) -> tuple[tuple[str, str], ...]:
    return tuple((name, as_str(spec)) for name, spec in as_dict(value).items() if isinstance(name, str))


def manifest(data: bytes) -> Manifest:
    """The project's own package.json (ParseError when it is not a JSON object)."""
    doc = load_json_object(data)
    return Manifest(name=as_str(doc.get("name")), version=as_str(doc.get("version")), licenses=licenses(doc),
                    dependencies=_ranges(doc.get("dependencies")) + _ranges(doc.get("optionalDependencies")),
                    dev_dependencies=_ranges(doc.get("devDependencies")))


def in_node_modules(path: str) -> bool:
    return "node_modules/" in path or path.startswith("node_modules/")


class PackageJsonAnalyzer(FileAnalyzer):
    name: ClassVar[str] = ANALYZER
    version: ClassVar[int] = 1
    description: ClassVar[str] = "Installed Node.js packages: package.json under node_modules"
    result_type: ClassVar[str] = "node-pkg"
    files: ClassVar[FileSpec] = spec(names=("package.json",))
    modes: ClassVar[frozenset[str]] = INSTALLED
    max_file_size: ClassVar[int] = 8 * MiB

    def matches(self, path: str) -> bool:
        return basename(path) == "package.json"

    def parse_file(self, path: str, data: bytes) -> Parsed:
        return parse(data, application=not in_node_modules(path))
