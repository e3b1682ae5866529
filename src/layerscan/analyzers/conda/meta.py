"""Installed conda packages: ``conda-meta/<name>-<version>-<build>.json`` (image/rootfs)."""

from __future__ import annotations

import re

from layerscan.analyzers.base import AnalysisResult, Analyzer, INSTALLED, MiB, spec, unknown
from layerscan.analyzers.conda.names import conda_package
from layerscan.textload import LoadError, parse_json

NAME = "conda-meta"
_PATH_RE = re.compile(r"(^|/)conda-meta/[^/]+\.json$")


def parse(path: str, data: bytes) -> AnalysisResult:
    try:
        doc = parse_json(data)
    except LoadError as exc:
        return unknown(path, f"invalid conda-meta JSON: {exc.detail}", NAME)
    if not isinstance(doc, dict):
        return unknown(path, "conda-meta record is not a JSON object", NAME)
    name, version = doc.get("name"), doc.get("version")
    if not isinstance(name, str) or not isinstance(version, str) or not name or not version:
        return unknown(path, "conda-meta record without name or version", NAME)
    license_ = doc.get("license")
    files = doc.get("files")
    return AnalysisResult(packages=(conda_package(
        name, version, file_path=path, found_by=NAME, evidence="conda-meta",
        licenses=(license_,) if isinstance(license_, str) and license_ else (),
        installed_files=tuple(f for f in files if isinstance(f, str)) if isinstance(files, list) else (),
    ),))


class CondaMetaAnalyzer(Analyzer):
    name = NAME
    version = 1
    description = "Installed conda packages: conda-meta/*.json"
    result_type = "conda-pkg"
    files = spec(extensions=("json",))  # in a conda-meta directory (wants)
    modes = INSTALLED
    max_file_size = 32 * MiB

    def wants(self, path: str, mode: int, size: int) -> bool:
        return _PATH_RE.search(path) is not None

    def analyze(self, path: str, data: bytes) -> AnalysisResult:
        return parse(path, data)
