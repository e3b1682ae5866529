"""Trivy command lines pasted from CI scripts run unchanged: each line of the table is
replayed through the real CLI with `trivy` replaced by `layerscan`, against the demo
image and a database built from examples/feeds; each row says what must hold."""

from __future__ import annotations

import json
import shlex
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Callable

import pytest

from test_cli_main import EXIT_USAGE, assert_one_error_line, run_cli

ROOT = Path(__file__).resolve().parents[1]
DEMO = str(ROOT / "examples" / "demo-image.tar")


def _json(out: str) -> dict:
    return json.loads(out)


def _vulns(doc: dict) -> list[dict]:
    return [v for r in doc.get("Results") or [] for v in r.get("Vulnerabilities") or []]


def _is_html(out: str) -> bool:
    return out.lstrip().lower().startswith("<!doctype html")


def _junit(out: str) -> bool:
    root = ET.fromstring(out)
    return root.tag in ("testsuites", "testsuite") and root.find(".//testcase") is not None


def _gitlab(out: str) -> bool:
    doc = json.loads(out)
    return doc["scan"]["type"] == "container_scanning" and len(doc["vulnerabilities"]) > 0


def _github(out: str) -> bool:
    doc = json.loads(out)
    resolved = [p for m in doc["manifests"].values() for p in m["resolved"].values()]
    return doc["version"] == 0 and any(p["package_url"].startswith("pkg:maven/") for p in resolved)


def _spdx_tv(out: str) -> bool:
    return out.startswith("SPDXVersion: SPDX-2.3") and "PackageName: org.apache.logging.log4j:log4j-core" in out


def _high_only(out: str) -> bool:
    vulns = _vulns(_json(out))
    return bool(vulns) and {v["Severity"] for v in vulns} <= {"HIGH", "CRITICAL"}


def _no_jar_findings(out: str) -> bool:
    return not any("log4j" in v["PkgName"] for v in _vulns(_json(out)))


def _packages_listed(out: str) -> bool:
    return any(r.get("Packages") for r in _json(out)["Results"])


# (trivy command line after `trivy`, expected exit code, check on stdout, text expected on stderr)
LINES: list[tuple[str, int, Callable[[str], bool] | None, str]] = [
    ("image --input {demo} --timeout 5m -f json", 0, lambda o: bool(_vulns(_json(o))), ""),
    ("image --input {demo} --timeout 1h30m10s -f json", 0, lambda o: bool(_vulns(_json(o))), ""),
    ("image --input {demo} --scanners vuln,secret -f json", 0, lambda o: bool(_vulns(_json(o))),
     "--scanners secret: not supported by layerscan, not run"),
    ("image --input {demo} --scanners misconfig -f json", 0, lambda o: not _vulns(_json(o)),
     "--scanners misconfig: not supported"),
    ("image --input {demo} -f template -t @html.tpl", 0, _is_html, ""),
    ("image --input {demo} --format template --template @contrib/html.tpl", 0, _is_html, ""),
    ("image --input {demo} -f template -t @/contrib/junit.tpl", 0, _junit, ""),
    ("image --input {demo} -f template -t @contrib/gitlab.tpl", 0, _gitlab, ""),
    ("image --input {demo} -f template -t @my-own.tpl", EXIT_USAGE, None, "custom Go templates are not supported"),
    ("image --input {demo} -f github", 0, _github, ""),
    ("image --input {demo} -f spdx", 0, _spdx_tv, ""),
    ("image --input {demo} --skip-files srv/app.jar -f json", 0, _no_jar_findings, ""),
    ("image --input {demo} --skip-java-db-update -f json", 0, lambda o: bool(_vulns(_json(o))), ""),
    ("image --input {demo} --show-suppressed --ignorefile {ignore}", 0,
     lambda o: "Suppressed Vulnerabilities (Total: " in o and "CVE-2021-44228" in o.split("Suppressed")[1], ""),
    ("image --input {demo} --ignorefile {ignore}", 0,
     lambda o: "Suppressed Vulnerabilities" not in o and "(list them with --show-suppressed)" in o, ""),
    ("image --input {demo} --ignorefile {ignore} -f json", 0,  # JSON keeps them, as Trivy's does
     lambda o: any(r.get("ExperimentalModifiedFindings") for r in _json(o)["Results"]), ""),
    ("image --input {demo} --dependency-tree", 0, lambda o: "Total:" in o, "--dependency-tree"),
    ("image --input {demo} --detection-priority comprehensive -f json", 0, lambda o: bool(_vulns(_json(o))), ""),
    ("image --input {demo} --detection-priority precise -f json", 0, lambda o: bool(_vulns(_json(o))), ""),
    ("image --input {demo} --ignore-policy policy.rego", EXIT_USAGE, None, "Rego policies are not supported"),
    ("image --input {demo} --severity HIGH,CRITICAL --exit-code 1 --ignore-unfixed -f json", 1, _high_only, ""),
    ("image --input {demo} --vuln-type os,library --list-all-pkgs -f json", 0, _packages_listed, ""),
    ("image --input {demo} --pkg-types library -f json", 0,
     lambda o: all(r["Class"] != "os-pkgs" for r in _json(o)["Results"] if r.get("Vulnerabilities")), ""),
    ("image --input {demo} -q -f json", 0, lambda o: bool(_vulns(_json(o))), ""),
    ("image --input {demo} --severity UNKNOWN --exit-code 1 -f json", 1,
     lambda o: bool(_vulns(_json(o))) and {v["Severity"] for v in _vulns(_json(o))} == {"UNKNOWN"}, ""),
]


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    work = tmp_path_factory.mktemp("trivy-lines")
    assert run_cli("db", "import", str(ROOT / "examples" / "feeds"), cwd=work).returncode == 0
    (work / "ignore.txt").write_text("CVE-2021-44228\n")
    return work


