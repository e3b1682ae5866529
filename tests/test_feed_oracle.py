"""Oracle Linux ELSA (OVAL) on the real samples (vunnel's Oracle provider fixtures and
vuln-list-update's oracle/oval testdata with its golden JSON): the OVAL reader against
the golden parse, per-CVE rows derived from the criterion comments, per-arch / rebuild /
ksplice decisions, hostile input, ``db update`` from a local mirror, and a CLI scan."""

from __future__ import annotations

import bz2
import json
import re
import shutil
import xml.etree.ElementTree as ET
import zipfile
from pathlib import Path
from typing import Iterator

import pytest

from layerscan.analyzers.os.release import parse_os_release
from layerscan.db.feeds import oval
from layerscan.db.feeds.base import ParseStats
from layerscan.db.feeds.common import normalise_severity
from layerscan.db.feeds.members import Member
from layerscan.db.feeds.oracle import OracleFeed
from layerscan.db.store import Store
from layerscan.match.namespace import os_namespace
from layerscan.versions import compare
from feedsamples import SAMPLES, sample, sample_bytes, serve_directory
from test_cli_main import run_cli

VUNNEL = "vunnel-provider-fixtures.zip"
VLU = "vuln-list-update-testdata.zip"
VUNNEL_DIR = "tests/unit/providers/oracle/test-fixtures/"
VLU_DIR = "oracle/oval/testdata/"
DOCS = [(VUNNEL, VUNNEL_DIR + n) for n in ("mock_data", "mock_per_arch_data", "mock_ksplice_data")] + [
    (VLU, VLU_DIR + n) for n in ("ELSA-2007-0057.xml", "all-positive-data.xml.bz2", "elsa-2018-1196-1.xml.bz2",
                                 "invalid-title-format.xml.bz2")]
OS_RELEASE = "trivy-release-oracle-linux"
RPMDB = "rpmdb-cbl-mariner-2.0-curl"  # the corpus has no Oracle Linux rpmdb (see test_cli_oracle_rootfs)




def xml_of(data: bytes) -> bytes:
    return bz2.decompress(data) if data[:3] == b"BZh" else data


def parse_feed(data: bytes, name: str = "doc.xml") -> tuple[list, ParseStats]:
    stats = ParseStats()
    feed = OracleFeed()
    member = Member(name, data)
    assert feed.accepts(member, None)
    return list(feed.add(member, None, stats)), stats


# ---- expectations read from the records with the standard library (trusted samples) ----------

def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def definitions_of(xml: bytes) -> list[ET.Element]:
    return [e for e in ET.fromstring(xml).iter() if _local(e.tag) == "definition"]


def facts(defn: ET.Element) -> dict:
    """What one ELSA definition states: id, CVEs, severity, and its package criteria as
    (release, package, evr, ksplice) read from the criterion comments."""
    refs = [(r.get("source"), r.get("ref_id")) for r in defn.iter() if _local(r.tag) == "reference"]
    comments = [c.get("comment", "") for c in defn.iter() if _local(c.tag) == "criterion"]
    ksplice = {m.group(1) for c in comments if (m := re.match(r"(\S+) is ksplice-based$", c))}
    packages = [(release, m.group(1), m.group(2), m.group(1) in ksplice)
                for release, c in _release_of_each_criterion(defn)
                if (m := re.match(r"(\S+) is earlier than (\S+)$", c))]
    severity = next((e.text.strip() for e in defn.iter() if _local(e.tag) == "severity"), "")
    return {"id": next(i for s, i in refs if s == "elsa"), "cves": sorted({i for s, i in refs if s == "CVE"}),
            "severity": severity, "packages": packages}


