"""``Cargo.lock`` (fs mode): every ``[[package]]`` with its name and version.

Packages without a ``source`` are workspace/path crates (the project's own
code): listed with ``is_application`` and recorded in ``extra``; registry and
git sources are kept in ``extra`` as ``source``.
"""

from __future__ import annotations

from layerscan.analyzers.base import AnalysisResult, Analyzer, LOCKFILE, MiB, spec, unknown
from layerscan.analyzers.rust.names import cargo_package
from layerscan.model import Package
from layerscan.textload import LoadError, parse_toml

NAME = "cargo-lock"


def parse(path: str, data: bytes) -> AnalysisResult:
    try:
        doc = parse_toml(data)
    except LoadError as exc:
        return unknown(path, f"invalid Cargo.lock: {exc.detail}", NAME)
    entries = doc.get("package", [])
    if not isinstance(entries, list):
        return unknown(path, "invalid Cargo.lock: 'package' is not an array of tables", NAME)
    packages: list[Package] = []
    skipped = 0
    for entry in entries:
        name = entry.get("name") if isinstance(entry, dict) else None
        version = entry.get("version") if isinstance(entry, dict) else None
        if not isinstance(name, str) or not isinstance(version, str):
            skipped += 1
            continue
        source = entry.get("source", "")
        source = source if isinstance(source, str) else ""
        packages.append(cargo_package(
            name, version, file_path=path, found_by=NAME, evidence="Cargo.lock",
            is_application=not source, extra=(("source", source),) if source else (("source", "local"),),
        ))
    if skipped:
        return AnalysisResult(packages=tuple(packages), unknowns=unknown(
            path, f"{skipped} [[package]] entries without a name or version", NAME).unknowns)
    return AnalysisResult(packages=tuple(packages))


class CargoLockAnalyzer(Analyzer):
    name = NAME
    version = 1
    description = "Cargo.lock: the locked crates"
    result_type = "cargo"
    files = spec(names=("Cargo.lock",))
    modes = LOCKFILE
    max_file_size = 64 * MiB

    def wants(self, path: str, mode: int, size: int) -> bool:
        return path.rsplit("/", 1)[-1] == "Cargo.lock"

    def analyze(self, path: str, data: bytes) -> AnalysisResult:
        return parse(path, data)
