"""Conda package construction shared by the conda analyzers."""

from __future__ import annotations

from layerscan.analyzers.langbase import lang_purl
from layerscan.model import Package


def conda_package(name: str, version: str, *, file_path: str, found_by: str, evidence: str,
                  type: str = "conda", **fields: object) -> Package:
    return Package(name=name, version=version, type=type, purl=lang_purl(type, name, version),
                   file_path=file_path, found_by=found_by, evidence=evidence, **fields)  # type: ignore[arg-type]
