"""The errors a new user meets in the first minute, through the real CLI: each is
one line that says what happened, plus (where there is one) a hint with the next
step; never a traceback, never a usage dump, never a silent pass."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from test_cli_main import EXIT_RUNTIME, EXIT_USAGE, assert_one_error_line, run_cli

ROOT = Path(__file__).resolve().parents[1]
DEMO = str(ROOT / "examples" / "demo-image.tar")
FEEDS = str(ROOT / "examples" / "feeds")
DEAD_FEEDS = {f"LAYERSCAN_DB_{s}_URL": "http://127.0.0.1:9" for s in
              ("OSV", "DEBIAN", "ALPINE", "KEV", "EPSS", "EOL", "NODEJS_SECURITY_WG", "NVD")}
DEAD_PROXY = {"HTTPS_PROXY": "http://127.0.0.1:9", "HTTP_PROXY": "http://127.0.0.1:9", "NO_PROXY": ""}


def hint_of(proc) -> str:
    return "".join(line for line in proc.stderr.splitlines() if line.startswith("layerscan: hint:"))


def test_no_database_and_no_update(tmp_path: Path):
    proc = run_cli("image", "--input", DEMO, "--skip-db-update", cwd=tmp_path)
    assert proc.returncode == EXIT_RUNTIME and proc.stdout == ""
    assert_one_error_line(proc)
    assert "no vulnerability database" in proc.stderr
    assert "layerscan db update" in hint_of(proc) and "layerscan db import DIR" in hint_of(proc)


def test_no_database_and_every_feed_unreachable(tmp_path: Path):
    proc = run_cli("image", "--input", DEMO, cwd=tmp_path, env=DEAD_FEEDS)
    assert proc.returncode == EXIT_RUNTIME and proc.stdout == ""
    assert_one_error_line(proc)
    assert "could be downloaded" in proc.stderr and "there is no database yet" in proc.stderr
    assert "layerscan db import DIR" in hint_of(proc)


def test_db_update_with_every_feed_unreachable_keeps_the_old_database(tmp_path: Path):
    assert run_cli("db", "import", FEEDS, cwd=tmp_path).returncode == 0
    db = tmp_path / "cache" / "db" / "layerscan.db"
    before = db.read_bytes()
    proc = run_cli("db", "update", "--force", "--no-progress", cwd=tmp_path, env=DEAD_FEEDS)
    assert proc.returncode == EXIT_RUNTIME
    assert_one_error_line(proc)
    assert "the existing database is kept" in proc.stderr and " old)" in proc.stderr
    assert "up to date" not in proc.stderr + proc.stdout
    assert db.read_bytes() == before


def test_docker_hub_name_while_offline(tmp_path: Path):
    proc = run_cli("image", "alpine:3.19", "--scanners", "none", cwd=tmp_path, env=DEAD_PROXY)
    assert proc.returncode == EXIT_RUNTIME
    assert_one_error_line(proc)
    assert "cannot reach registry registry-1.docker.io (proxy unreachable)" in proc.stderr
    assert "--input" in hint_of(proc)


def test_image_that_does_not_exist(registry, tmp_path: Path):
    proc = run_cli("image", f"{registry.host}/no/such-image:1", "--insecure", "--scanners", "none", cwd=tmp_path)
    assert proc.returncode == EXIT_RUNTIME
    assert_one_error_line(proc)
    assert f"{registry.host}/no/such-image:1: not found" in proc.stderr


@pytest.mark.parametrize(("args", "expected"), [
    (("image", "--severty", "HIGH", "x"), "unknown flag --severty: did you mean --severity?"),
    (("imgae", "x"), "unknown choice 'imgae': did you mean image?"),
    (("db", "updat"), "unknown choice 'updat': did you mean update?"),
    (("image", "--exit-code", "abc", "x"), "argument --exit-code: invalid int value: 'abc'"),
    (("image", "a", "b"), "unexpected argument: b"),
    (("image", "--list-al", "x"), "unknown flag --list-al: did you mean --list-all-pkgs?"),  # no abbreviations
    (("clean", "--scan-cach"), "unknown flag --scan-cach: did you mean --scan-cache?"),  # nothing deleted
])
def test_usage_errors_are_one_line_with_a_suggestion(tmp_path: Path, args, expected):
    proc = run_cli(*args, cwd=tmp_path)
    assert proc.returncode == EXIT_USAGE
    assert proc.stderr.count("\n") == 1, proc.stderr
    assert expected in proc.stderr and "--help'" in proc.stderr


@pytest.mark.parametrize("args", [
    ("image", "--input", "missing.tar"),
    ("rootfs", "missing-dir"),
    ("fs", "missing-dir"),
    ("sbom", "missing.json"),
    ("db", "import", "missing-dir"),
    ("image", "--input", DEMO, "--ignorefile", "missing.yaml"),
    ("image", "--input", DEMO, "--vex", "missing.json"),
])
def test_a_missing_input_is_one_exit_code_whatever_the_command(tmp_path: Path, args):
    proc = run_cli(*args, "--scanners", "none", cwd=tmp_path) if args[0] != "db" else run_cli(*args, cwd=tmp_path)
    assert proc.returncode == EXIT_USAGE, proc.stderr
    assert_one_error_line(proc)
    assert "no such file or directory" in proc.stderr


def test_platform_the_image_does_not_have(tmp_path: Path):
    proc = run_cli("image", "--input", DEMO, "--platform", "linux/arm64", "--scanners", "none", cwd=tmp_path)
    assert proc.returncode == EXIT_RUNTIME
    assert_one_error_line(proc)
    assert "no image for platform linux/arm64 (available: linux/amd64)" in proc.stderr


def test_readme_explain_line_works(tmp_path: Path):
    assert run_cli("db", "import", FEEDS, cwd=tmp_path).returncode == 0
    proc = run_cli("explain", "CVE-2021-44228", "--input", DEMO, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "log4j-core 2.14.1" in proc.stdout and "GHSA-jfh8-c2jp-5v3q" in proc.stdout


def test_debug_logs_what_the_scan_did(tmp_path: Path):
    assert run_cli("db", "import", FEEDS, cwd=tmp_path).returncode == 0
    proc = run_cli("image", "--input", DEMO, "--skip-db-update", "--debug", "-f", "json", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    json.loads(proc.stdout)  # the log never mixes into the report
    log = proc.stderr
    for what in ("opened", "layer cache miss", "opened database", "query affected", "matched", "report written"):
        assert what in log, what
    again = run_cli("image", "--input", DEMO, "--skip-db-update", "--debug", "-f", "json", cwd=tmp_path)
    assert "layer cache hit" in again.stderr
