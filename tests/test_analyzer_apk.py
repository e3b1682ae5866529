"""apk analyzer: the corpus case, installed files, bad input."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from layerscan.analyzers.base import AnalysisResult
from layerscan.analyzers.os.apk import DB_PATH, ApkAnalyzer
from os_analyzer_helpers import assert_package, case_files, corpus_cases, find, load_case, run_analyzer


@pytest.mark.parametrize("case", corpus_cases("apk"))
def test_corpus_apk(corpus: Path, case: str) -> None:
    case_dir, expected = load_case(corpus, "apk", case)
    results = run_analyzer(ApkAnalyzer(), case_files(case_dir))
    packages = [p for r in results for p in r.packages]
    for want in expected["packages"]:
        pkg = assert_package(find(packages, want["name"]), want)
        assert pkg.purl == f"pkg:apk/alpine/{pkg.name}@{pkg.version}?arch={pkg.arch}"
    assert sorted(p.name for p in packages) == sorted(w["name"] for w in expected["packages"])
    # Records the peer drops (no version) are reported, not silently lost.
    db = (case_dir / "lib/apk/db/installed").read_text()
    records = [r for r in db.split("\n\n") if r.strip()]
    unknowns = [u for r in results for u in r.unknowns]
    assert len(records) - len(packages) == len(unknowns)


def _analyze(data: bytes) -> AnalysisResult:
    return ApkAnalyzer().analyze(DB_PATH, data)


def test_installed_files_follow_f_and_r_lines(corpus: Path) -> None:
    case_dir, _ = load_case(corpus, "apk", "trivy-apk-happy-path")
    data = (case_dir / "lib/apk/db/installed").read_bytes()
    # Rebuild musl's file list from its record's F:/R: lines.
    record = next(r for r in data.decode().split("\n\n") if "\nP:musl\n" in "\n" + r + "\n")
    directory, expected_files = "", []
    for line in record.splitlines():
        if line.startswith("F:"):
            directory = line[2:]
        elif line.startswith("R:"):
            expected_files.append(f"{directory}/{line[2:]}" if directory else line[2:])
    musl = next(p for p in _analyze(data).packages if p.name == "musl")
    assert musl.installed_files == tuple(expected_files)
    assert musl.licenses == ("MIT",)


def test_origin_missing_defaults_to_name_and_crlf() -> None:
    result = _analyze(b"P:busybox\r\nV:1.36.1-r15\r\nA:aarch64\r\n\r\nP:nover\r\n")
    assert [(p.name, p.src_name, p.version, p.arch) for p in result.packages] == [
        ("busybox", "busybox", "1.36.1-r15", "aarch64")
    ]
    assert len(result.unknowns) == 1


def test_hostile_inputs_never_raise() -> None:
    rng = random.Random(7)
    for blob in (bytes(rng.getrandbits(8) for _ in range(20000)), b"R:x\n" * 10000, b"P:a\nV:1\n" + b"garbage\n" * 100):
        result = _analyze(blob)
        assert len(result.unknowns) <= 50
        assert all(p.name and p.version for p in result.packages)


def test_wants_only_the_installed_db() -> None:
    analyzer = ApkAnalyzer()
    assert analyzer.wants("lib/apk/db/installed", 0o100644, 1)
    assert not analyzer.wants("lib/apk/db/scripts.tar", 0o100644, 1)
