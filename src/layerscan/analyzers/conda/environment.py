"""Conda ``environment.yml`` / ``environment.yaml`` (fs mode).

Conda dependencies are ``name=version[=build]``, ``name==version[=build]`` or
``name version [build]``; only an exact version (no ``*``, ``|``, ``<``, ``>``,
``,``) is a version. Others are listed with ``version_unknown_reason``.
``pip:`` sub-lists give ``pypi`` packages (``name==version``).
"""

from __future__ import annotations

import re
from typing import ClassVar

from layerscan.analyzers.base import FileSpec, MiB, spec
from layerscan.analyzers.conda.names import conda_package
from layerscan.analyzers.langbase import FileAnalyzer, Parsed, ParseError, basename, pep503
from layerscan.model import Package
from layerscan.textload import LoadError, parse_yaml

NAME = "conda-environment"
_SPEC_RE = re.compile(r"^(?P<name>[A-Za-z0-9_.\-]+)\s*(?:(?:==?|\s)\s*(?P<version>[^=\s]+)(?:[=\s].*)?)?$")
_PIP_RE = re.compile(r"^(?P<name>[A-Za-z0-9_.\-\[\],]+?)\s*==\s*(?P<version>[^;\s]+)")
_INEXACT = re.compile(r"[*|<>,!~]")


def _conda(spec: str) -> Package | None:
    match = _SPEC_RE.match(spec.strip())
    if not match:
        name = re.match(r"[A-Za-z0-9_.\-]+", spec.strip())
        return conda_package(name.group(0), "", file_path="", found_by=NAME, evidence="environment.yml",
                             version_unknown_reason=f"no exact version in {spec.strip()!r}") if name else None
    version = match.group("version") or ""
    reason = ""
    if not version or _INEXACT.search(version) or version.startswith("="):
        reason = f"no exact version in {spec.strip()!r}"
        version = ""
    return conda_package(match.group("name"), version, file_path="", found_by=NAME,
                         evidence="environment.yml", version_unknown_reason=reason)


def _pip(spec: str) -> Package | None:
    match = _PIP_RE.match(spec.strip())
    name = match.group("name").split("[")[0] if match else spec.strip().split("[")[0]
    if not name or not re.match(r"^[A-Za-z0-9_.\-]+", name):
        return None
    name = re.split(r"[<>=!~;\s]", name)[0]
    version = match.group("version") if match else ""
    return conda_package(pep503(name), version, file_path="", found_by=NAME,
                         evidence="environment.yml pip", type="pypi",
                         version_unknown_reason="" if version else f"no pinned version in {spec.strip()!r}")


def parse(data: bytes) -> Parsed:
    try:
        doc = parse_yaml(data)
    except LoadError as exc:
        raise ParseError(f"invalid environment YAML: {exc.detail}") from None
    deps = doc.get("dependencies") if isinstance(doc, dict) else None
    if not isinstance(deps, list):
        raise ParseError("environment file has no 'dependencies' list")
    packages: list[Package] = []
    for dep in deps:
        if isinstance(dep, str):
            pkg = _conda(dep)
            packages.extend([pkg] if pkg else [])
        elif isinstance(dep, dict) and isinstance(dep.get("pip"), list):
            packages.extend(p for p in (_pip(s) for s in dep["pip"] if isinstance(s, str)) if p)
    return Parsed(packages=tuple(packages))


class CondaEnvironmentAnalyzer(FileAnalyzer):
    name: ClassVar[str] = NAME
    version: ClassVar[int] = 1
    description: ClassVar[str] = "Conda environment files: conda and pip dependencies with versions"
    result_type: ClassVar[str] = "conda-environment"
    files: ClassVar[FileSpec] = spec(names=("environment.yml", "environment.yaml"))
    max_file_size: ClassVar[int] = 8 * MiB

    def matches(self, path: str) -> bool:
        return basename(path) in ("environment.yml", "environment.yaml")

    def parse_file(self, path: str, data: bytes) -> Parsed:
        return parse(data)
