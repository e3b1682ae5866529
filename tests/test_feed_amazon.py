"""Amazon Linux ALAS (yum updateinfo) on the real samples (vuln-list-update's amazon
fixtures: AL2, AL2022 and AL2023 updateinfo.xml.gz, repomd.xml, and its golden JSON of
the same errata) plus an AL1 file written from the format (tests/fixtures/amazon): rows
derived here from the XML, per-CVE storage with the ALAS id as alias, the namespace an
Amazon Linux image gets, hostile input, ``db update`` through mirror.list -> repomd.xml
-> updateinfo from a local mirror, and CLI rootfs scans of AL1, AL2 and AL2023."""

from __future__ import annotations

import functools
import gzip
import json
import xml.etree.ElementTree as ET
import zipfile
from pathlib import Path

import pytest

from layerscan.analyzers.os.release import parse as parse_release_file
from layerscan.analyzers.os.release import pick_os
from layerscan.db.dates import rfc3339
from layerscan.db.feeds.amazon import AmazonFeed
from layerscan.db.feeds.base import ParseStats
from layerscan.db.feeds.common import normalise_severity
from layerscan.db.feeds.members import Member
from layerscan.db.feeds.oval import OvalError
from layerscan.db.feeds.updateinfo import updateinfo_location
from layerscan.db.store import Store
from layerscan.db.update import AMAZON_MIRROR_LISTS
from layerscan.match.namespace import os_namespace
from layerscan.versions import compare, get_scheme
from feedsamples import SAMPLES, sample_bytes, serve_directory
from test_analyzer_rpm import build_header, build_sqlite, tags
from peers import trivy_binary
from test_cli_main import run_cli
from test_trivy_compat import trivy_convert
from test_trivy_compat import vulns as trivy_vulns

VLU = "vuln-list-update-testdata.zip"
FIX = "amazon/testdata/fixtures/"
AL1 = Path(__file__).parent / "fixtures" / "amazon" / "al1-updateinfo.xml"
DOCS = {  # sample -> the release its errata belong to
    "updateinfo_1_item.xml.gz": "2",
    "updateinfo_2_items.xml.gz": "2",
    "updateinfo_AL2022.xml.gz": "2022",
    "updateinfo_AL2023.xml.gz": "2023",
}
_PREFIX_RELEASE = {"ALAS": "1", "ALAS2": "2", "ALAS2022": "2022", "ALAS2023": "2023"}


def doc_bytes(corpus: Path, name: str) -> bytes:
    return sample_bytes(corpus, VLU, FIX + name)


def parse(data: bytes, name: str = "updateinfo.xml") -> tuple[list, ParseStats]:
    stats, feed, member = ParseStats(), AmazonFeed(), Member(name, data)
    assert feed.accepts(member, None)
    return list(feed.add(member, None, stats)), stats


# ---- expectations from the records (standard-library read of the trusted samples) ------------

def _evr(pkg: ET.Element) -> str:
    epoch = pkg.get("epoch") or "0"
    base = f"{pkg.get('version')}-{pkg.get('release')}"
    return base if epoch == "0" else f"{epoch}:{base}"


def errata_of(xml: bytes) -> list[dict]:
    """Per <update>: id, release (from the id's prefix), severity, CVEs, and per binary
    package name the lowest EVR of its builds."""
    out = []
    for update in ET.fromstring(xml).iter("update"):
        builds: dict[str, list[str]] = {}
        for pkg in update.iter("package"):
            builds.setdefault(pkg.get("name", ""), []).append(_evr(pkg))
        vid = update.findtext("id", "")
        out.append({
            "id": vid, "release": _PREFIX_RELEASE[vid.split("-")[0]], "severity": update.findtext("severity", ""),
            "issued": update.find("issued").get("date"),  # type: ignore[union-attr]
            "cves": [r.get("id") for r in update.iter("reference") if r.get("type") == "cve"],
            "fixed": {n: min(v, key=functools.cmp_to_key(lambda a, b: compare("rpm", a, b)))
                      for n, v in builds.items()},
        })
    return out


