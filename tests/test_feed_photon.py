"""Photon OS CVE metadata on the real samples (vuln-list-update's photon testdata, vunnel's
Photon provider input and its snapshots, trivy-db's photon testdata): rows derived here
from the JSON entries, the namespace a Photon image gets, the severity from cve_score,
hostile input, ``db update`` from a local mirror, and a CLI scan matching by source rpm
name (the real Photon 4.0 os-release over a real tdnf rpmdb)."""

from __future__ import annotations

import functools
import json
import shutil
import zipfile
from pathlib import Path

import pytest

from layerscan.analyzers.os.release import parse_os_release
from layerscan.db.cvss import level_from_score
from layerscan.db.feeds.base import ParseStats
from layerscan.db.feeds.members import Member
from layerscan.db.feeds.photon import PhotonFeed
from layerscan.db.store import Store
from layerscan.db.update import PHOTON_RELEASES
from layerscan.match.namespace import os_namespace
from layerscan.versions import compare, get_scheme
from feedsamples import SAMPLES, sample_bytes, serve_directory
from peers import trivy_binary
from test_cli_main import run_cli
from test_trivy_compat import trivy_convert
from test_trivy_compat import vulns as trivy_vulns

VLU, VUNNEL, TRIVY_DB = "vuln-list-update-testdata.zip", "vunnel-provider-fixtures.zip", "trivy-db-vulnsrc-testdata.zip"
VUNNEL_DIR = "tests/unit/providers/photon/test-fixtures/"
DOCS = {  # (zip, member) -> namespace
    (VLU, "photon/testdata/cve_data_photon1.0.json"): "Photon OS:1",
    (VLU, "photon/testdata/cve_data_photon2.0.json"): "Photon OS:2",
    (VLU, "photon/testdata/cve_data_photon3.0.json"): "Photon OS:3",
    (VUNNEL, VUNNEL_DIR + "input/cve_data_photon1.0.json"): "Photon OS:1",
    (VUNNEL, VUNNEL_DIR + "input/cve_data_photon4.0.json"): "Photon OS:4",
}
OS_RELEASE = "trivy-release-photon-os"  # VMware Photon OS 4.0
RPMDB = "rpmdb-cbl-mariner-2.0-curl"  # the corpus has no Photon rpmdb: CBL-Mariner is a tdnf/Photon derivative
NO_VERSION = ("", "NA")


def parse(data: bytes, name: str) -> tuple[list, ParseStats]:
    stats, feed, member = ParseStats(), PhotonFeed(), Member(name, data)
    doc = json.loads(data)
    assert feed.accepts(member, doc)
    return list(feed.add(member, doc, stats)), stats


def basename(member: str) -> str:
    return member.rsplit("/", 1)[1]


# ---- expectations from the entries (trusted samples) -----------------------------------------

def _lowest(versions: list[str]) -> str:
    return min(versions, key=functools.cmp_to_key(lambda a, b: compare("rpm", a, b)))


def expected_rows(entries: list[dict], namespace: str) -> set[tuple]:
    """(id, package, status, fixed, level) per (id, package): fixed at the lowest res_ver,
    not_affected for "Not Affected"; entries without a fix version or a well-formed id drop out."""
    fixed: dict[tuple[str, str], list[str]] = {}
    scores: dict[tuple[str, str], float | None] = {}
    not_affected = set()
    for e in entries:
        key = (e["cve_id"], e["pkg"])
        if not e["cve_id"] or e["cve_id"].startswith("UNK"):
            continue
        scores.setdefault(key, e.get("cve_score"))
        if e.get("status") == "Not Affected":
            not_affected.add(key)
        elif e["res_ver"] not in NO_VERSION:
            fixed.setdefault(key, []).append(e["res_ver"])
    out = set()
    for key in set(fixed) | not_affected:
        level = level_from_score(scores[key]) if scores[key] is not None else ""
        out.add((*key, namespace, "fixed" if key in fixed else "not_affected",
                 _lowest(fixed[key]) if key in fixed else "", level))
    return out


# ---- rows ----------------------------------------------------------------------------------

@pytest.mark.parametrize("archive, member", sorted(DOCS), ids=[f"{a[:6]}-{basename(m)}" for a, m in sorted(DOCS)])
def test_rows_from_the_entries(corpus: Path, archive: str, member: str) -> None:
    data = sample_bytes(corpus, archive, member)
    advisories, stats = parse(data, basename(member))
    namespace = DOCS[(archive, member)]
    got = {(a.id, r.package, r.namespace, r.status, r.fixed_version, r.severity) for a in advisories for r in a.affected}
    assert got == expected_rows(json.loads(data), namespace)
    assert {a.source for a in advisories} <= {"photon"}
    for adv in advisories:
        for row in adv.affected:
            if row.status == "fixed":
                assert row.ranges[0].events == (("introduced", "0"), ("fixed", row.fixed_version))
    # what was left out is counted: the UNK-1 entry, python3's "Fixed" without a version
    entries = json.loads(data)
    assert stats.records == len(entries)
    assert stats.skipped == sum(1 for e in entries if e["cve_id"].startswith("UNK")
                                or (e.get("status") != "Not Affected" and e["res_ver"] in NO_VERSION))


