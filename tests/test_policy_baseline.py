"""--baseline: reading previous layerscan / Trivy JSON reports, which findings are new, and
the gate (only new findings fail; base-layer findings never do). The reports are written by
our own JSON writer from tests/fixtures/report/sample.py, reduced to Trivy's fields where
the Trivy shape is under test."""

from __future__ import annotations

import io
import json
from dataclasses import replace

import pytest
from fixtures.report.sample import FINDINGS, SUPPRESSED, sample_report

from layerscan.errors import UsageError
from layerscan.policy import PolicyOptions, apply_policy
from layerscan.policy.baseline import MAX_BASELINE, load_baseline, parse_baseline
from layerscan.report import json_report

TRIVY_FIELDS = ("VulnerabilityID", "PkgID", "PkgName", "InstalledVersion", "FixedVersion", "Status",
                "Severity", "Layer", "PrimaryURL", "Title")


def report_bytes() -> bytes:
    buf = io.StringIO()
    json_report.write(sample_report(), buf)
    return buf.getvalue().encode()


def trivy_bytes() -> bytes:
    doc = json.loads(report_bytes())
    for result in doc["Results"]:
        result.pop("ExperimentalModifiedFindings", None)
        result["Vulnerabilities"] = [{k: v[k] for k in TRIVY_FIELDS if k in v}
                                     for v in result.get("Vulnerabilities", [])]
    return json.dumps({k: doc[k] for k in ("SchemaVersion", "CreatedAt", "ArtifactName", "ArtifactType",
                                           "Metadata", "Results")}).encode()


@pytest.mark.parametrize("data", [report_bytes(), trivy_bytes()], ids=["layerscan", "trivy"])
def test_every_reported_finding_is_known(data: bytes):
    baseline = parse_baseline(data, "prev.json")
    assert baseline.source == "prev.json"
    assert all(baseline.contains(f) for f in FINDINGS)


def test_suppressed_findings_of_the_baseline_are_known():
    baseline = parse_baseline(report_bytes())
    assert all(baseline.contains(f) for f in SUPPRESSED)
    assert not any(parse_baseline(trivy_bytes()).contains(f) for f in SUPPRESSED)


def test_match_by_alias_and_package_name_ignoring_version():
    baseline = parse_baseline(trivy_bytes())
    flask = next(f for f in FINDINGS if f.package.name == "Flask")
    # the baseline names the CVE; the new scan reports the PYSEC id with the CVE as an alias
    by_alias = replace(flask, vulnerability_id=flask.match.advisory_id,
                       aliases=(flask.vulnerability_id,))
    assert baseline.contains(by_alias)
    upgraded = replace(flask, package=replace(flask.package, version="0.12.1", layer=None))
    assert baseline.contains(upgraded)
    other_pkg = replace(flask, package=replace(flask.package, name="quart"))
    assert not baseline.contains(other_pkg)
    other_id = replace(flask, vulnerability_id="CVE-2099-0001", aliases=())
    assert not baseline.contains(other_id)


def test_gate_only_on_new_findings():
    known = FINDINGS[:2]
    doc = json.loads(trivy_bytes())
    ids = {f.vulnerability_id for f in known}
    for result in doc["Results"]:
        result["Vulnerabilities"] = [v for v in result["Vulnerabilities"] if v["VulnerabilityID"] in ids]
    baseline = parse_baseline(json.dumps(doc).encode())
    res = apply_policy(FINDINGS, PolicyOptions(baseline=baseline, exit_code=3))
    assert len(res.shown) == len(FINDINGS)
    new = [f for f in res.shown if f.new]
    assert {f.vulnerability_id for f in new} == {f.vulnerability_id for f in FINDINGS[2:]}
    assert res.failing == tuple(new) and res.new_findings == len(new) and res.exit_code == 3
    # nothing new: nothing fails
    res = apply_policy(known, PolicyOptions(baseline=baseline, exit_code=3))
    assert res.exit_code == 0 and not res.failing and len(res.shown) == len(known)


def test_base_layers_gate():
    base_layers = 2  # the sample's layers 0-1 (debian + apt-get), its own layer is 2
    res = apply_policy(FINDINGS, PolicyOptions(base_layers=base_layers, exit_code=4))
    for f in res.shown:
        assert f.base_layer is (f.package.layer.index < base_layers)
    assert res.failing == tuple(f for f in res.shown if not f.base_layer)
    assert res.base_layer_findings == sum(1 for f in FINDINGS if f.package.layer.index < base_layers)
    assert res.exit_code == 4
    only_base = [f for f in FINDINGS if f.package.layer.index < base_layers]
    assert apply_policy(only_base, PolicyOptions(base_layers=base_layers, exit_code=4)).exit_code == 0


def test_no_gating_options_change_nothing():
    res = apply_policy(FINDINGS, PolicyOptions(exit_code=1))
    assert res.shown == FINDINGS and res.failing == FINDINGS
    assert res.base_layer_findings == 0 and res.new_findings == 0


@pytest.mark.parametrize("data", [
    b"", b"\xff\xfe", b"null", b"[]", b"{}", b'{"Results": []}',
    b'{"SchemaVersion": 2, "Results": "x"}',
    b'{"SchemaVersion": 2, "Results": [1]}',
    b'{"SchemaVersion": 2, "Results": [{"Vulnerabilities": {}}]}',
    b'{"SchemaVersion": 2, "Results": [{"Vulnerabilities": ["CVE-1"]}]}',
    b'{"SchemaVersion": 2, "Results": [{"Vulnerabilities": [{"VulnerabilityID": "CVE-1"}]}]}',
    b'{"SchemaVersion": 2, "Results": [{"Vulnerabilities": [{"VulnerabilityID": 1, "PkgName": "x"}]}]}',
    b"[" * 200_000,
    b'{"SchemaVersion": 2, "Results": [{"Vulnerabilities": [' + b"[" * 200_000 + b"]}]}",
])
def test_invalid_baselines_are_usage_errors(data: bytes):
    with pytest.raises(UsageError):
        parse_baseline(data, "bad.json")


def test_empty_report_is_a_valid_baseline():
    baseline = parse_baseline(b'{"SchemaVersion": 2, "ArtifactName": "x"}')
    assert not any(baseline.contains(f) for f in FINDINGS)


def test_load_baseline_errors(tmp_path):
    with pytest.raises(UsageError, match="no such file or directory"):
        load_baseline(tmp_path / "missing.json")
    with pytest.raises(UsageError, match="is a directory, not a file"):
        load_baseline(tmp_path)
    big = tmp_path / "big.json"
    with big.open("wb") as fh:
        fh.truncate(MAX_BASELINE + 1)  # sparse: no real disk use
    with pytest.raises(UsageError, match="larger"):
        load_baseline(big)
    good = tmp_path / "prev.json"
    good.write_bytes(report_bytes())
    assert load_baseline(good).contains(FINDINGS[0])


def test_absurd_ids_are_not_stored():
    vuln = {"VulnerabilityID": "CVE-" + "9" * 10_000, "PkgName": "x"}
    doc = {"SchemaVersion": 2, "Results": [{"Vulnerabilities": [vuln]}]}
    assert parse_baseline(json.dumps(doc).encode()).keys == frozenset()
