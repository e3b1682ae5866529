"""Go package naming shared by the Go analyzers: purls and the ``stdlib`` package."""

from __future__ import annotations

from layerscan.analyzers.langbase import lang_purl
from layerscan.model import Package

STDLIB = "stdlib"


def golang_purl(module: str, version: str) -> str:
    namespace, _, name = module.rpartition("/")
    return lang_purl("golang", name, version, namespace)


def toolchain_version(go_version: str) -> str:
    """``go1.21.1`` / ``go1.22.1 X:boringcrypto`` -> ``v1.21.1`` (Trivy's stdlib version form)."""
    token = (go_version.split() or [""])[0]
    if not token.startswith("go"):
        return ""
    core = token[2:].split("-")[0]
    return "v" + core if core and core[0].isdigit() else ""


def go_package(
    module: str, version: str, *, file_path: str, found_by: str, evidence: str, **fields: object
) -> Package:
    return Package(
        name=module, version=version, type="golang", purl=golang_purl(module, version),
        file_path=file_path, found_by=found_by, evidence=evidence, **fields,  # type: ignore[arg-type]
    )