def xml_of(data: bytes) -> bytes:
    return gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data


# ---- rows ----------------------------------------------------------------------------------

@pytest.mark.parametrize("name", sorted(DOCS))
def test_rows_per_cve_from_the_errata(corpus: Path, name: str) -> None:
    data = doc_bytes(corpus, name)
    advisories, stats = parse(data, name)
    assert stats.skipped == 0, stats.warnings
    errata = errata_of(xml_of(data))
    want, got = set(), set()
    for e in errata:
        assert e["release"] == DOCS[name]
        for cve in e["cves"]:
            for pkg, fixed in e["fixed"].items():
                want.add((cve, e["id"], f"Amazon Linux:{e['release']}", pkg, fixed, normalise_severity(e["severity"]),
                          e["severity"]))
    by_alas = {e["id"]: e for e in errata}
    for adv in advisories:
        (alas,) = adv.aliases  # stored once per CVE, the erratum id as alias
        assert adv.source == "amazon" and adv.id in by_alas[alas]["cves"]
        assert adv.published == rfc3339(by_alas[alas]["issued"]) and adv.published.endswith("Z")
        assert adv.references[0].startswith("https://alas.aws.amazon.com/") and adv.references[0].endswith(".html")
        for row in adv.affected:
            assert row.status == "fixed" and row.ranges[0].events == (("introduced", "0"), ("fixed", row.fixed_version))
            got.add((adv.id, alas, row.namespace, row.package, row.fixed_version, row.severity, row.urgency))
    assert got == want


def test_rows_agree_with_vuln_list_goldens(corpus: Path) -> None:
    """vuln-list-update's JSON of the same errata: the same CVEs and package names."""
    ours: dict[str, tuple[set, set]] = {}
    for name in DOCS:
        for adv in parse(doc_bytes(corpus, name), name)[0]:
            cves, pkgs = ours.setdefault(adv.aliases[0], (set(), set()))
            cves.add(adv.id)
            pkgs.update(r.package for r in adv.affected)
    with zipfile.ZipFile(corpus / SAMPLES / VLU) as zf:
        goldens = [json.loads(zf.read(n)) for n in zf.namelist() if n.startswith("amazon/testdata/ALAS")]
    compared = 0
    for golden in goldens:
        if golden["id"] in ours:
            compared += 1
            assert ours[golden["id"]] == (set(golden["cveids"]), {p["name"] for p in golden["packages"]})
    assert compared >= 4


def test_al1_fixture() -> None:
    advisories, stats = parse(AL1.read_bytes())
    assert stats.skipped == 0
    (adv,) = advisories
    assert (adv.id, adv.aliases) == ("CVE-2018-17456", ("ALAS-2018-1093",))
    assert adv.references[0] == "https://alas.aws.amazon.com/ALAS-2018-1093.html"
    assert {(r.namespace, r.package, r.fixed_version, r.severity) for r in adv.affected} == {
        ("Amazon Linux:1", "git", "2.14.5-1.59.amzn1", "HIGH"),
        ("Amazon Linux:1", "git-debuginfo", "1:2.14.5-1.59.amzn1", "HIGH")}


def test_lowest_build_across_arches_is_the_fix() -> None:
    doc = (b'<updates><update type="security"><id>ALAS2-2099-1</id><severity>low</severity>'
           b'<references><reference type="cve" id="CVE-2099-1"/></references><pkglist><collection>'
           b'<package name="zlib" epoch="0" version="1.2.7" release="19.amzn2.0.3" arch="aarch64"/>'
           b'<package name="zlib" epoch="0" version="1.2.7" release="19.amzn2.0.2" arch="x86_64"/>'
           b'<package name="zlib" epoch="0" version="1.2.7" release="19.amzn2.0.2" arch="src"/>'
           b"</collection></pkglist></update></updates>")
    (adv,), stats = parse(doc)
    assert [(r.package, r.fixed_version, r.severity) for r in adv.affected] == [("zlib", "1.2.7-19.amzn2.0.2", "LOW")]


