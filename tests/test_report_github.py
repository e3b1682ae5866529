"""GitHub dependency submission snapshot (-f github, as `trivy -f github`): one manifest per
result, every package with a purl resolved; job/sha/ref from the GitHub Actions environment."""

from __future__ import annotations

import io
import json
from dataclasses import replace

from demo_cli import demo_work, scan
from fixtures.report.hostile import ESC, hostile_report
from fixtures.report.sample import SBOM, sample_report

from layerscan.model import Package
from layerscan.report import SBOM_FORMATS, github
from layerscan.report.document import build_report

ENV = {"GITHUB_SHA": "0123456789abcdef0123456789abcdef01234567", "GITHUB_REF": "refs/heads/main",
       "GITHUB_WORKFLOW": "build", "GITHUB_JOB": "scan", "GITHUB_RUN_ID": "4242"}


def test_snapshot_shape_and_environment():
    doc = github.snapshot(sample_report(), ENV)
    assert doc["version"] == 0
    assert doc["detector"] == {"name": "layerscan", "version": "0.0.0-test",
                               "url": "https://github.com/layerscan/layerscan"}
    assert doc["job"] == {"correlator": "build_scan", "id": "4242"}
    assert (doc["sha"], doc["ref"], doc["scanned"]) == (ENV["GITHUB_SHA"], ENV["GITHUB_REF"],
                                                        "2026-01-02T03:04:05Z")


def test_without_github_environment():
    doc = github.snapshot(sample_report(), {})
    assert doc["job"] == {"correlator": "layerscan", "id": ""} and doc["sha"] == doc["ref"] == ""


def test_every_package_with_a_purl_is_resolved():
    report = sample_report(list_all_pkgs=False)  # listed whatever --list-all-pkgs says
    doc = github.snapshot(report, ENV)
    assert set(doc["manifests"]) == {r.target for r in report.results}
    resolved = {purl: entry for m in doc["manifests"].values() for purl, entry in m["resolved"].items()}
    assert set(resolved) == {p.purl for p in SBOM.packages}
    for purl, entry in resolved.items():
        assert entry == {"package_url": purl, "relationship": "direct", "scope": "runtime", "dependencies": []}
    os_manifest = doc["manifests"]["example.com/team/app:1.0 (debian 12.5)"]
    assert os_manifest["name"] == "debian"
    assert os_manifest["file"]["source_location"] == "example.com/team/app:1.0@sha256:" + "e" * 64


def test_relationship_and_scope_and_missing_purls():
    pkgs = (Package(name="a", version="1", type="npm", purl="pkg:npm/a@1", file_path="package-lock.json",
                    indirect=True, dev=True),
            Package(name="b", version="2", type="npm", file_path="package-lock.json"),  # no purl
            Package(name="c", version="3", type="npm", file_path="other/package-lock.json"))  # none at all
    sbom = replace(SBOM, artifact_name="repo", artifact_type="filesystem", os=None, image=None, packages=pkgs)
    doc = github.snapshot(build_report(sbom), ENV)
    assert list(doc["manifests"]) == ["package-lock.json"]
    manifest = doc["manifests"]["package-lock.json"]
    assert manifest["name"] == "npm" and manifest["file"] == {"source_location": "package-lock.json"}
    assert manifest["resolved"] == {"pkg:npm/a@1": {"package_url": "pkg:npm/a@1", "relationship": "indirect",
                                                    "scope": "development", "dependencies": []}}


def test_is_an_sbom_format():
    assert "github" in SBOM_FORMATS


def test_hostile_strings_stay_inert():
    buf = io.StringIO()
    github.write(hostile_report(), buf)
    text = buf.getvalue()
    assert ESC[0] not in text
    text.encode("utf-8")
    assert json.loads(text)["manifests"]


def test_cli_github_on_demo_image(demo_work):
    sbom = json.loads(scan(demo_work, "-f", "json", "--list-all-pkgs").stdout)
    purls = {p["Identifier"]["PURL"] for r in sbom["Results"] for p in r.get("Packages") or []
             if p.get("Identifier", {}).get("PURL")}
    proc = scan(demo_work, "-f", "github", env=ENV)
    doc = json.loads(proc.stdout)
    assert doc["sha"] == ENV["GITHUB_SHA"] and doc["job"]["correlator"] == "build_scan"
    resolved = {purl for m in doc["manifests"].values() for purl in m["resolved"]}
    assert purls and resolved == purls
