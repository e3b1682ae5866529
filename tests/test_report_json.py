"""The Trivy-compatible JSON report and the document model behind every format."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from hypothesis import given, strategies as st

from fixtures.report.sample import FINDINGS, SBOM, SUPPRESSED, sample_report
from layerscan.model import LayerInfo, OSInfo, Package, Sbom
from layerscan.report import FORMATS, get_writer, json_report
from layerscan.report.document import build_report, layer_label, layer_step
from layerscan.report.versions import VersionParts, join_version, split_version
from layerscan.errors import UsageError


def _split_cases(corpus: Path) -> list[tuple[str, str, dict]]:
    cases = []
    for eco in ("deb", "rpm"):
        for expected in sorted((corpus / "fixtures" / eco).glob("*/expected.json")):
            doc = json.loads(expected.read_text())
            for pkg in doc.get("packages", []):
                if "version_upstream" in pkg and "release" in pkg:
                    cases.append((eco, expected.parent.name, pkg))
    return cases


def test_version_split_matches_corpus_expectations(corpus: Path):
    cases = _split_cases(corpus)
    assert cases, "corpus has deb/rpm fixtures with split versions"
    for eco, case, pkg in cases:
        parts = split_version(eco, pkg["version"])
        assert parts == VersionParts(pkg["version_upstream"], pkg["release"], pkg.get("epoch") or 0), (case, pkg)


def test_json_package_fields_match_trivy_peer_fields(corpus: Path):
    """Trivy's own dpkg fixtures list Version/Release/SrcVersion/SrcRelease as Trivy prints them."""
    checked = 0
    for expected in sorted((corpus / "fixtures" / "deb").glob("trivy-*/expected.json")):
        doc = json.loads(expected.read_text())
        for pkg, peer in zip(doc["packages"], doc["peer_fields"]):
            out = json_report.package_json(Package(
                name=pkg["name"], version=pkg["version"], type="deb", arch=pkg.get("arch", ""),
                src_name=pkg.get("source_name", ""), src_version=pkg.get("source_version", "")))
            for key in ("ID", "Name", "Version", "Release", "SrcName", "SrcVersion", "SrcRelease", "Arch"):
                if key in peer:
                    assert out.get(key, "") == peer[key], (expected.parent.name, key)
                    checked += 1
    assert checked


@given(st.sampled_from(["deb", "rpm"]), st.integers(0, 99), st.from_regex(r"[0-9][0-9a-z.+~]{0,8}", fullmatch=True),
       st.from_regex(r"[0-9a-z.+~]{0,6}", fullmatch=True))
def test_split_join_round_trip(pkg_type, epoch, upstream, release):
    full = join_version(VersionParts(upstream, release, epoch))
    assert join_version(split_version(pkg_type, full)) == full


def test_non_split_types_keep_the_whole_version():
    assert split_version("apk", "1.2.3-r4") == VersionParts("1.2.3-r4")
    assert split_version("pypi", "1:2-3") == VersionParts("1:2-3")


def _doc(**kw) -> dict:
    buf = io.StringIO()
    json_report.write(sample_report(**kw), buf)
    return json.loads(buf.getvalue())


def test_trivy_top_level_and_metadata():
    doc = _doc()
    assert doc["SchemaVersion"] == 2
    assert doc["ArtifactName"] == SBOM.artifact_name
    assert doc["ArtifactType"] == "container_image"
    md = doc["Metadata"]
    assert md["OS"] == {"Family": "debian", "Name": "12.5"}
    assert md["ImageID"] == SBOM.image.image_id
    assert md["DiffIDs"] == list(SBOM.image.diff_ids)
    assert md["ImageConfig"]["rootfs"]["diff_ids"] == list(SBOM.image.diff_ids)
    assert [layer["DiffID"] for layer in md["Layers"]] == list(SBOM.image.diff_ids)


def test_results_grouped_like_trivy():
    doc = _doc()
    heads = [(r["Target"], r["Class"], r["Type"]) for r in doc["Results"]]
    assert heads[0] == (f"{SBOM.artifact_name} (debian 12.5)", "os-pkgs", "debian")
    assert ("Python", "lang-pkgs", "python-pkg") in heads
    assert ("usr/local/bin/app", "lang-pkgs", "gobinary") in heads
    listed = sorted(p["PURL"] for r in doc["Results"] for p in
                    (q["Identifier"] for q in r.get("Packages", [])))
    assert listed == sorted(p.purl for p in SBOM.packages)


def test_packages_only_with_list_all_pkgs():
    doc = _doc(list_all_pkgs=False)
    assert all("Packages" not in r for r in doc["Results"])
    assert sum(len(r.get("Vulnerabilities", [])) for r in doc["Results"]) == len(FINDINGS)


