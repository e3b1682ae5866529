"""Go package naming shared by the Go analyzers: purls and the ``stdlib`` package."""

from __future__ import annotations

from dataclasses import dataclass

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


def is_local_path(path: str) -> bool:
    """Is a replacement a directory? The go command's rule: rooted, or starting with ``./``/``../``."""
    return (path in (".", "..") or path.startswith(("./", "../", "/", ".\\", "..\\", "\\"))
            or (len(path) > 2 and path[0].isalpha() and path[1] == ":" and path[2] in "/\\"))


@dataclass(frozen=True)
class Replaced:
    """A module after its replacement: what is built, and where that was read."""

    name: str
    version: str
    version_unknown_reason: str
    evidence: str


def apply_replacement(old_path: str, old_version: str, new_path: str, new_version: str, source: str) -> Replaced:
    """``old => new`` as the go command builds it: a versioned replacement is the new
    module at its version; a directory keeps the original path, listed without a version."""
    old = f"{old_path} {old_version}".strip()
    if is_local_path(new_path) or not new_version:
        return Replaced(old_path, "", f"replaced by local directory {new_path}",
                        f"{source} replace {old} => {new_path}")
    return Replaced(new_path, new_version, "", f"{source} replace {old} => {new_path} {new_version}")