def test_rows_agree_with_vunnels_snapshots(corpus: Path) -> None:
    """vunnel's snapshots of the same files: the same fixed packages, versions and levels
    (vunnel drops not-affected rows and BDSA ids, and keeps a versionless fix as 'None')."""
    ours = {}
    for (archive, member), namespace in DOCS.items():
        if archive == VUNNEL:
            for adv in parse(sample_bytes(corpus, archive, member), basename(member))[0]:
                for row in adv.affected:
                    if row.status == "fixed":
                        ours[(namespace.split(":")[1], adv.id, row.package)] = (row.fixed_version, row.severity)
    with zipfile.ZipFile(corpus / SAMPLES / VUNNEL) as zf:
        snaps = [json.loads(zf.read(n))["item"]["Vulnerability"] for n in zf.namelist()
                 if n.startswith(VUNNEL_DIR + "snapshots/") and n.endswith(".json")]
    theirs = {}
    for snap in snaps:
        for fix in snap["FixedIn"]:
            if fix["Version"] != "None":
                release = fix["NamespaceName"].split(":")[1].split(".")[0]
                theirs[(release, snap["Name"], fix["Name"])] = (fix["Version"], snap["Severity"].upper())
    assert theirs and {k: v for k, v in ours.items() if not k[1].startswith("BDSA")} == theirs


def test_trivy_db_happy_record(corpus: Path) -> None:
    """trivy-db's photon 3.0 record of CVE-2019-0199 is in vuln-list-update's 3.0 file: same fix."""
    record = json.loads(sample_bytes(corpus, TRIVY_DB, "pkg/vulnsrc/photon/testdata/happy/vuln-list/photon/3.0/"
                                                       "apache-tomcat/CVE-2019-0199.json"))
    advisories, _ = parse(sample_bytes(corpus, VLU, "photon/testdata/cve_data_photon3.0.json"), "cve_data_photon3.0.json")
    (row,) = next(a for a in advisories if a.id == record["cve_id"]).affected
    assert (row.namespace, row.package, row.fixed_version) == (f"Photon OS:{record['os_version'][0]}", record["pkg"],
                                                               record["res_ver"])


def test_namespace_is_the_one_a_photon_image_gets(corpus: Path) -> None:
    info = parse_os_release((corpus / "fixtures/os-release" / OS_RELEASE / "etc/os-release").read_bytes())
    assert info is not None and os_namespace(info) == "Photon OS:4" and get_scheme("Photon OS:4").name == "rpm"
    advisories, _ = parse(sample_bytes(corpus, VUNNEL, VUNNEL_DIR + "input/cve_data_photon4.0.json"),
                          "cve_data_photon4.0.json")
    assert {r.namespace for a in advisories for r in a.affected} == {os_namespace(info)}


def test_release_from_dist_tags_when_the_name_has_none(corpus: Path) -> None:
    data = sample_bytes(corpus, VLU, "photon/testdata/cve_data_photon2.0.json")
    advisories, stats = parse(data, "feed.json")
    assert advisories and {r.namespace for a in advisories for r in a.affected} == {"Photon OS:2"}
    mixed = json.loads(data) + json.loads(sample_bytes(corpus, VLU, "photon/testdata/cve_data_photon3.0.json"))
    advisories, stats = parse(json.dumps(mixed).encode(), "feed.json")
    assert advisories == [] and stats.skipped == 1 and "no Photon OS release" in stats.warnings[0]


# ---- hostile input --------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["cve_data_photon3.0_invalid_cveid.json", "cve_data_photon_empty_cveid.json"])
def test_bad_ids_are_counted(corpus: Path, name: str) -> None:
    advisories, stats = parse(sample_bytes(corpus, VLU, "photon/testdata/" + name), name)
    assert advisories == [] and stats.records == 1 and stats.skipped == 1 and "not a CVE" in stats.warnings[0]


def test_malformed_json_is_one_skip(corpus: Path) -> None:
    stats = ParseStats()
    member = Member("cve_data_photon1.0.json",
                    sample_bytes(corpus, VLU, "photon/testdata/cve_data_photon_invalid_format.json"))
    assert list(PhotonFeed().parse_member(member, stats)) == []
    assert stats.skipped == 1 and "invalid JSON" in stats.warnings[0]


def test_hostile_entries_are_counted_not_raised() -> None:
    entries = [
        {"cve_id": "CVE-2024-0001", "pkg": "bash", "cve_score": "high", "res_ver": "5.2-1.ph5"},  # score unreadable
        {"cve_id": "CVE-2024-0002", "pkg": "bash", "cve_score": True, "res_ver": "5.2\u0001-1.ph5"},
        {"cve_id": "CVE-2024-0003", "pkg": "two words", "res_ver": "1-1.ph5"},
        {"cve_id": ["CVE-2024-0004"], "pkg": "bash", "res_ver": "1-1.ph5"},
        "not an object", 7, None,
        {"cve_id": "CVE-2024-0005", "pkg": "zlib", "cve_score": 99, "res_ver": "1.3-2.ph5"},
        {"cve_id": "CVE-2024-0005", "pkg": "zlib", "cve_score": 5.0, "res_ver": "1.3-1.ph5"},  # the lower fix wins
    ]
    advisories, stats = parse(json.dumps(entries).encode(), "cve_data_photon5.0.json")
    rows = {(a.id, r.package, r.fixed_version, r.severity) for a in advisories for r in a.affected}
    assert rows == {("CVE-2024-0001", "bash", "5.2-1.ph5", ""), ("CVE-2024-0005", "zlib", "1.3-1.ph5", "")}
    assert stats.records == len(entries) and stats.skipped == 6