def test_vulnerability_fields():
    doc = _doc()
    vulns = {v["VulnerabilityID"]: v for r in doc["Results"] for v in r.get("Vulnerabilities", [])}
    assert set(vulns) == {f.vulnerability_id for f in FINDINGS}
    for f in FINDINGS:
        v = vulns[f.vulnerability_id]
        p = f.package
        assert v["PkgName"] == p.name and v["PkgID"] == p.id
        assert v["InstalledVersion"] == p.version
        assert v.get("FixedVersion", "") == f.fixed_version
        assert v["Status"] == f.status and v["Severity"] == f.severity
        assert v["Layer"]["DiffID"] == p.layer.diff_id
        assert v["Layer"]["Index"] == p.layer.index
        assert v["Layer"]["CreatedBy"] == p.layer.created_by
        assert v["PkgIdentifier"]["PURL"] == p.purl
        assert v["MatchDetail"]["AdvisoryID"] == f.match.advisory_id
        assert v["DataSource"]["ID"] == f.match.data_source
        for s in f.vendor_severity:
            assert v["VendorSeverity"][s.source] == ["UNKNOWN", "LOW", "MEDIUM", "HIGH", "CRITICAL"].index(s.level)
        for c in f.cvss:
            key = {"3.1": "V3", "3.0": "V3", "2.0": "V2"}[c.version]
            assert v["CVSS"][c.source][f"{key}Vector"] == c.vector
    assert vulns["CVE-2023-39325"]["KEV"] is True
    assert vulns["CVE-2023-39325"]["EPSS"] == {"Score": 0.73, "Percentile": 0.98}


def test_os_package_split_fields():
    doc = _doc()
    os_pkgs = {p["Name"]: p for p in doc["Results"][0]["Packages"]}
    assert os_pkgs["tzdata"]["Epoch"] == 1
    assert os_pkgs["tzdata"]["Version"] == "2024a"
    assert os_pkgs["tzdata"]["Release"] == "0+deb12u1"
    assert os_pkgs["libssl3"]["SrcName"] == "openssl"
    assert os_pkgs["libssl3"]["InstalledFiles"] == ["usr/lib/x86_64-linux-gnu/libssl.so.3"]
    python = next(r for r in doc["Results"] if r["Type"] == "python-pkg")
    yaml_pkg = next(p for p in python["Packages"] if p["Name"] == "PyYAML")
    assert yaml_pkg["OSOwner"] == "deb:python3-yaml" and yaml_pkg["Excluded"] == "os-owned"


def test_suppressed_findings_in_modified_findings():
    doc = _doc()
    modified = [m for r in doc["Results"] for m in r.get("ExperimentalModifiedFindings", [])]
    assert {m["Finding"]["VulnerabilityID"] for m in modified} == {f.vulnerability_id for f in SUPPRESSED}
    statuses = {m["Finding"]["VulnerabilityID"]: m["Status"] for m in modified}
    assert statuses == {"CVE-2018-18074": "not_affected", "CVE-2023-38545": "ignored"}


def test_unknowns_are_reported_with_their_result():
    doc = _doc()
    python = next(r for r in doc["Results"] if r["Type"] == "python-pkg")
    assert [u["Path"] for u in python["Unknowns"]] == [u.path for u in SBOM.unknowns]


def test_filesystem_targets_are_lockfiles():
    sbom = Sbom("proj", "filesystem", packages=(
        Package("flask", "2.0.0", "pypi", purl="pkg:pypi/flask@2.0.0", file_path="app/poetry.lock"),
        Package("lodash", "4.17.20", "npm", purl="pkg:npm/lodash@4.17.20", file_path="web/package-lock.json"),
    ))
    report = build_report(sbom, created_at="2026-01-01T00:00:00Z", list_all_pkgs=True)
    heads = {(r.target, r.type) for r in report.results}
    assert heads == {("app/poetry.lock", "poetry"), ("web/package-lock.json", "npm")}


def test_layer_step_shortening():
    assert layer_step("/bin/sh -c #(nop) ADD file:abc in / ") == "ADD file:abc in /"
    assert layer_step("/bin/sh -c apt-get install -y curl") == "RUN apt-get install -y curl"
    assert layer_step("RUN /bin/sh -c pip install x # buildkit") == "RUN pip install x # buildkit"
    assert layer_step("|2 A=1 B=2 /bin/sh -c make") == "RUN make"
    assert layer_step("COPY app /app # buildkit") == "COPY app /app # buildkit"
    label = layer_label(LayerInfo(3, "sha256:x", created_by="/bin/sh -c pip install " + "a" * 100), 30)
    assert label.startswith("#3 RUN pip install") and len(label) == 30 and label.endswith("…")


def test_no_os_detected_uses_artifact_name():
    sbom = Sbom("rootfs-dir", "rootfs", os=None, packages=(Package("bash", "5.2-1", "deb"),))
    (result,) = build_report(sbom, created_at="x").results
    assert result.target == "rootfs-dir" and result.klass == "os-pkgs"


def test_os_target_includes_family_and_release():
    sbom = Sbom("alpine:3.19", "container_image", os=OSInfo("alpine", "3.19.1"),
                packages=(Package("musl", "1.2.4-r2", "apk"),))
    (result,) = build_report(sbom, created_at="x").results
    assert (result.target, result.type) == ("alpine:3.19 (alpine 3.19.1)", "alpine")


def test_writer_registry():
    for fmt in FORMATS:
        if fmt == "html":
            continue
        assert callable(get_writer(fmt))
    with pytest.raises(UsageError):
        get_writer("xml")