def _release_of_each_criterion(elem: ET.Element, release: str = "") -> Iterator[tuple[str, str]]:
    """(release, comment) of every criterion: the "Oracle Linux N is installed" sibling under
    an AND (one ELSA may cover two releases, ELSA-2017-3516 does)."""
    kids = [k for k in elem if _local(k.tag) in ("criteria", "criterion")]
    if _local(elem.tag) == "criteria" and elem.get("operator", "AND") == "AND":
        for k in kids:
            if _local(k.tag) == "criterion" and (m := re.match(r"Oracle Linux (\d+) is installed$", k.get("comment", ""))):
                release = m.group(1)
    for k in (k for k in elem if _local(k.tag) in ("criteria", "criterion", "metadata")):
        if _local(k.tag) == "criterion":
            yield release, k.get("comment", "")
        elif _local(k.tag) == "criteria":
            yield from _release_of_each_criterion(k, release)


def erratum_of(adv) -> str:  # type: ignore[no-untyped-def]
    return adv.aliases[0] if adv.id.startswith("CVE-") else adv.id


def no_epoch_zero(evr: str) -> str:
    return evr[2:] if evr.startswith("0:") else evr


def expected_rows(defn: ET.Element) -> dict[tuple[str, str], str]:
    """(namespace, package) -> the lowest fixed EVR among the non-ksplice variants."""
    out: dict[tuple[str, str], str] = {}
    for release, package, evr, ksplice in facts(defn)["packages"]:
        if ksplice:
            continue
        key, evr = (f"Oracle Linux:{release}", package), no_epoch_zero(evr)
        if key not in out or compare("rpm", evr, out[key]) < 0:
            out[key] = evr
    return out


# ---- the OVAL reader against vuln-list-update's golden JSON ------------------------------------

def _criteria_json(node: oval.Criteria) -> dict:
    crit = [{"Comment": c.comment} for c in node.children if isinstance(c, oval.Criterion)]
    subs = [_criteria_json(c) for c in node.children if isinstance(c, oval.Criteria)]
    return {"Operator": node.operator, "Criterias": subs or None, "Criterions": crit or None}


def test_reader_matches_the_golden_definitions(corpus: Path) -> None:
    """The golden files are vuln-list-update's parse of all-positive-data + elsa-2018-1196-1."""
    stats = ParseStats()
    defs = []
    for name in ("all-positive-data.xml.bz2", "elsa-2018-1196-1.xml.bz2"):
        data = sample_bytes(corpus, VLU, VLU_DIR + name)
        defs += [i for i in oval.iter_oval(oval.open_bytes(data, name), name, stats) if isinstance(i, oval.Definition)]
    with zipfile.ZipFile(corpus / SAMPLES / VLU) as zf:
        golden = {n.rsplit("/", 1)[1][:-5]: json.loads(zf.read(n)) for n in zf.namelist()
                  if n.startswith(VLU_DIR + "golden/") and n.endswith(".json")}
    assert sorted(d.ref_ids("elsa")[0] for d in defs) == sorted(golden) and stats.skipped == 0
    for d in defs:
        want = golden[d.ref_ids("elsa")[0]]
        assert d.title == " ".join(want["Title"].split())
        assert list(d.platforms) == want["Platform"]
        assert [(r.source, r.ref_id, r.ref_url) for r in d.references] == \
            [(r["Source"], r["ID"], r["URI"]) for r in want["References"]]
        assert d.severity == want["Severity"]
        assert [c.id for c in d.cves] == [c["ID"] for c in want["Cves"] or []]
        assert d.issued == want["Issued"]["Date"]
        assert d.criteria is not None and _criteria_json(d.criteria) == _criteria(want["Criteria"])
        assert d.description == want["Description"].strip()


def _criteria(node: dict) -> dict:
    return {"Operator": node["Operator"], "Criterias": [_criteria(c) for c in node["Criterias"]] or None
            if node["Criterias"] else None,
            "Criterions": [{"Comment": c["Comment"]} for c in node["Criterions"]] if node["Criterions"] else None}


