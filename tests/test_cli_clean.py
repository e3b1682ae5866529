"""`layerscan clean --all | --scan-cache | --vuln-db` through the real CLI: it removes only
our own subdirectories of the cache root, says what and how much, never follows a link out,
and refuses a cache root of / or $HOME (or above it)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from test_cli_main import EXIT_RUNTIME, EXIT_USAGE, assert_one_error_line, run_cli

from layerscan.cli.clean_cmd import human_size

ROOT = Path(__file__).resolve().parents[1]
DEMO = str(ROOT / "examples" / "demo-image.tar")
FEEDS = str(ROOT / "examples" / "feeds")


def populated(work: Path) -> Path:
    """A real cache: the demo database and the demo scan's layer cache, plus foreign files."""
    assert run_cli("db", "import", FEEDS, "-q", cwd=work).returncode == 0
    assert run_cli("image", "--input", DEMO, "--skip-db-update", "-q", "-f", "json", cwd=work).returncode == 0
    cache = work / "cache"
    assert any((cache / "layers").rglob("*.json")) and (cache / "db" / "layerscan.db").is_file()
    (cache / "notes.txt").write_text("not ours")
    (cache / "other").mkdir()
    (cache / "other" / "keep").write_text("not ours")
    return cache


def freed(proc: subprocess.CompletedProcess) -> str:
    match = re.search(r"^freed (.+)$", proc.stdout, re.M)
    assert match, proc.stdout
    return match.group(1)


def foreign_files_kept(cache: Path) -> bool:
    return (cache / "notes.txt").read_text() == "not ours" and (cache / "other" / "keep").is_file()


def test_no_flag_says_what_to_pass(tmp_path: Path):
    proc = run_cli("clean", cwd=tmp_path)
    assert proc.returncode == EXIT_USAGE and proc.stdout == ""
    assert_one_error_line(proc)
    assert all(flag in proc.stderr for flag in ("--all", "--scan-cache", "--vuln-db"))


