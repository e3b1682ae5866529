"""The README's offline demo keeps working: import the shipped feeds, scan the shipped image."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "layerscan.cli.main", *args], capture_output=True, text=True,
                          timeout=300, cwd=ROOT)


def test_readme_demo_finds_log4shell_debian_and_pypi_issues(tmp_path: Path):
    cache = str(tmp_path / "cache")
    imported = cli("db", "import", "examples/feeds", "--cache-dir", cache)
    assert imported.returncode == 0, imported.stderr
    out = cli("image", "--input", "examples/demo-image.tar", "--cache-dir", cache, "-f", "json", "--skip-db-update")
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    vulns = {(v["PkgName"], v["VulnerabilityID"]) for r in report["Results"] for v in r.get("Vulnerabilities") or []}
    assert ("org.apache.logging.log4j:log4j-core", "CVE-2021-44228") in vulns
    assert any(name == "libexpat1" for name, _ in vulns)
    assert any(name == "urllib3" for name, _ in vulns)
    assert report["Metadata"]["OS"]["EOSL"] is True
    gated = cli("image", "--input", "examples/demo-image.tar", "--cache-dir", cache, "--severity", "CRITICAL",
                "--exit-code", "1", "--skip-db-update", "-q")
    assert gated.returncode == 1
