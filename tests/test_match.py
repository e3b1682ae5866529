"""Matching on real data: the corpus database against real package lists.

Expected findings are derived in the test from the feed files themselves,
with independent version oracles (dpkg --compare-versions, packaging).
"""

from __future__ import annotations

import gzip
import re
import shutil
import subprocess
import zipfile
from pathlib import Path

import pytest
import yaml
from packaging.version import Version

from layerscan.analyzers.os.dpkg import parse as parse_dpkg
from layerscan.db.store import Store
from layerscan.match.matcher import match_sbom
from layerscan.model import OSInfo, Package, Sbom

STRETCH = "fixtures/deb/real-debian9-stretch-image/var/lib/dpkg/status"


def dpkg_lt(a: str, b: str) -> bool:
    return subprocess.run(["dpkg", "--compare-versions", a, "lt", b]).returncode == 0


def stretch_fixes(corpus: Path) -> list[tuple[str, str, str, tuple[str, ...]]]:
    """(advisory id, source package, fixed version, CVEs) for stretch from the DLA list."""
    out = []
    adv, cves = "", ()
    for line in gzip.open(corpus / "feeds/debian-security-tracker/data/DLA/list.gz", "rt"):
        m = re.match(r"^\[[^\]]+\] (DLA-\d+-\d+) ", line)
        if m:
            adv, cves = m.group(1), ()
            continue
        m = re.match(r"^\s+\{(.*)\}", line)
        if m:
            cves = tuple(m.group(1).split())
            continue
        m = re.match(r"^\s+\[stretch\] - (\S+) (\S+)", line)
        if m and adv and not m.group(2).startswith("<"):
            out.append((adv, m.group(1), m.group(2), cves))
    return out


@pytest.fixture(scope="module")
def stretch(corpus: Path, corpus_db: Path):
    pkgs = parse_dpkg((corpus / STRETCH).read_bytes()).packages
    sbom = Sbom("debian9", "rootfs", os=OSInfo("debian", "9.13"), packages=pkgs)
    with Store.open(corpus_db) as store:
        return sbom, match_sbom(sbom, store)


@pytest.mark.skipif(shutil.which("dpkg") is None, reason="needs dpkg as an independent version oracle")
def test_debian_dla_fixes_are_found(corpus: Path, stretch):
    sbom, result = stretch
    by_src: dict[str, list[Package]] = {}
    for p in sbom.packages:
        by_src.setdefault(p.src_name, []).append(p)
    found = {(f.package.name, i) for f in result.findings for i in (f.vulnerability_id, *f.aliases)}
    checked = 0
    for adv, src, fixed, cves in stretch_fixes(corpus)[:400]:
        for pkg in by_src.get(src, []):
            if dpkg_lt(pkg.src_version, fixed):
                wanted = cves or (adv,)
                for cve in wanted:
                    assert (pkg.name, cve) in found, f"{pkg.name} {pkg.src_version} < {fixed} ({adv}) but {cve} missing"
                checked += 1
    assert checked > 20, "the fixture should exercise many DLA fixes"


def test_debian_findings_carry_match_details(stretch):
    _, result = stretch
    assert result.findings and not result.unknowns
    for f in result.findings:
        assert f.match.namespace == "Debian:9"
        assert f.match.package_name == (f.package.src_name or f.package.name)
        assert f.status in ("fixed", "affected", "will_not_fix", "fix_deferred", "end_of_life")
        if f.status == "fixed":
            assert f.fixed_version