def test_scan_cache_only(tmp_path: Path):
    cache = populated(tmp_path)
    (cache / "layers" / "big.bin").write_bytes(os.urandom(300_000))
    proc = run_cli("clean", "--scan-cache", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert not (cache / "layers").exists() and (cache / "db" / "layerscan.db").is_file()
    assert f"removed layer cache: {cache / 'layers'}" in proc.stdout
    size = freed(proc)
    assert size.endswith(" kB") and float(size.split()[0]) >= 300, size
    assert foreign_files_kept(cache)
    again = run_cli("clean", "--scan-cache", cwd=tmp_path)
    assert again.returncode == 0 and "does not exist" in again.stdout and freed(again) == "0 B"


def test_vuln_db_only(tmp_path: Path):
    cache = populated(tmp_path)
    proc = run_cli("clean", "--vuln-db", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert not (cache / "db").exists() and any((cache / "layers").rglob("*.json"))
    assert "removed vulnerability database" in proc.stdout
    assert run_cli("version", "-f", "json", cwd=tmp_path).stdout.count("VulnerabilityDB") == 0


@pytest.mark.parametrize("flag", ["--all", "-a"])
def test_all_removes_ours_and_keeps_the_rest(tmp_path: Path, flag: str):
    cache = populated(tmp_path)
    proc = run_cli("clean", flag, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert not (cache / "layers").exists() and not (cache / "db").exists()
    assert cache.is_dir() and foreign_files_kept(cache)
    assert len([line for line in proc.stdout.splitlines() if line.startswith("removed ")]) == 2


def test_cache_dir_flag_is_honoured(tmp_path: Path):
    cache = populated(tmp_path)
    other = tmp_path / "other-cache"
    (other / "db").mkdir(parents=True)
    proc = run_cli("clean", "--all", "--cache-dir", str(other), cwd=tmp_path)
    assert proc.returncode == 0 and not (other / "db").exists()
    assert (cache / "db").is_dir() and (cache / "layers").is_dir()


def _ours(root: Path) -> None:
    for sub in ("db", "layers"):
        (root / sub).mkdir(parents=True, exist_ok=True)
        (root / sub / "keep").write_text("precious")


def _still_there(root: Path) -> bool:
    return all((root / sub / "keep").read_text() == "precious" for sub in ("db", "layers"))


@pytest.mark.parametrize("which", ["home", "above-home", "root"])
def test_refuses_home_and_root(tmp_path: Path, which: str):
    home = tmp_path / "users" / "me"
    _ours(home)
    _ours(tmp_path / "users")
    cache = {"home": str(home), "above-home": str(tmp_path / "users"), "root": "/"}[which]
    proc = run_cli("clean", "--all", "--cache-dir", cache, cwd=tmp_path, env={"HOME": str(home)})
    assert proc.returncode == EXIT_USAGE and "refusing" in proc.stderr
    assert_one_error_line(proc)
    assert _still_there(home) and _still_there(tmp_path / "users")


def test_refuses_home_reached_through_a_link(tmp_path: Path):
    home = tmp_path / "me"
    _ours(home)
    (tmp_path / "alias").symlink_to(home)
    proc = run_cli("clean", "--all", "--cache-dir", str(tmp_path / "alias"), cwd=tmp_path, env={"HOME": str(home)})
    assert proc.returncode == EXIT_USAGE and _still_there(home)


def test_never_follows_a_linked_subdirectory_out(tmp_path: Path):
    outside = tmp_path / "outside"
    _ours(outside)
    cache = tmp_path / "cache"
    (cache / "layers").mkdir(parents=True)
    (cache / "layers" / "entry.json").write_text("{}")
    (cache / "db").symlink_to(outside / "db")
    proc = run_cli("clean", "--all", cwd=tmp_path)
    assert proc.returncode == EXIT_RUNTIME and "symbolic link" in proc.stderr
    assert_one_error_line(proc)
    assert _still_there(outside)
    assert (cache / "layers" / "entry.json").is_file()  # checked before anything was removed


def test_links_inside_our_directories_are_removed_not_followed(tmp_path: Path):
    outside = tmp_path / "outside"
    _ours(outside)
    layers = tmp_path / "cache" / "layers"
    layers.mkdir(parents=True)
    (layers / "to-dir").symlink_to(outside / "db")
    (layers / "to-file").symlink_to(outside / "layers" / "keep")
    proc = run_cli("clean", "--scan-cache", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert not layers.exists() and _still_there(outside)


def test_refuses_a_file_where_our_directory_should_be(tmp_path: Path):
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / "db").write_text("someone else's file")
    proc = run_cli("clean", "--vuln-db", cwd=tmp_path)
    assert proc.returncode == EXIT_RUNTIME and "not a directory" in proc.stderr
    assert (cache / "db").read_text() == "someone else's file"


def test_refuses_while_a_database_is_being_built(tmp_path: Path):
    db_dir = tmp_path / "cache" / "db"
    db_dir.mkdir(parents=True)
    (db_dir / "layerscan.db").write_bytes(b"x")
    holder = subprocess.Popen(
        [sys.executable, "-c", ("import time\nfrom layerscan.db.lock import BuildLock\n"
                                f"with BuildLock({str(db_dir / 'layerscan.db')!r}):\n"
                                "    print('locked', flush=True)\n    time.sleep(30)")],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        proc = run_cli("clean", "--vuln-db", cwd=tmp_path)
        assert proc.returncode == EXIT_RUNTIME and "another layerscan is updating" in proc.stderr
        assert (db_dir / "layerscan.db").is_file()
    finally:
        holder.kill()
        holder.wait()


def test_trivy_only_caches_are_accepted(tmp_path: Path):
    proc = run_cli("clean", "--java-db", "--checks-bundle", "--vex-repo", cwd=tmp_path)
    assert proc.returncode == 0 and proc.stdout.count("nothing to remove") == 3


@pytest.mark.parametrize(("size", "text"), [(0, "0 B"), (999, "999 B"), (1500, "1.5 kB"),
                                            (2_500_000, "2.5 MB"), (3_200_000_000, "3.2 GB")])
def test_human_size(size: int, text: str):
    assert human_size(size) == text