def test_erratum_without_cve_keeps_its_id() -> None:
    doc = (b'<updates><update><id>ALAS2023-2099-7</id><severity>medium</severity><pkglist><collection>'
           b'<package name="curl" version="8.0" release="1.amzn2023" arch="x86_64"/></collection></pkglist>'
           b"</update></updates>")
    (adv,), _ = parse(doc)
    assert adv.id == "ALAS2023-2099-7" and adv.affected[0].namespace == "Amazon Linux:2023"


# ---- the namespace an Amazon Linux image gets ---------------------------------------------------

IMAGES = {  # release -> (os-release, system-release) as the official images ship them
    "1": ('NAME="Amazon Linux AMI"\nVERSION="2018.03"\nID="amzn"\nID_LIKE="rhel fedora"\nVERSION_ID="2018.03"\n',
          "Amazon Linux AMI release 2018.03\n"),
    "2": ('NAME="Amazon Linux"\nVERSION="2"\nID="amzn"\nID_LIKE="centos rhel fedora"\nVERSION_ID="2"\n',
          "Amazon Linux release 2 (Karoo)\n"),
    "2023": ('NAME="Amazon Linux"\nVERSION="2023"\nID="amzn"\nID_LIKE="fedora"\nVERSION_ID="2023"\n',
             "Amazon Linux release 2023.6.20241111 (Amazon Linux)\n"),
}


@pytest.mark.parametrize("release", sorted(IMAGES))
def test_namespace_is_the_one_an_amazon_image_gets(release: str) -> None:
    os_release, system_release = IMAGES[release]
    found = [(p, info) for p, data in (("etc/os-release", os_release), ("etc/system-release", system_release))
             if (info := parse_release_file(p, data.encode())) is not None]
    for _, info in found:  # each file alone, and the pick of both
        assert os_namespace(info) == f"Amazon Linux:{release}"
    assert os_namespace(pick_os(found)) == f"Amazon Linux:{release}"
    assert get_scheme(f"Amazon Linux:{release}").name == "rpm"


# ---- hostile input --------------------------------------------------------------------------

def test_truncated_document_keeps_earlier_errata_and_counts_one_skip(corpus: Path) -> None:
    """vuln-list-update's invalid sample: one complete erratum, then broken XML."""
    advisories, stats = parse(doc_bytes(corpus, "updateinfo_invalid.xml.gz"))
    assert {a.aliases[0] for a in advisories} == {"ALAS2-2018-939"}
    assert stats.skipped == 1 and "not readable updateinfo XML" in stats.warnings[0]


def test_entities_are_refused() -> None:
    doc = (b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;">]>'
           b"<updates><update><id>ALAS2-2018-1</id><title>&b;</title></update></updates>")
    advisories, stats = parse(doc)
    assert advisories == [] and stats.skipped == 1 and "DTD" in stats.warnings[0]


def test_bad_records_are_counted_not_raised() -> None:
    doc = (b'<updates>'
           b'<update><id>ALAS2KERNEL-5.10-2022-001</id><pkglist><collection>'
           b'<package name="kernel" version="5.10.1" release="1.amzn2" arch="x86_64"/></collection></pkglist></update>'
           b'<update><id>ALAS2-2020-2</id><pkglist><collection><package name="bash" version="" release="x"/>'
           b'<package name="zsh" version="5.0&#9;1" release="1"/></collection></pkglist></update>'
           b'<update><id>RHSA-2020:1</id></update>'
           b'<update><id>ALAS2-2020-3</id><references><reference type="cve" id="CVE-2020-3333"/></references>'
           b'<pkglist><collection><package name="sudo" version="1.8.23" release="10.amzn2.1" arch="x86_64"/>'
           b'</collection></pkglist></update></updates>')
    advisories, stats = parse(doc)
    assert [(a.id, a.affected[0].package) for a in advisories] == [("CVE-2020-3333", "sudo")]
    assert stats.records == 4 and stats.skipped >= 4
    assert any("extras/livepatch" in w for w in stats.warnings) and any("not an ALAS id" in w for w in stats.warnings)


