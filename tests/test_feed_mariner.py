"""CBL-Mariner / Azure Linux OVAL on the real samples (vunnel's Mariner provider fixtures
and its snapshots, vuln-list-update's mariner testdata): rows from the resolved
tests/objects/states, namespaces, hostile input, ``db update`` from a local mirror, and a
CLI scan of the real CBL-Mariner 2.0 rpmdb."""

from __future__ import annotations

import json
import re
import shutil
import xml.etree.ElementTree as ET
import zipfile
from pathlib import Path
from typing import Iterator

import pytest

from layerscan.analyzers.os.release import parse_os_release
from layerscan.db.feeds.base import ParseStats
from layerscan.db.feeds.common import normalise_severity
from layerscan.db.feeds.mariner import MarinerFeed
from layerscan.db.feeds.members import Member
from layerscan.db.store import Store
from layerscan.match.namespace import os_namespace
from layerscan.model import OSInfo
from layerscan.versions import compare, get_scheme
from feedsamples import SAMPLES, sample, sample_bytes, serve_directory
from test_cli_main import run_cli

VUNNEL, VLU = "vunnel-provider-fixtures.zip", "vuln-list-update-testdata.zip"
VUNNEL_DIR = "tests/unit/providers/mariner/test-fixtures/"
DOCS = {  # (zip, member) -> namespace its records belong to
    (VUNNEL, VUNNEL_DIR + "mariner-truncated-2.0-oval.xml"): "Mariner:2.0",
    (VUNNEL, VUNNEL_DIR + "azure-linux-truncated-3.0-oval.xml"): "Azure Linux:3.0",
    (VLU, "mariner/testdata/happy/cbl-mariner-1.0-oval.xml"): "Mariner:1.0",
    (VLU, "mariner/testdata/happy/cbl-mariner-2.0-preview-oval.xml"): "Mariner:2.0",
    (VLU, "mariner/testdata/happy/azurelinux-3.0-oval.xml"): "Azure Linux:3.0",
}
OS_RELEASE = {"Mariner:2.0": "trivy-release-mariner-2.0", "Mariner:1.0": "trivy-release-mariner-1.0"}
AZURE_OS_RELEASE = 'NAME="Microsoft Azure Linux"\nVERSION="3.0.20240727"\nID=azurelinux\nVERSION_ID="3.0"\n'
RPMDB = "rpmdb-cbl-mariner-2.0-curl"




def parse(data: bytes, name: str) -> tuple[list, ParseStats]:
    stats, feed, member = ParseStats(), MarinerFeed(), Member(name, data)
    assert feed.accepts(member, None)
    return list(feed.add(member, None, stats)), stats


# ---- expectations from the records (standard-library read of the trusted samples) ------------

def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _no_zero(evr: str) -> str:
    return evr[2:] if evr.startswith("0:") else evr


def record_facts(xml: bytes) -> list[dict]:
    """Per definition: CVE, severity, patchable, package and its (operation, evr) bounds,
    following test -> object (name) and test -> state (evr)."""
    root = ET.fromstring(xml)
    by_id = {e.get("id"): e for e in root.iter() if e.get("id")}
    out = []
    for d in (e for e in root.iter() if _local(e.tag) == "definition"):
        meta = {_local(c.tag): (c.text or "").strip() for c in next(m for m in d if _local(m.tag) == "metadata")}
        cve = next(r.get("ref_id") for r in d.iter() if _local(r.tag) == "reference" and r.get("source") == "CVE")
        bounds, names = [], set()
        for crit in (c for c in d.iter() if _local(c.tag) == "criterion"):
            test = by_id[crit.get("test_ref")]
            obj = by_id[next(c for c in test if _local(c.tag) == "object").get("object_ref")]
            state = by_id[next(c for c in test if _local(c.tag) == "state").get("state_ref")]
            evr = next(c for c in state if _local(c.tag) == "evr")
            names.add(next(c for c in obj if _local(c.tag) == "name").text.strip())
            bounds.append((evr.get("operation"), _no_zero(evr.text.strip())))
        (name,) = names
        out.append({"cve": cve, "severity": meta["severity"], "patchable": meta["patchable"], "package": name,
                    "bounds": bounds})
    return out


def expected_row(f: dict) -> tuple:
    """(cve, package, status, fixed, events) the record states."""
    if f["patchable"].lower() == "not applicable":
        return (f["cve"], f["package"], "not_affected", "", ())
    lower = next((v for op, v in f["bounds"] if op.startswith("greater than")), "0")
    op, upper = next((op, v) for op, v in f["bounds"] if op.startswith("less than"))
    kind = "fixed" if op == "less than" else "last_affected"
    return (f["cve"], f["package"], "fixed" if kind == "fixed" else "affected", upper if kind == "fixed" else "",
            (("introduced", lower), (kind, upper)))


# ---- rows ----------------------------------------------------------------------------------

