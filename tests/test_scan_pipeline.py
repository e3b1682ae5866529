"""The scan as a library call (issue #14): ``Scanner(...).run(ScanConfig)`` gives the report
and exit code the CLI gives for the same target and flags, with no CLI module involved,
and reports its warnings through the caller's callback.

Target: the demo image (examples/demo-image.tar) and the project's example feeds.
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

from test_cli_main import ROOT, run_cli

DEMO = ROOT / "examples" / "demo-image.tar"
FEEDS = ROOT / "examples" / "feeds"


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> Path:
    work = tmp_path_factory.mktemp("pipeline")
    assert run_cli("db", "import", str(FEEDS), cwd=work).returncode == 0
    return work


def _config(work: Path, **policy: object):
    from layerscan.policy.decision import PolicyOptions
    from layerscan.scan.config import DatabaseConfig, InventoryConfig, ReportConfig, ScanConfig, Target
    from layerscan.scan.inventory import ScanOptions

    return ScanConfig(
        inventory=InventoryConfig(Target("image", input_path=str(DEMO)), options=ScanOptions(mode="image")),
        database=DatabaseConfig(cache_dir=work / "cache", skip_update=True),
        policy=PolicyOptions(**policy), report=ReportConfig(format="json"))


def _json(report) -> dict:
    from layerscan.report.json_report import write

    out = io.StringIO()
    write(report, out)
    doc = json.loads(out.getvalue())
    doc.pop("CreatedAt", None)
    return doc


def test_library_scan_equals_the_cli(work: Path):
    from layerscan.scan.pipeline import Scanner

    warnings: list[str] = []
    outcome = Scanner(warn=warnings.append).run(
        _config(work, severities=frozenset({"CRITICAL", "HIGH"}), exit_code=7))
    proc = run_cli("image", "--input", str(DEMO), "--skip-db-update", "-f", "json", "--severity", "CRITICAL,HIGH",
                   "--exit-code", "7", cwd=work)
    cli = json.loads(proc.stdout)
    cli.pop("CreatedAt", None)
    assert outcome.exit_code == proc.returncode == 7  # the demo has a HIGH/CRITICAL finding
    assert _json(outcome.report) == cli
    cli_warnings = [line.removeprefix("layerscan: warning: ") for line in proc.stderr.splitlines()
                    if line.startswith("layerscan: warning: ")]
    assert warnings == cli_warnings


def test_library_scan_never_imports_the_cli(work: Path):
    code = (
        "import sys\n"
        "from layerscan.scan.pipeline import Scanner\n"
        f"sys.path.insert(0, {str(ROOT / 'tests')!r})\n"
        "from test_scan_pipeline import _config\n"
        "from pathlib import Path\n"
        f"outcome = Scanner().run(_config(Path({str(work)!r})))\n"
        "assert outcome.report.results, 'a report with results'\n"
        "print(sorted(m for m in sys.modules if m.startswith('layerscan.cli')))\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, cwd=work)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"


def test_inventory_only_needs_no_database(tmp_path: Path):
    from layerscan.scan.pipeline import Scanner

    config = _config(tmp_path)  # no database under tmp_path/cache
    sbom = Scanner().inventory(config.inventory)
    assert sbom.packages and sbom.image and len(sbom.image.layers) >= 2