def test_other_xml_is_not_taken_for_updateinfo(corpus: Path) -> None:
    repomd = doc_bytes(corpus, "repomd_valid.xml")
    assert not AmazonFeed().accepts(Member("repomd.xml", repomd), None)
    assert not AmazonFeed().accepts(Member("x.xml", b"<updates><update><id>FEDORA-1</id></update></updates>"), None)


def test_repomd_names_the_updateinfo(corpus: Path) -> None:
    assert updateinfo_location(doc_bytes(corpus, "repomd_valid.xml")) == "repodata/updateinfo.xml.gz"
    with pytest.raises(OvalError, match="no updateinfo"):
        updateinfo_location(doc_bytes(corpus, "repomd_invalid.xml"))
    with pytest.raises(OvalError, match="not readable"):
        updateinfo_location(b"<repomd><data type=")


# ---- db update / CLI ----------------------------------------------------------------------------

FEEDS = {"1": None, "2": "updateinfo_2_items.xml.gz", "2023": "updateinfo_AL2023.xml.gz"}  # None: the AL1 fixture


def release_doc(corpus: Path, release: str) -> bytes:
    name = FEEDS[release]
    return gzip.compress(AL1.read_bytes()) if name is None else doc_bytes(corpus, name)


def test_db_update_amazon_from_a_mirror(corpus: Path, tmp_path: Path) -> None:
    """Each release: <base>/<its mirror.list path> names a repository whose real repomd.xml
    names repodata/updateinfo.xml.gz; the three releases' rows end up in their namespaces."""
    root = tmp_path / "mirror"
    root.mkdir()
    with serve_directory(root) as url:
        for release, path in AMAZON_MIRROR_LISTS.items():
            repo = root / "repo" / release / "repodata"
            repo.mkdir(parents=True)
            (repo / "repomd.xml").write_bytes(doc_bytes(corpus, "repomd_valid.xml"))
            (repo / "updateinfo.xml.gz").write_bytes(release_doc(corpus, release))
            (root / path).parent.mkdir(parents=True, exist_ok=True)
            (root / path).write_text(f"{url}/repo/{release}/\n")
        proc = run_cli("db", "update", "--sources", "amazon", cwd=tmp_path, env={"LAYERSCAN_DB_AMAZON_URL": url})
        assert proc.returncode == 0, proc.stderr
        again = run_cli("db", "update", "--sources", "amazon", cwd=tmp_path, env={"LAYERSCAN_DB_AMAZON_URL": url})
        assert again.returncode == 0, again.stderr
    with Store.open(tmp_path / "cache/db/layerscan.db") as store:
        assert store.metadata()["sources"]["amazon"]["status"] == "updated"
        for release in FEEDS:
            errata = errata_of(xml_of(release_doc(corpus, release)))
            want = {(cve, pkg, fixed) for e in errata for cve in e["cves"] for pkg, fixed in e["fixed"].items()}
            got = {(r.vuln_id, r.affected.package, r.affected.fixed_version)
                   for pkg in {p for e in errata for p in e["fixed"]}
                   for r in store.affected(f"Amazon Linux:{release}", pkg)}
            assert got == want


INSTALLED = {  # release -> (name, epoch, version, release) installed in the test image
    "1": [("git", None, "2.13.5", "1.53.amzn1"), ("sudo", None, "1.8.6p3", "29.29.amzn1")],
    "2": [("kernel", None, "4.9.62", "10.57.amzn2"),  # older than ALAS2-2018-939's 4.9.76-38.79.amzn2
          ("qemu-img", 10, "1.5.3", "141.amzn2.5.3"),  # exactly ALAS2-2018-942's fix: not reported
          ("java-1.8.0-openjdk", 1, "1.8.0.151", "1.b12.amzn2"),
          ("rsyslog", None, "8.24.0", "1.amzn2")],  # only AL2023 data names rsyslog
    "2023": [("rsyslog", None, "8.2204.0", "2.amzn2023"), ("kernel", None, "6.1.0", "1.amzn2023")],
}