@pytest.mark.parametrize("archive, member", sorted(DOCS), ids=[m.rsplit("/", 1)[1] for _, m in sorted(DOCS)])
def test_rows_from_resolved_tests(corpus: Path, archive: str, member: str) -> None:
    data = sample_bytes(corpus, archive, member)
    advisories, stats = parse(data, member.rsplit("/", 1)[1])
    assert stats.skipped == 0, stats.warnings
    namespace = DOCS[(archive, member)]
    got = set()
    for adv in advisories:
        (row,) = adv.affected
        assert adv.source == "mariner" and row.namespace == namespace
        got.add((adv.id, row.package, row.status, row.fixed_version, row.ranges[0].events if row.ranges else ()))
    facts = record_facts(data)
    assert got == {expected_row(f) for f in facts}
    severities = {(a.id, a.affected[0].package): (a.affected[0].severity, a.affected[0].urgency) for a in advisories}
    assert severities == {(f["cve"], f["package"]): (normalise_severity(f["severity"]), f["severity"]) for f in facts}


def test_rows_agree_with_vunnels_snapshots(corpus: Path) -> None:
    """vunnel's snapshots of the same Mariner 2.0 file: the same CVEs (it drops 'Not
    Applicable'), fixed version, vulnerable range bounds and severity."""
    advisories, _ = parse(sample_bytes(corpus, VUNNEL, VUNNEL_DIR + "mariner-truncated-2.0-oval.xml"),
                          "mariner-truncated-2.0-oval.xml")
    ours = {a.id: a for a in advisories if a.affected[0].status != "not_affected"}
    with zipfile.ZipFile(corpus / SAMPLES / VUNNEL) as zf:
        snaps = [json.loads(zf.read(n))["item"]["Vulnerability"] for n in zf.namelist()
                 if n.startswith(VUNNEL_DIR + "snapshots/") and n.endswith(".json")]
    assert sorted(ours) == sorted(s["Name"] for s in snaps)
    for snap in snaps:
        (fix,) = snap["FixedIn"]
        row = ours[snap["Name"]].affected[0]
        assert row.package == fix["Name"] and row.urgency == snap["Severity"]
        want_fixed = "" if fix["Version"] == "None" else _no_zero(fix["Version"])
        assert row.fixed_version == want_fixed
        bounds = {_no_zero(v) for v in re.findall(r"[<>]=? (\S+?),?(?=$|\s)", fix["VulnerableRange"])}
        assert {v for _, v in row.ranges[0].events if v != "0"} == bounds


@pytest.mark.parametrize("namespace, case", sorted(OS_RELEASE.items()))
def test_namespace_is_the_one_a_mariner_image_gets(corpus: Path, namespace: str, case: str) -> None:
    info = parse_os_release((corpus / "fixtures/os-release" / case / "etc/os-release").read_bytes())
    assert info is not None and os_namespace(info) == namespace
    assert os_namespace(OSInfo(family="mariner", name=info.name)) == namespace  # the raw os-release ID too
    assert get_scheme(namespace).name == "rpm"


def test_azure_linux_namespace() -> None:
    info = parse_os_release(AZURE_OS_RELEASE.encode())
    assert info is not None and os_namespace(info) == "Azure Linux:3.0" and get_scheme("Azure Linux:3.0").name == "rpm"


def test_release_from_dist_tags_when_the_name_has_none(corpus: Path) -> None:
    data = sample_bytes(corpus, VUNNEL, VUNNEL_DIR + "azure-linux-truncated-3.0-oval.xml")
    advisories, stats = parse(data, "feed.xml")
    assert advisories and {a.affected[0].namespace for a in advisories} == {"Azure Linux:3.0"}
    # the 2.0 preview file mixes .cm1 and .cm2 tags: without a release in its name it is refused
    advisories, stats = parse(sample_bytes(corpus, VLU, "mariner/testdata/happy/cbl-mariner-2.0-preview-oval.xml"),
                              "feed.xml")
    assert advisories == [] and stats.skipped == 1 and "no Mariner release" in stats.warnings[0]


# ---- hostile input --------------------------------------------------------------------------