def test_other_json_lists_are_not_photon() -> None:
    feed = PhotonFeed()
    for doc in ([], [{"id": "x"}], {"cve_id": "CVE-2024-1", "pkg": "a"}, [[1]]):
        assert not feed.accepts(Member("x.json", b""), doc)


# ---- db update / CLI ----------------------------------------------------------------------------

MIRROR = {"3.0": (VLU, "photon/testdata/cve_data_photon3.0.json"),
          "4.0": (VUNNEL, VUNNEL_DIR + "input/cve_data_photon4.0.json")}  # 5.0 is missing: a 404


def test_db_update_photon_from_a_mirror(corpus: Path, tmp_path: Path) -> None:
    root = tmp_path / "mirror"
    root.mkdir()
    for release, (archive, member) in MIRROR.items():
        (root / f"cve_data_photon{release}.json").write_bytes(sample_bytes(corpus, archive, member))
    assert set(MIRROR) < set(PHOTON_RELEASES)
    with serve_directory(root) as url:
        proc = run_cli("db", "update", "--sources", "photon", cwd=tmp_path, env={"LAYERSCAN_DB_PHOTON_URL": url})
    assert proc.returncode == 0, proc.stderr
    with Store.open(tmp_path / "cache/db/layerscan.db") as store:
        assert store.metadata()["sources"]["photon"]["status"] == "updated"
        for release, (archive, member) in MIRROR.items():
            entries = json.loads(sample_bytes(corpus, archive, member))
            namespace = f"Photon OS:{release.split('.')[0]}"
            want = {row[:5] for row in expected_rows(entries, namespace)}
            got = {(r.vuln_id, r.affected.package, namespace, r.affected.status, r.affected.fixed_version)
                   for pkg in {e["pkg"] for e in entries} for r in store.affected(namespace, pkg)}
            assert got == want


def test_cli_photon_4_rootfs_matches_by_source_name(corpus: Path, tmp_path: Path) -> None:
    """The real Photon 4.0 os-release over the real tdnf rpmdb of the corpus (curl and
    curl-libs from source curl, python3, krb5, ...), a database imported from vunnel's real
    cve_data_photon4.0.json: each installed package is checked against the entries naming
    its source rpm, computed here; the level is cve_score's band."""
    root = tmp_path / "root"
    for case in (corpus / "fixtures/os-release" / OS_RELEASE, corpus / "fixtures/rpm" / RPMDB):
        shutil.copytree(case, root, dirs_exist_ok=True, ignore=shutil.ignore_patterns("expected.json"))
    data = sample_bytes(corpus, VUNNEL, VUNNEL_DIR + "input/cve_data_photon4.0.json")
    (tmp_path / "feeds").mkdir()
    (tmp_path / "feeds/cve_data_photon4.0.json").write_bytes(data)
    assert run_cli("db", "import", str(tmp_path / "feeds"), cwd=tmp_path).returncode == 0
    proc = run_cli("rootfs", str(root), "--skip-db-update", "-f", "json", "--list-all-pkgs", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["Metadata"]["OS"]["Family"] == "photon" and not report["Metadata"]["OS"].get("Unsupported")
    packages = [p for r in report["Results"] if r["Class"] == "os-pkgs" for p in r.get("Packages") or []]
    rows = expected_rows(json.loads(data), "Photon OS:4")
    want = {}
    for p in packages:
        version = (f"{p['Epoch']}:" if p.get("Epoch") else "") + f"{p['Version']}-{p['Release']}"
        for vid, pkg, _, status, fixed, level in rows:
            if pkg == p.get("SrcName", p["Name"]) and status == "fixed" and compare("rpm", version, fixed) < 0:
                want[(vid, p["Name"])] = (fixed, level or "UNKNOWN")
    assert {name for _, name in want} >= {"curl", "curl-libs"}  # curl-libs through its source rpm
    got = {(v["VulnerabilityID"], v["PkgName"]): (v["FixedVersion"], v["Severity"])
           for r in report["Results"] for v in r.get("Vulnerabilities") or []}
    assert got == want
    assert all(v["SeveritySource"] == "photon" for r in report["Results"] for v in r.get("Vulnerabilities") or [])
    if trivy_binary():  # Trivy's own reader takes the report (dates, OS family) with every finding
        (tmp_path / "ours.json").write_text(proc.stdout)
        assert trivy_vulns(trivy_convert(tmp_path / "ours.json", tmp_path)) == trivy_vulns(report)