@pytest.mark.parametrize(("line", "code", "check", "stderr"), LINES, ids=[row[0][:70] for row in LINES])
def test_trivy_line_runs_unchanged(workdir: Path, line: str, code: int, check, stderr: str):
    args = shlex.split(line.format(demo=DEMO, ignore=workdir / "ignore.txt"))
    proc = run_cli(*args, "--skip-db-update", cwd=workdir)
    assert proc.returncode == code, proc.stderr
    assert "Traceback" not in proc.stderr
    if stderr:
        assert stderr in proc.stderr, proc.stderr
    if code == EXIT_USAGE:
        assert_one_error_line(proc)
    if check is not None:
        assert check(proc.stdout), proc.stdout[:2000]


@pytest.mark.parametrize(("env", "config", "expected"), [
    ({"TRIVY_SEVERITY": "CRITICAL", "TRIVY_FORMAT": "json"}, None, {"CRITICAL"}),
    ({}, "severity: [CRITICAL]\nformat: json\n", {"CRITICAL"}),
    ({}, "severity: HIGH,CRITICAL\nformat: json\nvulnerability:\n  ignore-unfixed: true\n", {"HIGH", "CRITICAL"}),
])
def test_trivy_settings_are_read_without_a_layerscan_config(workdir: Path, tmp_path: Path, env, config, expected):
    cwd = tmp_path
    (cwd / "cache").symlink_to(workdir / "cache")
    if config:
        (cwd / "trivy.yaml").write_text(config + "cache:\n  dir: /trivy/own/cache\n")
    proc = run_cli("image", "--input", DEMO, "--skip-db-update", cwd=cwd, env=env)
    assert proc.returncode == 0, proc.stderr
    vulns = _vulns(json.loads(proc.stdout))
    assert vulns and {v["Severity"] for v in vulns} <= expected


def test_a_layerscan_config_wins_over_trivy_settings(workdir: Path, tmp_path: Path):
    (tmp_path / "cache").symlink_to(workdir / "cache")
    (tmp_path / "trivy.yaml").write_text("format: sarif\n")
    (tmp_path / "layerscan.yaml").write_text("format: json\n")
    proc = run_cli("image", "--input", DEMO, "--skip-db-update", cwd=tmp_path, env={"TRIVY_FORMAT": "table"})
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["SchemaVersion"] == 2


def test_bad_duration_is_a_usage_error(workdir: Path):
    proc = run_cli("image", "--input", DEMO, "--timeout", "5 minutes", cwd=workdir)
    assert proc.returncode == EXIT_USAGE
    assert "invalid duration '5 minutes'" in proc.stderr and proc.stderr.count("\n") == 1
