"""Shared helpers for the OS analyzer tests: corpus cases and package comparison.

(No tests here: a helper module, so pytest does not collect it.)
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest

from conftest import CORPUS, corpus_available
from layerscan.analyzers.base import AnalysisResult, Analyzer
from layerscan.model import Package


def corpus_cases(ecosystem: str) -> list[Any]:
    """Case names of one ecosystem from INDEX.json (one skipped param without the corpus)."""
    if not corpus_available():
        return [pytest.param("", marks=pytest.mark.skip(reason="../shared/corpus is absent"))]
    index = json.loads((CORPUS / "fixtures" / "INDEX.json").read_text())
    return sorted(c["case"] for c in index["cases"] if c["ecosystem"] == ecosystem)


def load_case(corpus: Path, ecosystem: str, case: str) -> tuple[Path, dict[str, Any]]:
    case_dir = corpus / "fixtures" / ecosystem / case
    return case_dir, json.loads((case_dir / "expected.json").read_text())


def case_files(case_dir: Path) -> list[tuple[str, Path]]:
    """(path relative to the image root, file) for every input file of a case."""
    skip = {"expected.json", "PROVENANCE.txt"}
    return sorted(
        (f.relative_to(case_dir).as_posix(), f) for f in case_dir.rglob("*") if f.is_file() and f.name not in skip
    )


def run_analyzer(analyzer: Analyzer, files: Iterable[tuple[str, Path]]) -> list[AnalysisResult]:
    """Feed the analyzer the files it wants, as the walker would."""
    results = []
    for rel, path in files:
        size = path.stat().st_size
        if analyzer.wants(rel, 0o100644, size) and size <= analyzer.max_file_size:
            results.append(analyzer.analyze(rel, path.read_bytes()))
    return results


def full_version(expected: dict[str, Any]) -> str:
    """The expected [epoch:]version[-release]; some peers report the epoch apart."""
    version = str(expected["version"])
    epoch = expected.get("epoch")
    if epoch and ":" not in version:
        return f"{epoch}:{version}"
    return version


def find(packages: Iterable[Package], name: str) -> list[Package]:
    return [p for p in packages if p.name == name]


def assert_package(found: list[Package], expected: dict[str, Any]) -> Package:
    """One expected package: exact name, full version, arch and source fields when given."""
    name = expected["name"]
    assert found, f"{name} not found"
    version = full_version(expected)
    matches = [p for p in found if p.version == version]
    assert matches, f"{name}: expected version {version}, found {[p.version for p in found]}"
    pkg = matches[0]
    if expected.get("arch"):
        assert pkg.arch == expected["arch"], name
    if expected.get("source_name"):
        assert pkg.src_name == expected["source_name"], name
    if expected.get("source_version"):
        assert pkg.src_version == expected["source_version"], name
    return pkg
