"""The inventory formats of issue #12 through the real CLI: pyproject.toml, sbt and Gradle
(buildscript, legacy) lockfiles and a uv workspace in ``layerscan fs``, wheels in ``layerscan rootfs``; exact pins
matched against a database built from the corpus feeds (GitHub's Log4Shell record, PyPA's
advisories), ranges listed and never matched."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from conftest_paths import CORPUS
from layerscan.analyzers.base import STREAM_MIN_SIZE

LOCKFILES = Path(__file__).parent / "fixtures" / "lockfiles"


def _run(*args: str, cache: Path) -> dict:
    proc = subprocess.run([sys.executable, "-m", "layerscan.cli.main", "--cache-dir", str(cache), "--no-progress", *args,
                           "-f", "json"], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stderr
    return json.loads(proc.stdout)


def _packages(report: dict) -> dict[tuple[str, str], dict]:
    return {(r["Target"], p["Name"]): {**p, "Type": r["Type"]} for r in report["Results"] for p in r.get("Packages", [])}


@pytest.fixture(scope="module")
def small_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    feeds = [CORPUS / "feeds" / "osv-ghsa-curated", CORPUS / "feeds" / "osv-pypi-pypa"]
    if not all(f.is_dir() for f in feeds):
        pytest.skip("../shared/corpus feeds are absent")
    from layerscan.db.build import import_paths

    cache = tmp_path_factory.mktemp("cache")
    import_paths(cache / "db" / "layerscan.db", feeds)
    return cache


def test_fs_lists_every_new_format_with_dev_flags(tmp_path: Path) -> None:
    report = _run("fs", str(LOCKFILES), "--scanners", "none", "--list-all-pkgs", "--include-dev-deps",
                  cache=tmp_path / "cache")
    pkgs = _packages(report)
    types = {target: t for (target, _), p in pkgs.items() for t in [p["Type"]]}
    assert types == {"gradle-buildscript/buildscript-gradle.lockfile": "gradle",
                     "gradle-buildscript/gradle.lockfile": "gradle",
                     "gradle-legacy/gradle/dependency-locks/compileClasspath.lockfile": "gradle",
                     "gradle-legacy/gradle/dependency-locks/testRuntimeClasspath.lockfile": "gradle",
                     "npm-v3-dev-and-prod/package-lock.json": "npm", "pnpm-remote/pnpm-lock.yaml": "pnpm",
                     "pyproject-pep621/pyproject.toml": "pyproject", "pyproject-poetry1/pyproject.toml": "pyproject",
                     "sbt/build.sbt.lock": "sbt", "uv-workspace/uv.lock": "uv"}
    scalatest = pkgs[("sbt/build.sbt.lock", "org.scalatest:scalatest_2.13")]
    assert scalatest["Version"] == "3.2.3" and scalatest["Dev"] is True
    assert pkgs[("pyproject-poetry1/pyproject.toml", "requests")]["VersionUnknownReason"] == "not pinned (^2.25)"
    assert pkgs[("pyproject-pep621/pyproject.toml", "inventory-demo")]["Excluded"] == "application"
    assert pkgs[("uv-workspace/uv.lock", "bird-feeder")]["Excluded"] == "application"  # a workspace member
    # the malformed gradle line is reported on its own file's result
    (result,) = [r for r in report["Results"] if r["Target"] == "gradle-buildscript/gradle.lockfile"]
    assert [u["Reason"] for u in result["Unknowns"]] == [
        "line 7: not group:artifact:version: 'org.mockito:mockito-core=testCompileClasspath'"]


def test_fs_default_leaves_test_only_dependencies_out(tmp_path: Path) -> None:
    pkgs = _packages(_run("fs", str(LOCKFILES), "--scanners", "none", "--list-all-pkgs", cache=tmp_path / "cache"))
    names = {name for _, name in pkgs}
    assert "org.scalatest:scalatest_2.13" not in names and "junit:junit" not in names and "ruff" not in names
    assert "javax.servlet:javax.servlet-api" in names and "cryptography" in names


def test_fs_matches_exact_pins_only(small_db: Path) -> None:
    report = _run("fs", str(LOCKFILES), "--skip-db-update", "--offline-scan", cache=small_db)
    found = {(r["Target"], v["PkgName"], v["VulnerabilityID"]) for r in report["Results"]
             for v in r.get("Vulnerabilities", [])}
    assert ("gradle-buildscript/buildscript-gradle.lockfile", "org.apache.logging.log4j:log4j-core",
            "CVE-2021-44228") in found
    assert ("pyproject-poetry1/pyproject.toml", "pyyaml", "CVE-2020-14343") in found
    assert ("pyproject-pep621/pyproject.toml", "urllib3", "CVE-2021-33503") in found  # "urllib3 (==1.26.4)"
    matched = {name for _, name, _ in found}
    unpinned = {"PyYAML", "numpy", "attrs", "mylib", "click", "sphinx"}
    assert not matched & unpinned
    poetry_requests = {(t, n) for t, n, _ in found if t.endswith("poetry1/pyproject.toml") and n == "requests"}
    assert poetry_requests == set()  # "^2.25" is a range


def test_rootfs_reads_wheels_left_in_the_image(tmp_path: Path) -> None:
    import ensurepip

    wheels = sorted((Path(ensurepip.__file__).parent / "_bundled").glob("*.whl"))
    if not wheels:
        pytest.skip("this Python ships no ensurepip wheels")
    root = tmp_path / "root"
    (root / "wheels").mkdir(parents=True)
    for wheel in wheels:
        shutil.copy(wheel, root / "wheels" / wheel.name)
    (root / "wheels" / "broken-1.0-py3-none-any.whl").write_bytes(b"PK\x03\x04 not a wheel")
    # a wheel above the streaming threshold (a real wheel's members plus 9 MiB of stored data): read as a stream
    big = root / "opt" / "dist" / wheels[0].name
    big.parent.mkdir(parents=True)
    with zipfile.ZipFile(wheels[0]) as src, zipfile.ZipFile(big, "w") as dst:
        for info in src.infolist():
            dst.writestr(info, src.read(info))
        dst.writestr("pip/_vendor/blob.bin", os.urandom(9 << 20), compress_type=zipfile.ZIP_STORED)
    assert big.stat().st_size >= STREAM_MIN_SIZE
    report = _run("rootfs", str(root), "--scanners", "none", "--list-all-pkgs", cache=tmp_path / "cache")
    listed = {(p["Name"], p["Version"], p["FilePath"]) for r in report["Results"] for p in r.get("Packages", [])}
    want = {(w.name.split("-")[0], w.name.split("-")[1], f"wheels/{w.name}") for w in wheels}
    want.add((wheels[0].name.split("-")[0], wheels[0].name.split("-")[1], f"opt/dist/{wheels[0].name}"))
    assert want <= listed
    unknowns = [u for r in report["Results"] for u in r.get("Unknowns", [])]
    assert [(u["Path"], u["Analyzer"]) for u in unknowns] == [("wheels/broken-1.0-py3-none-any.whl", "python-wheel")]
