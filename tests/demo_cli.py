"""The demo image scanned through the real CLI, for the report-format tests: a module-scoped
cache with the database imported from examples/feeds, and ``scan(work, *args)``."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from test_cli_main import ROOT, run_cli

DEMO = str(ROOT / "examples" / "demo-image.tar")


@pytest.fixture(scope="module")
def demo_work(tmp_path_factory: pytest.TempPathFactory) -> Path:
    work = tmp_path_factory.mktemp("demo")
    proc = run_cli("db", "import", str(ROOT / "examples" / "feeds"), cwd=work)
    assert proc.returncode == 0, proc.stderr
    return work


def scan(work: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    proc = run_cli("image", "--input", DEMO, "--skip-db-update", *args, cwd=work, env=env)
    assert proc.returncode == 0, proc.stderr
    return proc
