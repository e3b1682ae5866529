"""The pre-commit hook (.pre-commit-hooks.yaml): its command line, as pre-commit runs it
(``entry`` + ``args``, no file names), on a project with a vulnerable lockfile and on a
fixed one; its ``files`` pattern picks lockfiles only."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from test_cli_main import ROOT, run_cli

HOOK = yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text())[0]


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    work = tmp_path_factory.mktemp("hook")
    proc = run_cli("db", "import", str(ROOT / "examples" / "feeds"), cwd=work)
    assert proc.returncode == 0, proc.stderr
    return work / "cache"


def run_hook(project: Path, cache: Path) -> subprocess.CompletedProcess:
    argv = [*shlex.split(HOOK["entry"]), *HOOK["args"]]
    assert argv[0] == "layerscan" and HOOK["pass_filenames"] is False
    return subprocess.run([sys.executable, "-m", "layerscan.cli.main", *argv[1:]], cwd=project, capture_output=True,
                          text=True, timeout=120,
                          env={"PATH": "/usr/bin:/bin", "LAYERSCAN_CACHE_DIR": str(cache),
                               "LAYERSCAN_SKIP_DB_UPDATE": "true", "HOME": str(project)})


def test_vulnerable_lockfile_fails_the_commit(tmp_path: Path, cache: Path):
    (tmp_path / "requirements.txt").write_text("urllib3==1.24.1\n")
    proc = run_hook(tmp_path, cache)
    assert proc.returncode == 1, proc.stderr
    assert "CVE-2023-43804" in proc.stdout


def test_fixed_lockfile_passes(tmp_path: Path, cache: Path):
    (tmp_path / "requirements.txt").write_text("urllib3==1.26.18\n")
    proc = run_hook(tmp_path, cache)
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.parametrize("path, matches", [("requirements.txt", True), ("svc/poetry.lock", True),
                                           ("web/package-lock.json", True), ("go.sum", True),
                                           ("src/app.py", False), ("README.md", False)])
def test_files_pattern(path: str, matches: bool):
    assert bool(re.search(HOOK["files"], path)) is matches