def test_reader_resolves_tests_objects_and_states(corpus: Path) -> None:
    """ELSA-2018-1196-1 ships its tests: each "<pkg> is earlier than <evr>" test resolves
    to an rpminfo object of that name and a "less than" state with that EVR."""
    data = sample_bytes(corpus, VLU, VLU_DIR + "elsa-2018-1196-1.xml.bz2")
    doc = oval.read_oval(oval.open_bytes(data, "elsa"), "elsa", ParseStats())
    checked = 0
    for leaf in oval.leaves(doc.definitions[0].criteria):
        m = re.match(r"(\S+) is earlier than (\S+)$", leaf.comment)
        if m:
            assert doc.resolve(leaf.test_ref) == oval.RpmCheck(m.group(1), m.group(2), "less than")
            checked += 1
    assert checked > 0


# ---- rows ----------------------------------------------------------------------------------

@pytest.mark.parametrize("archive, member", DOCS, ids=[m.rsplit("/", 1)[1] for _, m in DOCS])
def test_rows_per_cve_from_the_criteria(corpus: Path, archive: str, member: str) -> None:
    data = sample_bytes(corpus, archive, member)
    advisories, stats = parse_feed(data, member.rsplit("/", 1)[1])
    assert stats.skipped == 0, stats.warnings
    got: dict[tuple[str, str], dict] = {}
    for adv in advisories:
        assert adv.source == "oracle"
        got.setdefault((adv.id, erratum_of(adv)), {}).update(
            {(r.namespace, r.package): (r.status, r.fixed_version, r.severity, r.urgency) for r in adv.affected})
    want: dict[tuple[str, str], dict] = {}
    for defn in definitions_of(xml_of(data)):
        f = facts(defn)
        rows = expected_rows(defn)
        if not rows:
            continue
        for cve in f["cves"] or [f["id"]]:  # an erratum naming no CVE keeps its own id
            want.setdefault((cve, f["id"]), {}).update(
                {k: ("fixed", v, normalise_severity(f["severity"]), f["severity"]) for k, v in rows.items()})
    assert got == want


def test_per_arch_variants_keep_the_lowest_fix(corpus: Path) -> None:
    """ELSA-2022-4803 was respun per arch (rsyslog 57.0.4 on aarch64, 57.0.1 on x86_64):
    the row has no arch, so it keeps the lowest; ELSA-2024-2961's two rebuilds likewise."""
    data = sample_bytes(corpus, VUNNEL, VUNNEL_DIR + "mock_per_arch_data")
    advisories, _ = parse_feed(data)
    rows = {(erratum_of(a), r.package): r.fixed_version for a in advisories for r in a.affected}
    for defn in definitions_of(data):
        f = facts(defn)
        variants: dict[str, set[str]] = {}
        for _, package, evr, _ in f["packages"]:
            variants.setdefault(package, set()).add(no_epoch_zero(evr))
        for package, evrs in variants.items():
            lowest = min(evrs, key=lambda v: sum(compare("rpm", v, o) > 0 for o in evrs))
            assert rows[(f["id"], package)] == lowest
    multi = {f["id"] for d in definitions_of(data) if (f := facts(d))
             and len({e for _, p, e, _ in f["packages"] if p == f["packages"][0][1]}) > 1}
    assert {"ELSA-2022-4803", "ELSA-2024-2961"} <= multi  # the sample really has differing variants


def test_ksplice_only_erratum_adds_no_rows(corpus: Path) -> None:
    data = sample_bytes(corpus, VUNNEL, VUNNEL_DIR + "mock_ksplice_data")
    (defn,) = definitions_of(data)
    assert all(ks for *_, ks in facts(defn)["packages"])  # every package criterion is ksplice-based
    advisories, stats = parse_feed(data)
    assert advisories == [] and stats.records == 1 and stats.skipped == 0


def test_namespace_is_the_one_an_oracle_image_gets(corpus: Path) -> None:
    os_release = corpus / "fixtures/os-release" / OS_RELEASE / "etc/os-release"
    info = parse_os_release(os_release.read_bytes())
    assert info is not None and info.family == "oracle"
    advisories, _ = parse_feed(sample_bytes(corpus, VUNNEL, VUNNEL_DIR + "mock_per_arch_data"))
    major = info.name.split(".")[0]
    assert os_namespace(info) == f"Oracle Linux:{major}"
    assert os_namespace(info) in {r.namespace for a in advisories for r in a.affected}


