"""Rust analyzers: cargo-auditable binaries (ELF, PE, Mach-O) and Cargo.lock, on every
corpus cargo case, plus damaged binaries derived here from a corpus binary."""

from __future__ import annotations

import json
import zlib
from pathlib import Path

import pytest

from conftest import CORPUS
from conftest_paths import corpus_params
from layerscan.analyzers.binfmt import open_executable
from layerscan.analyzers.base import AnalysisResult, sibling_path
from layerscan.analyzers.rust import auditable
from layerscan.analyzers.rust.auditable import RustBinaryAnalyzer
from layerscan.analyzers.rust.cargo_lock import CargoLockAnalyzer
from layerscan.model import Package

CARGO = CORPUS / "fixtures" / "cargo"
CASES = sorted(p.name for p in CARGO.iterdir()) if CARGO.is_dir() else []

def _audit(path: str, data: bytes, max_json: int = auditable.MAX_JSON) -> AnalysisResult:
    """The pure parser run through the analyzer (without its ELF/PE/Mach-O sniff, so damage shows)."""
    return RustBinaryAnalyzer().run_parser(path, lambda: auditable.parse(data, max_json))


def _cargo_lock(data: bytes) -> AnalysisResult:
    return CargoLockAnalyzer().analyze("Cargo.lock", data)


XFAIL: dict[str, str] = {}
UNREADABLE_MANIFEST = {"trivy-cargo-wrong-cargo.toml"}  # the case's Cargo.toml is broken on purpose


def _packages(case_dir: Path, inputs: list[str]) -> tuple[list[Package], list[str]]:
    """The packages of the case's lockfiles (with the Cargo.toml beside each, as the walker hands it
    over) and binaries, and the reasons of the unknowns."""
    packages: list[Package] = []
    reasons: list[str] = []
    for rel in inputs:
        if rel.endswith("Cargo.toml"):
            continue
        data = (case_dir / rel).read_bytes()
        if "Cargo.lock" in rel:
            toml = case_dir / sibling_path(rel, "Cargo.toml")
            siblings = {"Cargo.toml": toml.read_bytes()} if toml.is_file() else {}
            result = CargoLockAnalyzer().analyze_with_siblings(rel, data, siblings)
        else:
            result = _audit(rel, data)
        reasons += [u.reason for u in result.unknowns]
        packages.extend(result.packages)
    return packages, reasons


@pytest.mark.parametrize("case", corpus_params(CASES, XFAIL))
def test_corpus_case(corpus: Path, case: str) -> None:
    """What a default scan lists (dev-only crates left out, as the peers leave them out)."""
    case_dir = CARGO / case
    expected = json.loads((case_dir / "expected.json").read_text())
    packages, reasons = _packages(case_dir, expected["inputs"])
    assert all("Cargo.toml beside it is unreadable" in r for r in reasons) and bool(reasons) == (
        case in UNREADABLE_MANIFEST), reasons
    assert {(p.name, p.version) for p in packages if not p.dev} == \
        {(p["name"], p["version"]) for p in expected["packages"]}
    flags = {(p["name"], p["version"]): p["indirect"] for p in expected["packages"] if "indirect" in p}
    assert {(p.name, p.version): p.indirect for p in packages if (p.name, p.version) in flags} == flags


def _elf_binary(corpus: Path) -> bytes:
    return (corpus / "fixtures/cargo/trivy-binary-elf/test.elf").read_bytes()


def test_binary_analyzer_purls(corpus: Path) -> None:
    data = (corpus / "fixtures/cargo/scalibr-cargoauditable-uses_serde_json/uses_serde_json").read_bytes()
    analyzer = auditable.RustBinaryAnalyzer()
    assert analyzer.wants("usr/bin/uses_json", 0o755, len(data))
    pkgs = {p.name: p for p in analyzer.analyze("usr/bin/uses_json", data).packages}
    assert pkgs["serde_json"].purl == "pkg:cargo/serde_json@1.0.135"
    assert pkgs["uses_json"].is_application
    assert not pkgs["serde"].dev and not pkgs["serde"].is_application


def _patched(data: bytes, payload: bytes) -> bytes:
    section = open_executable(data).section(*auditable.SECTION_NAMES)
    assert section is not None and len(payload) <= section.size
    payload = payload.ljust(section.size, b"\0")
    return data[: section.offset] + payload + data[section.offset + section.size :]


def test_damaged_dep_section_is_unknown(corpus: Path) -> None:
    data = _elf_binary(corpus)
    for payload, reason in [
        (b"not zlib at all", "bad zlib data"),
        (zlib.compress(b"[1, 2, 3]"), "no 'packages' array"),
        (zlib.compress(b'{"packages": [ {"name": '), "bad JSON"),
    ]:
        result = _audit("bin", _patched(data, payload))
        assert not result.packages and reason in result.unknowns[0].reason


def test_build_kind_crates_are_marked(corpus: Path) -> None:
    doc = {"packages": [  # must fit the 118-byte section once compressed
        {"name": "app", "version": "0.1.0", "root": True},
        {"name": "cc", "version": "1.0.83", "kind": "build"},
    ]}
    data = _patched(_elf_binary(corpus), zlib.compress(json.dumps(doc).encode(), 9))
    pkgs = {p.name: p for p in _audit("bin", data).packages}
    assert pkgs["app"].is_application and not pkgs["app"].dev
    assert pkgs["cc"].dev and ("cargo_kind", "build") in pkgs["cc"].extra


def test_inflation_is_bounded(corpus: Path) -> None:
    result = _audit("bin", _elf_binary(corpus), max_json=64)
    assert not result.packages and "inflates beyond 64 bytes" in result.unknowns[0].reason


@pytest.mark.parametrize("cut", [6, 64, 2000, 200_000])
def test_truncated_binary_is_unknown_or_empty(corpus: Path, cut: int) -> None:
    result = _audit("bin", _elf_binary(corpus)[:cut])
    assert not result.packages and result.unknowns


def test_cargo_lock_bad_input() -> None:
    assert "invalid Cargo.lock" in _cargo_lock(b"[[package]\nname=").unknowns[0].reason
    assert _cargo_lock(b"\xff\xfe").unknowns
    result = _cargo_lock(b'[[package]]\nname = "a"\n[[package]]\nname = "b"\nversion = "1.0.0"\n')
    assert [(p.name, p.version) for p in result.packages] == [("b", "1.0.0")]
    assert "1 [[package]] entries" in result.unknowns[0].reason