def test_truncated_document_is_one_counted_skip(corpus: Path) -> None:
    data = sample_bytes(corpus, VUNNEL, VUNNEL_DIR + "mariner-truncated-2.0-oval.xml")
    advisories, stats = parse(data[: len(data) // 2], "cbl-mariner-2.0-oval.xml")
    assert advisories == [] and stats.skipped == 1 and "not readable OVAL XML" in stats.warnings[0]


def test_entities_are_refused(corpus: Path) -> None:
    doc = (b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;">]>'
           b'<oval_definitions xmlns="http://oval.mitre.org/XMLSchema/oval-definitions-5"><definitions>'
           b'<definition id="oval:com.microsoft.cbl-mariner:def:1"><metadata><title>&b;</title></metadata>'
           b"</definition></definitions></oval_definitions>")
    advisories, stats = parse(doc, "cbl-mariner-2.0-oval.xml")
    assert advisories == [] and stats.skipped == 1 and "DTD" in stats.warnings[0]


def test_dangling_test_reference_skips_that_definition(corpus: Path) -> None:
    data = sample_bytes(corpus, VUNNEL, VUNNEL_DIR + "mariner-truncated-2.0-oval.xml")
    facts = record_facts(data)
    first_test = re.search(rb'test_ref="([^"]+)"', data).group(1)  # type: ignore[union-attr]
    broken = data.replace(b'id="' + first_test + b'"', b'id="oval:gone:tst:1"', 1)
    advisories, stats = parse(broken, "cbl-mariner-2.0-oval.xml")
    assert len(advisories) == len(facts) - 1 and stats.skipped == 1 and "does not resolve" in stats.warnings[0]


# ---- db update / CLI ----------------------------------------------------------------------------

@pytest.fixture()
def mirror(corpus: Path, tmp_path: Path) -> Iterator[str]:
    """The AzureLinuxVulnerabilityData layout: one <distro>-<release>-oval.xml per release."""
    root = tmp_path / "mirror"
    sample(corpus, VLU, "mariner/testdata/happy/cbl-mariner-1.0-oval.xml", root / "cbl-mariner-1.0-oval.xml")
    sample(corpus, VUNNEL, VUNNEL_DIR + "mariner-truncated-2.0-oval.xml", root / "cbl-mariner-2.0-oval.xml")
    sample(corpus, VLU, "mariner/testdata/happy/azurelinux-3.0-oval.xml", root / "azurelinux-3.0-oval.xml")
    with serve_directory(root) as url:
        yield url


def test_db_update_mariner_from_a_mirror(mirror: str, tmp_path: Path) -> None:
    proc = run_cli("db", "update", "--sources", "mariner", cwd=tmp_path, env={"LAYERSCAN_DB_MARINER_URL": mirror})
    assert proc.returncode == 0, proc.stderr
    namespaces = {"cbl-mariner-1.0-oval.xml": "Mariner:1.0", "cbl-mariner-2.0-oval.xml": "Mariner:2.0",
                  "azurelinux-3.0-oval.xml": "Azure Linux:3.0"}
    with Store.open(tmp_path / "cache/db/layerscan.db") as store:
        assert store.metadata()["sources"]["mariner"]["status"] == "updated"
        for name, namespace in namespaces.items():
            facts = record_facts((tmp_path / "mirror" / name).read_bytes())
            want = {expected_row(f)[:4] for f in facts}
            got = {(r.vuln_id, r.affected.package, r.affected.status, r.affected.fixed_version)
                   for pkg in {f["package"] for f in facts} for r in store.affected(namespace, pkg)}
            assert got == want


def test_cli_mariner_2_rootfs(corpus: Path, tmp_path: Path) -> None:
    """The real CBL-Mariner 2.0 rpmdb and os-release, a database imported from both real
    Mariner 2.0 OVAL samples: the findings are the records whose package is installed at a
    version inside the stated bounds (not-applicable ones never), computed here from the
    records and the installed versions."""
    root = tmp_path / "root"
    for case in (corpus / "fixtures/os-release/trivy-release-mariner-2.0", corpus / "fixtures/rpm" / RPMDB):
        shutil.copytree(case, root, dirs_exist_ok=True, ignore=shutil.ignore_patterns("expected.json"))
    feeds, facts = tmp_path / "feeds", []
    for (archive, member), namespace in DOCS.items():
        if namespace == "Mariner:2.0":
            facts += record_facts(sample(corpus, archive, member, feeds / member.rsplit("/", 1)[1]).read_bytes())
    assert run_cli("db", "import", str(feeds), cwd=tmp_path).returncode == 0
    proc = run_cli("rootfs", str(root), "--skip-db-update", "-f", "json", "--list-all-pkgs", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["Metadata"]["OS"]["Family"] == "cbl-mariner"
    assert report["Layerscan"].get("UncheckedOSPackages", 0) == 0  # omitted when 0: Mariner:2.0 has data
    installed = {p["Name"]: p["Version"] + ("-" + p["Release"] if p.get("Release") else "")
                 for r in report["Results"] if r["Class"] == "os-pkgs" for p in r.get("Packages") or []}
    peer = json.loads((corpus / "fixtures/rpm" / RPMDB / "expected.json").read_text())["packages"]
    assert all(installed.get(p["name"]) == p["version"] for p in peer)  # the peer's partial list is there
    wanted = set()
    for f in facts:
        version = installed.get(f["package"])
        if version is None or f["patchable"].lower() == "not applicable":
            continue
        inside = all(compare("rpm", version, v) < 0 if op == "less than" else
                     compare("rpm", version, v) <= 0 if op == "less than or equal" else
                     compare("rpm", version, v) > 0 if op == "greater than" else compare("rpm", version, v) >= 0
                     for op, v in f["bounds"])
        if inside:
            fixed = next((v for op, v in f["bounds"] if op == "less than"), "")
            wanted.add((f["cve"], f["package"], fixed))
    assert wanted, "the samples name no installed package inside its bounds"
    got = {(v["VulnerabilityID"], v["PkgName"], v.get("FixedVersion", "")) for r in report["Results"]
           for v in r.get("Vulnerabilities") or []}
    assert got == wanted