def test_title_with_a_colon_id_uses_the_elsa_reference(corpus: Path) -> None:
    """invalid-title-format: a title 'ELSA-2007:0057' — the id comes from the elsa reference."""
    advisories, _ = parse_feed(sample_bytes(corpus, VLU, VLU_DIR + "invalid-title-format.xml.bz2"))
    assert {erratum_of(a) for a in advisories} == {"ELSA-2007-0057"}


def test_cvss_strings_per_cve(corpus: Path) -> None:
    data = sample_bytes(corpus, VLU, VLU_DIR + "all-positive-data.xml.bz2")
    advisories, _ = parse_feed(data)
    by_id = {a.id: a for a in advisories}
    for cve in (e for e in ET.fromstring(xml_of(data)).iter() if _local(e.tag) == "cve" and e.get("cvss3")):
        score, vector = cve.get("cvss3", "").split("/", 1)
        got = {(c.vector, c.score) for c in by_id[cve.text.strip()].cvss}
        assert (vector, float(score)) in got


# ---- hostile input --------------------------------------------------------------------------

def test_broken_xml_is_a_counted_skip(corpus: Path) -> None:
    """broken-oval-data: a mismatched tag mid-document. Definitions closed before it are
    complete and kept; the rest is one counted warning, never a traceback."""
    data = sample_bytes(corpus, VLU, VLU_DIR + "broken-oval-data.xml.bz2")
    advisories, stats = parse_feed(data)
    assert stats.skipped == 1 and "not readable OVAL XML" in stats.warnings[0]
    good, _ = parse_feed(sample_bytes(corpus, VLU, VLU_DIR + "all-positive-data.xml.bz2"))
    assert advisories and {erratum_of(a) for a in advisories} < {erratum_of(a) for a in good}