def _rpmdb(packages: list[tuple[str, int | None, str, str]], tmp: Path) -> bytes:
    blobs = []
    for name, epoch, version, release in packages:
        fields: dict[int, tuple[int, object]] = {
            tags.NAME: (tags.STRING, name), tags.VERSION: (tags.STRING, version),
            tags.RELEASE: (tags.STRING, release), tags.ARCH: (tags.STRING, "x86_64"),
            tags.SOURCERPM: (tags.STRING, f"{name}-{version}-{release}.src.rpm")}
        if epoch is not None:
            fields[tags.EPOCH] = (tags.INT32, [epoch])
        blobs.append(build_header(fields))
    tmp.mkdir(parents=True, exist_ok=True)
    return build_sqlite(tmp, blobs)


@pytest.mark.parametrize("release", sorted(INSTALLED))
def test_cli_amazon_rootfs(corpus: Path, tmp_path: Path, release: str) -> None:
    """An Amazon Linux root (its os-release and system-release, an rpmdb built here) scanned
    against a database imported from every real sample (AL2, AL2022, AL2023) and the AL1 fixture: the
    findings are the errata of the image's release naming an installed package older than
    the lowest build of the fix, computed here from the XML, with ALAS's severity."""
    root = tmp_path / "root"
    (root / "etc").mkdir(parents=True)
    os_release, system_release = IMAGES[release]
    (root / "etc/os-release").write_text(os_release)
    (root / "etc/system-release").write_text(system_release)
    (root / "var/lib/rpm").mkdir(parents=True)
    (root / "var/lib/rpm/rpmdb.sqlite").write_bytes(_rpmdb(INSTALLED[release], tmp_path / "db"))
    feeds = tmp_path / "feeds"
    feeds.mkdir()
    errata = errata_of(AL1.read_bytes())
    (feeds / "al1-updateinfo.xml").write_bytes(AL1.read_bytes())
    for name in DOCS:  # every real sample: AL2, the 2022 preview, AL2023
        data = doc_bytes(corpus, name)
        (feeds / name).write_bytes(data)
        errata += errata_of(xml_of(data))
    assert run_cli("db", "import", str(feeds), cwd=tmp_path).returncode == 0
    proc = run_cli("rootfs", str(root), "--skip-db-update", "-f", "json", "--list-all-pkgs", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["Metadata"]["OS"]["Family"] == "amazon" and not report["Metadata"]["OS"].get("Unsupported")
    installed = {p["Name"]: (f"{p['Epoch']}:" if p.get("Epoch") else "") + f"{p['Version']}-{p['Release']}"
                 for r in report["Results"] if r["Class"] == "os-pkgs" for p in r.get("Packages") or []}
    assert set(installed) == {p[0] for p in INSTALLED[release]}
    want = {}
    for e in errata:
        for pkg, fixed in e["fixed"].items():
            if e["release"] == release and pkg in installed and compare("rpm", installed[pkg], fixed) < 0:
                for cve in e["cves"]:
                    want[(cve, pkg)] = (fixed, e["id"], normalise_severity(e["severity"]))
    vulns = [v for r in report["Results"] for v in r.get("Vulnerabilities") or []]
    got = {(v["VulnerabilityID"], v["PkgName"]): (v["FixedVersion"], v["Severity"]) for v in vulns}
    assert want and got == {key: (fixed, level) for key, (fixed, _, level) in want.items()}
    naming = {cve: {e["id"] for e in errata if cve in e["cves"]} for cve, _ in want}
    for v in vulns:  # the fixing erratum is an alias (with any other erratum naming the same CVE)
        assert want[(v["VulnerabilityID"], v["PkgName"])][1] in v["Aliases"]
        assert set(v["Aliases"]) <= naming[v["VulnerabilityID"]]
    assert all(v["SeveritySource"] == "amazon" and v["DataSource"]["ID"] == "amazon" for v in vulns)
    if trivy_binary():  # Trivy's own reader takes the report (dates, OS family) with every finding
        (tmp_path / "ours.json").write_text(proc.stdout)
        assert trivy_vulns(trivy_convert(tmp_path / "ours.json", tmp_path)) == trivy_vulns(report)
