"""Conda package construction shared by the conda analyzers."""

from __future__ import annotations

from packageurl import PackageURL

from layerscan.model import Package


def conda_package(name: str, version: str, *, file_path: str, found_by: str, evidence: str,
                  type: str = "conda", **fields: object) -> Package:
    purl = PackageURL(type=type, name=name, version=version or None).to_string() if name else ""
    return Package(name=name, version=version, type=type, purl=purl, file_path=file_path,
                   found_by=found_by, evidence=evidence, **fields)  # type: ignore[arg-type]