def test_truncated_bz2_is_a_counted_skip(corpus: Path) -> None:
    data = sample_bytes(corpus, VLU, VLU_DIR + "all-positive-data.xml.bz2")
    stats = ParseStats()
    assert list(OracleFeed().add(Member("cut.xml.bz2", data[: len(data) // 2]), None, stats)) == []
    assert stats.skipped == 1


BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>
<oval_definitions xmlns="http://oval.mitre.org/XMLSchema/oval-definitions-5"><definitions>
<definition id="oval:com.oracle.elsa:def:1" class="patch"><metadata><title>&lol3;</title></metadata></definition>
</definitions></oval_definitions>"""
EXTERNAL = b"""<?xml version="1.0"?>
<!DOCTYPE x [<!ENTITY ext SYSTEM "file:///etc/passwd">]>
<oval_definitions xmlns="http://oval.mitre.org/XMLSchema/oval-definitions-5"><definitions>
<definition id="oval:com.oracle.elsa:def:1" class="patch"><metadata><title>&ext;</title></metadata></definition>
</definitions></oval_definitions>"""


@pytest.mark.parametrize("doc", [BILLION_LAUGHS, EXTERNAL, bz2.compress(BILLION_LAUGHS)], ids=["laughs", "ext", "bz2"])
def test_dtd_and_entities_are_refused(doc: bytes) -> None:
    advisories, stats = parse_feed(doc)
    assert advisories == [] and stats.skipped == 1 and "DTD" in stats.warnings[0]


class _SmallCaps(OracleFeed):
    max_xml_bytes = 1 << 20
    max_record_bytes = 256 << 10


class _XmlCap(OracleFeed):
    max_xml_bytes = 1 << 20


def test_bz2_bomb_is_refused_at_the_cap() -> None:
    head = (b'<oval_definitions xmlns="http://oval.mitre.org/XMLSchema/oval-definitions-5">'
            b'<generator><product_name>Oracle Errata System</product_name></generator><definitions>')
    bomb = bz2.compress(head + b" " * (64 << 20))  # 64 MiB of XML in a few kB
    assert len(bomb) < 10_000
    stats = ParseStats()
    assert list(_XmlCap().add(Member("bomb.xml.bz2", bomb), None, stats)) == []
    assert stats.skipped == 1 and "decompression cap" in stats.warnings[0]


def test_one_huge_element_is_refused_before_it_fills_memory() -> None:
    doc = (b'<oval_definitions xmlns="http://oval.mitre.org/XMLSchema/oval-definitions-5"><definitions>'
           b'<definition id="oval:com.oracle.elsa:def:1" class="patch"><metadata><description>'
           + b"A" * (600 << 10) + b"</description></metadata></definition></definitions></oval_definitions>")
    stats = ParseStats()
    assert list(_SmallCaps().add(Member("big.xml", doc), None, stats)) == []
    assert stats.skipped == 1 and "larger than" in stats.warnings[0]


def test_deep_criteria_is_a_skipped_definition() -> None:
    deep = b"<criteria>" * 40 + b'<criterion test_ref="t" comment="x is earlier than 0:1-1.el8"/>' + b"</criteria>" * 40
    doc = (b'<oval_definitions xmlns="http://oval.mitre.org/XMLSchema/oval-definitions-5"><definitions>'
           b'<definition id="oval:com.oracle.elsa:def:1" class="patch"><metadata><title>ELSA-2020-0001: x (LOW)'
           b"</title></metadata>" + deep + b"</definition></definitions></oval_definitions>")
    advisories, stats = parse_feed(doc)
    assert advisories == [] and stats.skipped == 1 and "deeper" in stats.warnings[0]


@pytest.mark.parametrize("name", ["invalid.txt", "EOF.txt"])
def test_non_oval_members_are_not_taken(corpus: Path, name: str) -> None:
    data = sample_bytes(corpus, VLU, VLU_DIR + name)
    assert not OracleFeed().accepts(Member(name, data), None)


def test_a_file_path_is_streamed(corpus: Path, tmp_path: Path) -> None:
    path = sample(corpus, VLU, VLU_DIR + "all-positive-data.xml.bz2", tmp_path / "com.oracle.elsa-all.xml.bz2")
    stats = ParseStats()
    from_file = list(OracleFeed().parse(path, stats))
    assert from_file == parse_feed(path.read_bytes())[0] and stats.skipped == 0


# ---- db import / db update / CLI ---------------------------------------------------------------

def _store_rows(db: Path, wanted: dict[tuple[str, str], dict]) -> dict[tuple[str, str], dict]:
    got: dict[tuple[str, str], dict] = {}
    with Store.open(db) as store:
        for namespace, package in {k for rows in wanted.values() for k in rows}:
            for row in store.affected(namespace, package):
                if row.source == "oracle":
                    got.setdefault((row.vuln_id, ""), {})[(namespace, package)] = row.affected.fixed_version
    return got


def _wanted(data: bytes) -> dict[tuple[str, str], dict]:
    want: dict[tuple[str, str], dict] = {}
    for defn in definitions_of(xml_of(data)):
        f = facts(defn)
        for cve in f["cves"] or [f["id"]]:
            want.setdefault((cve, ""), {}).update(expected_rows(defn))
    return {k: v for k, v in want.items() if v}


@pytest.fixture()
def mirror(corpus: Path, tmp_path: Path) -> Iterator[str]:
    """Oracle's layout: /security/oval/com.oracle.elsa-all.xml.bz2 (here: the real all-positive sample)."""
    root = tmp_path / "mirror"
    sample(corpus, VLU, VLU_DIR + "all-positive-data.xml.bz2", root / "security/oval/com.oracle.elsa-all.xml.bz2")
    with serve_directory(root) as url:
        yield url


def test_db_update_oracle_from_a_mirror(mirror: str, corpus: Path, tmp_path: Path) -> None:
    env = {"LAYERSCAN_DB_ORACLE_URL": f"{mirror}/security/oval/com.oracle.elsa-all.xml.bz2"}
    proc = run_cli("db", "update", "--sources", "oracle", cwd=tmp_path, env=env)
    assert proc.returncode == 0, proc.stderr
    db = tmp_path / "cache/db/layerscan.db"
    want = _wanted(sample_bytes(corpus, VLU, VLU_DIR + "all-positive-data.xml.bz2"))
    assert want and _store_rows(db, want) == want
    with Store.open(db) as store:
        assert store.metadata()["sources"]["oracle"]["status"] == "updated"


def test_db_import_takes_every_sample(corpus: Path, tmp_path: Path) -> None:
    feeds = tmp_path / "feeds"
    want: dict[tuple[str, str], dict] = {}
    for archive, member in DOCS:
        data = sample(corpus, archive, member, feeds / member.rsplit("/", 1)[1]).read_bytes()
        for key, rows in _wanted(data).items():
            for k, v in rows.items():  # several ELSAs fixing one CVE: the database keeps each row
                if k not in want.get(key, {}) or compare("rpm", v, want[key][k]) < 0:
                    want.setdefault(key, {})[k] = v
    proc = run_cli("db", "import", str(feeds), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    got = _store_rows(tmp_path / "cache/db/layerscan.db", want)
    assert set(got) == set(want)
    for key, rows in want.items():
        assert set(got[key]) == set(rows)


def test_cli_oracle_rootfs(corpus: Path, tmp_path: Path) -> None:
    """The real Oracle Linux 8.10 os-release over a real rpmdb. The corpus has no Oracle Linux
    rpmdb, so the CBL-Mariner one stands in (openssl, openssl-libs, sudo, openldap, ... are
    installed); the database is imported from every real ELSA sample. The expected findings
    are computed from the records: a package criterion of an OL8 definition naming an
    installed package whose version is older (ksplice criteria excluded). With these samples
    that set is empty — the only OL8 erratum naming an installed package is the ksplice-only
    openssl ELSA-2021-9151, whose epoch-2 fix every regular openssl is older than: it must
    not be reported. The OS is scanned (Oracle Linux:8 has rows), not 'unsupported'."""
    root = tmp_path / "root"
    for case in (corpus / "fixtures/os-release" / OS_RELEASE, corpus / "fixtures/rpm" / RPMDB):
        shutil.copytree(case, root, dirs_exist_ok=True, ignore=shutil.ignore_patterns("expected.json"))
    feeds = tmp_path / "feeds"
    defs = []
    for archive, member in DOCS:
        data = sample(corpus, archive, member, feeds / member.rsplit("/", 1)[1]).read_bytes()
        defs += definitions_of(xml_of(data))
    assert run_cli("db", "import", str(feeds), cwd=tmp_path).returncode == 0
    proc = run_cli("rootfs", str(root), "--skip-db-update", "-f", "json", "--list-all-pkgs", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["Metadata"]["OS"]["Family"] == "oracle" and not report["Metadata"]["OS"].get("Unsupported")
    assert report["Layerscan"].get("UncheckedOSPackages", 0) == 0  # omitted when 0
    installed = {p["Name"]: p["Version"] + ("-" + p["Release"] if p.get("Release") else "")
                 for r in report["Results"] if r["Class"] == "os-pkgs" for p in r.get("Packages") or []}
    assert "openssl" in installed
    major = report["Metadata"]["OS"]["Name"].split(".")[0]
    wanted, ksplice_would_flag = set(), set()
    for defn in defs:
        f = facts(defn)
        for release, package, evr, ksplice in f["packages"]:
            if release == major and package in installed and compare("rpm", installed[package], evr) < 0:
                (ksplice_would_flag if ksplice else wanted).update((cve, package) for cve in f["cves"])
    got = {(v["VulnerabilityID"], v["PkgName"]) for r in report["Results"] for v in r.get("Vulnerabilities") or []}
    assert got == wanted
    assert ksplice_would_flag and not ksplice_would_flag & got
