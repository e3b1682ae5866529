"""Cargo package construction shared by the Rust analyzers."""

from __future__ import annotations

from layerscan.analyzers.langbase import lang_purl
from layerscan.model import Package


def cargo_package(name: str, version: str, *, file_path: str, found_by: str, evidence: str,
                  **fields: object) -> Package:
    return Package(name=name, version=version, type="cargo", purl=lang_purl("cargo", name, version),
                   file_path=file_path, found_by=found_by, evidence=evidence, **fields)  # type: ignore[arg-type]