@pytest.mark.skipif(shutil.which("dpkg") is None, reason="needs dpkg as an independent version oracle")
def test_no_finding_at_the_fixed_version(corpus: Path, corpus_db: Path):
    """A package at the highest stretch fix of a CVE is not reported for that CVE."""
    highest: dict[tuple[str, str], str] = {}
    for _, src, fixed, cves in stretch_fixes(corpus):
        for cve in cves:
            cur = highest.get((src, cve))
            if cur is None or dpkg_lt(cur, fixed):
                highest[(src, cve)] = fixed
    sample = list(highest.items())[:60]
    pkgs = tuple(Package(name=src, version=fixed, type="deb", src_name=src, src_version=fixed)
                 for (src, _), fixed in sample)
    with Store.open(corpus_db) as store:
        result = match_sbom(Sbom("t", "rootfs", os=OSInfo("debian", "9.13"), packages=pkgs), store)
    found = {(f.package.name, f.package.version, f.vulnerability_id) for f in result.findings}
    for (src, cve), fixed in sample:
        assert (src, fixed, cve) not in found, f"{src} {fixed} reported for {cve} although fixed"
    # and one version below the fix is reported
    below = tuple(Package(name=src, version=fixed + "~", type="deb", src_name=src, src_version=fixed + "~")
                  for (src, _), fixed in sample[:10])
    with Store.open(corpus_db) as store:
        result = match_sbom(Sbom("t", "rootfs", os=OSInfo("debian", "9.13"), packages=below), store)
    got = {(f.package.name, i) for f in result.findings for i in (f.vulnerability_id, *f.aliases)}
    for (src, cve), _ in sample[:10]:
        assert (src, cve) in got


def pypsa_records(corpus: Path, package: str) -> list[dict]:
    zpath = next((corpus / "feeds/osv-pypi-pypa").glob("*.zip"))
    with zipfile.ZipFile(zpath) as z:
        return [yaml.safe_load(z.read(n)) for n in z.namelist()
                if n.startswith(f"vulns/{package}/") and n.endswith(".yaml")]


def oracle_affected(record: dict, version: str) -> bool:
    v = Version(version)
    for aff in record.get("affected", []):
        if str(aff.get("versions") and version in aff["versions"]) == "True":
            return True
        for rng in aff.get("ranges", []):
            if rng.get("type") != "ECOSYSTEM":
                continue
            lo = None
            for ev in rng["events"]:
                if "introduced" in ev:
                    lo = Version("0") if ev["introduced"] == "0" else Version(ev["introduced"])
                elif "fixed" in ev and lo is not None:
                    if lo <= v < Version(ev["fixed"]):
                        return True
                    lo = None
            if lo is not None and v >= lo:
                return True
    return False


@pytest.mark.parametrize("package,version", [("urllib3", "1.23"), ("urllib3", "1.24.1"), ("requests", "2.19.1"),
                                             ("jinja2", "2.10"), ("flask", "0.12.2"), ("urllib3", "2.2.3")])
def test_pypi_findings_equal_feed_oracle(corpus: Path, corpus_db: Path, package: str, version: str):
    records = [r for r in pypsa_records(corpus, package) if not r.get("withdrawn")]
    expected = {r["id"] for r in records if oracle_affected(r, version)}
    pkg = Package(name=package, version=version, type="pypi", purl=f"pkg:pypi/{package}@{version}")
    with Store.open(corpus_db) as store:
        result = match_sbom(Sbom("t", "filesystem", packages=(pkg,)), store)
    got = {i for f in result.findings for i in (f.vulnerability_id, f.match.advisory_id, *f.aliases)}
    assert expected <= got, f"missing {expected - got}"
    assert len(result.findings) == len({f.vulnerability_id for f in result.findings}), "one finding per issue"


def test_invalid_version_is_recorded_unknown_not_silent(corpus_db: Path):
    pkg = Package(name="urllib3", version="not a version!", type="pypi", file_path="x/METADATA")
    with Store.open(corpus_db) as store:
        result = match_sbom(Sbom("t", "filesystem", packages=(pkg,)), store)
    assert not result.findings
    assert len(result.unknowns) == 1 and "not a valid" in result.unknowns[0].reason


