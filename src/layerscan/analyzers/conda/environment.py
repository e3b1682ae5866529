"""Conda ``environment.yml`` / ``environment.yaml`` (fs mode).

Conda dependencies are ``name=version[=build]``, ``name==version[=build]`` or
``name version [build]``; only an exact version (no ``*``, ``|``, ``<``, ``>``,
``,``) is a version. Others are listed with ``version_unknown_reason``.
``pip:`` sub-lists give ``pypi`` packages (``name==version``).
"""

from __future__ import annotations

import re

from layerscan.analyzers.base import AnalysisResult, Analyzer, LOCKFILE, MiB, spec, unknown
from layerscan.analyzers.conda.names import conda_package
from layerscan.analyzers.langbase import pep503
from layerscan.model import Package
from layerscan.textload import LoadError, parse_yaml

NAME = "conda-environment"
_SPEC_RE = re.compile(r"^(?P<name>[A-Za-z0-9_.\-]+)\s*(?:(?:==?|\s)\s*(?P<version>[^=\s]+)(?:[=\s].*)?)?$")
_PIP_RE = re.compile(r"^(?P<name>[A-Za-z0-9_.\-\[\],]+?)\s*==\s*(?P<version>[^;\s]+)")
_INEXACT = re.compile(r"[*|<>,!~]")


def _conda(path: str, spec: str) -> Package | None:
    match = _SPEC_RE.match(spec.strip())
    if not match:
        name = re.match(r"[A-Za-z0-9_.\-]+", spec.strip())
        return conda_package(name.group(0), "", file_path=path, found_by=NAME, evidence="environment.yml",
                             version_unknown_reason=f"no exact version in {spec.strip()!r}") if name else None
    version = match.group("version") or ""
    reason = ""
    if not version or _INEXACT.search(version) or version.startswith("="):
        reason = f"no exact version in {spec.strip()!r}"
        version = ""
    return conda_package(match.group("name"), version, file_path=path, found_by=NAME,
                         evidence="environment.yml", version_unknown_reason=reason)


def _pip(path: str, spec: str) -> Package | None:
    match = _PIP_RE.match(spec.strip())
    name = match.group("name").split("[")[0] if match else spec.strip().split("[")[0]
    if not name or not re.match(r"^[A-Za-z0-9_.\-]+", name):
        return None
    name = re.split(r"[<>=!~;\s]", name)[0]
    version = match.group("version") if match else ""
    return conda_package(pep503(name), version, file_path=path, found_by=NAME,
                         evidence="environment.yml pip", type="pypi",
                         version_unknown_reason="" if version else f"no pinned version in {spec.strip()!r}")


def parse(path: str, data: bytes) -> AnalysisResult:
    try:
        doc = parse_yaml(data)
    except LoadError as exc:
        return unknown(path, f"invalid environment YAML: {exc.detail}", NAME)
    deps = doc.get("dependencies") if isinstance(doc, dict) else None
    if not isinstance(deps, list):
        return unknown(path, "environment file has no 'dependencies' list", NAME)
    packages: list[Package] = []
    for dep in deps:
        if isinstance(dep, str):
            pkg = _conda(path, dep)
            packages.extend([pkg] if pkg else [])
        elif isinstance(dep, dict) and isinstance(dep.get("pip"), list):
            packages.extend(p for p in (_pip(path, s) for s in dep["pip"] if isinstance(s, str)) if p)
    return AnalysisResult(packages=tuple(packages))


class CondaEnvironmentAnalyzer(Analyzer):
    name = NAME
    version = 1
    description = "Conda environment files: conda and pip dependencies with versions"
    result_type = "conda-environment"
    files = spec(names=("environment.yml", "environment.yaml"))
    modes = LOCKFILE
    max_file_size = 8 * MiB

    def wants(self, path: str, mode: int, size: int) -> bool:
        return path.rsplit("/", 1)[-1] in ("environment.yml", "environment.yaml")

    def analyze(self, path: str, data: bytes) -> AnalysisResult:
        return parse(path, data)
