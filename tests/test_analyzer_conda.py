"""Conda analyzers on every corpus conda case, plus hostile inputs built here."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import CORPUS
from layerscan.analyzers.conda.environment import CondaEnvironmentAnalyzer
from layerscan.analyzers.conda.meta import CondaMetaAnalyzer

CONDA = CORPUS / "fixtures" / "conda"
CASES = sorted(p.name for p in CONDA.iterdir()) if CONDA.is_dir() else []


@pytest.mark.parametrize("case", CASES or ["<no corpus>"])
def test_corpus_case(corpus: Path, case: str) -> None:
    case_dir = CONDA / case
    expected = json.loads((case_dir / "expected.json").read_text())
    got = set()
    for rel in expected["inputs"]:
        analyzer = CondaMetaAnalyzer() if rel.endswith(".json") else CondaEnvironmentAnalyzer()
        result = analyzer.analyze(rel, (case_dir / rel).read_bytes())
        assert not result.unknowns
        got |= {(p.name, p.version) for p in result.packages if not p.version_unknown_reason}
    assert got == {(p["name"], p["version"]) for p in expected["packages"]}


def test_environment_inexact_specs_are_listed_unmatched() -> None:
    data = b"dependencies:\n  - libblas>=3.9\n  - numpy=1.26.*\n  - zlib 1.2.13 h5eee18b_0\n  - pip:\n    - Flask_Login[extra]\n"
    pkgs = {p.name: p for p in CondaEnvironmentAnalyzer().analyze("environment.yml", data).packages}
    assert pkgs["zlib"].version == "1.2.13" and pkgs["zlib"].purl == "pkg:conda/zlib@1.2.13"
    for name in ("libblas", "numpy", "flask-login"):
        assert not pkgs[name].matchable and pkgs[name].version_unknown_reason
    assert pkgs["flask-login"].type == "pypi"


@pytest.mark.parametrize("data", [b"{", b"[1,2]", b'{"name": "x"}', b"\xff\xfe\x00"])
def test_bad_meta_is_unknown(data: bytes) -> None:
    result = CondaMetaAnalyzer().analyze("opt/conda/conda-meta/x.json", data)
    assert not result.packages and result.unknowns


@pytest.mark.parametrize("data", [b"a: [", b"- 1\n- 2\n", b"dependencies: 3\n", b"a: &x [*x]\n"])
def test_bad_environment_is_unknown(data: bytes) -> None:
    result = CondaEnvironmentAnalyzer().analyze("environment.yml", data)
    assert not result.packages and result.unknowns


def test_wants() -> None:
    assert CondaMetaAnalyzer().wants("opt/conda/envs/app/conda-meta/numpy-1.26.4-py311_0.json", 0o644, 10)
    assert not CondaMetaAnalyzer().wants("opt/conda/pkgs/numpy/info/index.json", 0o644, 10)
    assert CondaEnvironmentAnalyzer().wants("src/environment.yml", 0o644, 10)