def test_excluded_packages_are_not_matched(corpus_db: Path):
    owned = Package(name="urllib3", version="1.23", type="pypi", os_owner="deb:python3-urllib3")
    app = Package(name="urllib3", version="1.23", type="pypi", is_application=True)
    with Store.open(corpus_db) as store:
        assert not match_sbom(Sbom("t", "filesystem", packages=(owned, app)), store).findings


def eol_front_matter(corpus: Path, product: str) -> dict[str, dict]:
    text = (corpus / f"feeds/endoflife-date/products/{product}.md").read_text()
    doc = yaml.safe_load(text.split("---")[1])
    return {str(r["releaseCycle"]): r for r in doc["releases"]}


@pytest.mark.parametrize("family,release,product,cycle,column", [
    ("debian", "9.13", "debian", "9", "eoes"), ("debian", "12.5", "debian", "12", "eoes"),
    ("alpine", "3.19.1", "alpine-linux", "3.19", "eol"), ("ubuntu", "22.04", "ubuntu", "22.04", "eol")])
def test_os_end_of_life_from_endoflife_date(corpus: Path, corpus_db: Path, family, release, product, cycle, column):
    import datetime as dt

    from layerscan.match.eol import os_eol

    rel = eol_front_matter(corpus, product)[cycle]
    date = str(rel[column])
    with Store.open(corpus_db) as store:
        before = os_eol(OSInfo(family, release), store, today=dt.date.fromisoformat(date) - dt.timedelta(days=1))
        after = os_eol(OSInfo(family, release), store, today=dt.date.fromisoformat(date) + dt.timedelta(days=1))
    assert before and after and before.eol_date == date
    assert not before.is_eol and after.is_eol


def test_explain_says_why_and_why_not(corpus: Path, corpus_db: Path):
    from layerscan.match.explain import explain

    record = next(r for r in pypsa_records(corpus, "urllib3") if r["id"] == "PYSEC-2019-133")
    cve = next(a for a in record["aliases"] if a.startswith("CVE-"))
    pkgs = (Package("urllib3", "1.24.1", "pypi"), Package("urllib3", "1.26.18", "pypi"),
            Package("urllib3", "1.24.1", "pypi", os_owner="deb:python3-urllib3"))
    with Store.open(corpus_db) as store:
        out = explain(Sbom("t", "filesystem", packages=pkgs), store, cve)
    verdicts = [(e.package.version, e.package.os_owner, e.affected) for e in out if e.advisory_id == record["id"]]
    assert verdicts == [("1.24.1", "", oracle_affected(record, "1.24.1")),
                        ("1.26.18", "", oracle_affected(record, "1.26.18")),
                        ("1.24.1", "deb:python3-urllib3", False)]
    assert "OS package" in out[-1].reason


@pytest.mark.parametrize("package,version", [("urllib3", "1.24.1"), ("urllib3", "2.0.2"), ("jinja2", "2.10")])
def test_fixed_version_is_the_first_fix_above_the_installed_one(corpus: Path, corpus_db: Path, package, version):
    """Records list fixes for several branches (urllib3 2.0.6 and 1.26.17): a 1.24.1 user
    must be told 1.26.17, the lowest ECOSYSTEM fix above what is installed."""
    v = Version(version)
    pkg = Package(name=package, version=version, type="pypi")
    with Store.open(corpus_db) as store:
        result = match_sbom(Sbom("t", "filesystem", packages=(pkg,)), store)
    by_record = {f.match.advisory_id: f for f in result.findings}
    checked = 0
    for record in pypsa_records(corpus, package):
        if record.get("withdrawn") or record["id"] not in by_record or not oracle_affected(record, version):
            continue
        fixes = [Version(ev["fixed"]) for aff in record["affected"] for rng in aff.get("ranges", [])
                 if rng.get("type") == "ECOSYSTEM" for ev in rng["events"] if "fixed" in ev]
        above = [f for f in fixes if f > v]
        if above:
            assert Version(by_record[record["id"]].fixed_version.split(",")[0]) == min(above), record["id"]
            checked += 1
    assert checked
