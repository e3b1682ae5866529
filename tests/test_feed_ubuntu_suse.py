"""Ubuntu (with Pro/ESM) and SUSE/openSUSE in OSV form, on the real upstream samples.

Ubuntu: vunnel's OSV fixtures (``osv/`` and ``osv-esm-cases/``), osv.dev's and
vulnerablecode's UBUNTU-CVE records. SUSE: osv.dev's SUSE-SU sample (it has no
affected entries), the real SLE 15 BCI rpmdb and the corpus' SUSE os-release cases.
"""

from __future__ import annotations

import json
import shutil
import zipfile
from pathlib import Path

import pytest

from layerscan.analyzers.os.release import parse_os_release
from layerscan.db.build import import_paths
from layerscan.db.feeds.base import ParseStats
from layerscan.db.feeds.common import normalise_severity
from layerscan.db.feeds.osv import OsvFeed
from layerscan.db.namespaces import normalise_namespace
from layerscan.db.store import Store
from layerscan.match.matcher import match_sbom
from layerscan.match.namespace import os_namespace
from layerscan.model import OSInfo, Package, Sbom
from test_cli_main import run_cli

SAMPLES = "feeds/upstream-samples"
VUNNEL_UBUNTU = "tests/unit/providers/ubuntu/test-fixtures/"
OSV_DEV = "gcp/website/testdata/osv/"


def unzip(corpus: Path, archive: str, prefix: str, dest: Path) -> Path:
    """The members of a corpus sample zip under ``prefix``, extracted to ``dest`` (paths kept)."""
    with zipfile.ZipFile(corpus / SAMPLES / archive) as zf:
        for name in zf.namelist():
            if name.startswith(prefix) and not name.endswith("/"):
                target = dest / name
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(zf.read(name))
    return dest / prefix


@pytest.fixture(scope="module")
def ubuntu_dir(corpus: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The OSV part of vunnel's Ubuntu fixtures (osv/ and osv-esm-cases/)."""
    root = tmp_path_factory.mktemp("ubuntu")
    out = root / "osv-records"
    for part in ("osv/", "osv-esm-cases/"):
        shutil.copytree(unzip(corpus, "vunnel-provider-fixtures.zip", VUNNEL_UBUNTU + part, root / "x"),
                        out / part, dirs_exist_ok=True)
    return out


def records(path: Path) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted(path.rglob("*.json"))]


def ubuntu_priority(rec: dict) -> str:
    return next((s["score"] for s in rec.get("severity") or () if s["type"] == "Ubuntu"), "")


# ---- 1. parsing ----------------------------------------------------------------------------------

def test_ubuntu_cve_records_are_stored_under_their_cve(ubuntu_dir: Path, corpus: Path, tmp_path: Path) -> None:
    extra = [unzip(corpus, "osv.dev-testdata.zip", "gcp/workers/oss_fuzz_worker/testdata/UBUNTU-CVE-", tmp_path),
             unzip(corpus, "vulnerablecode-test-data.zip",
                   "vulnerabilities/tests/test_data/ubuntu/ubuntu_security_notices/osv/", tmp_path)]
    checked = 0
    for path in (ubuntu_dir, *[p.parent for p in extra]):
        recs = {r["id"]: r for r in records(path) if r["id"].startswith("UBUNTU-CVE-")}
        stats = ParseStats()
        advisories = [a for a in OsvFeed().parse(path, stats) if any(x.startswith("UBUNTU-CVE-") for x in a.aliases)]
        assert stats.skipped == 0
        live = {k: r for k, r in recs.items() if not r.get("withdrawn")}
        assert {a.aliases[0] for a in advisories} == {k for k, r in live.items() if r.get("upstream")}
        for adv in advisories:
            rec = live[adv.aliases[0]]
            assert adv.id == rec["upstream"][0] and adv.id.startswith("CVE-")
            assert len(adv.affected) == len(rec["affected"])
            label = ubuntu_priority(rec)
            for got, want in zip(adv.affected, rec["affected"]):
                assert got.namespace == normalise_namespace(want["package"]["ecosystem"])
                assert got.package == want["package"]["name"]
                assert (got.severity, got.urgency) == ((normalise_severity(label), label) if label else ("", ""))
            checked += 1
    assert checked >= 8


def test_pro_ecosystems_keep_their_own_namespace(ubuntu_dir: Path) -> None:
    seen = {a.namespace for adv in OsvFeed().parse(ubuntu_dir, ParseStats()) for a in adv.affected}
    eco = {a["package"]["ecosystem"] for r in records(ubuntu_dir) if not r.get("withdrawn") for a in r["affected"]}
    pro = {e for e in eco if e.startswith("Ubuntu:Pro:")}
    assert pro and {"Ubuntu:Pro:" + e.split(":")[2] for e in pro} <= seen
    assert {"Ubuntu:" + e.split(":")[1] for e in eco - pro} <= seen
    # what the matcher builds for an Ubuntu image is the standard namespace
    assert os_namespace(OSInfo("ubuntu", "16.04")) == normalise_namespace("Ubuntu:16.04:LTS") == "Ubuntu:16.04"


def test_usn_is_stored_per_cve_with_its_priority(ubuntu_dir: Path) -> None:
    usn = next(r for r in records(ubuntu_dir) if r["id"].startswith("USN-"))
    cves = {c["id"]: ubuntu_priority(c) for a in usn["affected"] for c in a["database_specific"]["cves_map"]["cves"]}
    stored = [a for a in OsvFeed().parse(ubuntu_dir, ParseStats()) if usn["id"] in a.aliases]
    assert {a.id for a in stored} == set(cves)
    for adv in stored:
        assert {(r.severity, r.urgency) for r in adv.affected} == {(normalise_severity(cves[adv.id]), cves[adv.id])}


# ---- 1. ESM matching -----------------------------------------------------------------------------

@pytest.fixture(scope="module")
def ubuntu_db(ubuntu_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    target = tmp_path_factory.mktemp("ubuntu-db") / "db" / "layerscan.db"
    import_paths(target, [ubuntu_dir])
    return target


def affected_entry(ubuntu_dir: Path, cve: str, ecosystem: str) -> dict:
    rec = next(r for r in records(ubuntu_dir) if cve in (r.get("upstream") or ()) and not r.get("withdrawn"))
    return next(a for a in rec["affected"] if a["package"]["ecosystem"] == ecosystem)


def fixed_of(entry: dict) -> str:
    return next(e["fixed"] for r in entry["ranges"] for e in r["events"] if "fixed" in e)


def deb(entry: dict, version: str) -> Package:
    """The first binary of an affected entry, installed at ``version`` (source = the entry's package)."""
    binary = entry["ecosystem_specific"]["binaries"][0]["binary_name"]
    return Package(binary, version, "deb", src_name=entry["package"]["name"], src_version=version)


def findings(db: Path, release: str, *pkgs: Package) -> dict[tuple[str, str], object]:
    with Store.open(db) as store:
        result = match_sbom(Sbom("t", "rootfs", os=OSInfo("ubuntu", release), packages=pkgs), store)
    return {(f.package.name, f.vulnerability_id): f for f in result.findings}


def test_esm_package_is_matched_against_ubuntu_pro(ubuntu_dir: Path, ubuntu_db: Path) -> None:
    """netty on 16.04 (UBUNTU-CVE-2022-24823): only Ubuntu:Pro:16.04:LTS has it. An ESM build older
    than the ESM fix is reported, fixed in the Pro version; the fixed ESM build is not."""
    entry = affected_entry(ubuntu_dir, "CVE-2022-24823", "Ubuntu:Pro:16.04:LTS")
    fixed = fixed_of(entry)
    older_esm = [v for v in entry["versions"] if "esm" in v]
    assert older_esm and fixed not in entry["versions"]
    found = findings(ubuntu_db, "16.04", deb(entry, older_esm[-1]))
    hit = found[(deb(entry, "").name, "CVE-2022-24823")]
    assert (hit.status, hit.fixed_version, hit.match.namespace) == ("fixed", fixed, "Ubuntu:Pro:16.04")
    assert (hit.severity, hit.severity_source) == (normalise_severity("low"), "ubuntu")
    assert "UBUNTU-CVE-2022-24823" in hit.aliases
    assert findings(ubuntu_db, "16.04", deb(entry, fixed)) == {}


def test_standard_package_is_matched_against_the_standard_release(ubuntu_dir: Path, ubuntu_db: Path) -> None:
    """unzip on 16.04 (UBUNTU-CVE-2014-9913): the standard release has the fix; a version the record
    lists is affected, with the record's Ubuntu priority. wayland on 16.04 (UBUNTU-CVE-2021-3782) is
    fixed only in Ubuntu Pro: a non-ESM build of a standard image is not checked against it."""
    rec = next(r for r in records(ubuntu_dir) if r["id"] == "UBUNTU-CVE-2014-9913")
    entry = affected_entry(ubuntu_dir, "CVE-2014-9913", "Ubuntu:16.04:LTS")
    found = findings(ubuntu_db, "16.04", deb(entry, entry["versions"][-1]))
    hit = found[(deb(entry, "").name, "CVE-2014-9913")]
    assert (hit.fixed_version, hit.match.namespace) == (fixed_of(entry), "Ubuntu:16.04")
    assert (hit.severity, hit.severity_source) == (normalise_severity(ubuntu_priority(rec)), "ubuntu")
    wayland = affected_entry(ubuntu_dir, "CVE-2021-3782", "Ubuntu:Pro:16.04:LTS")
    plain = [v for v in wayland["versions"] if "esm" not in v][-1]
    assert findings(ubuntu_db, "16.04", deb(wayland, plain)) == {}
    # the same source at the Pro fixed version (an ESM build) is checked against Pro: not affected
    assert findings(ubuntu_db, "16.04", deb(wayland, fixed_of(wayland))) == {}


def test_pro_rows_decide_over_the_standard_rows_of_the_same_cve(ubuntu_dir: Path, tmp_path: Path) -> None:
    """When a release has both a standard and a Pro row for one CVE (ESM supersedes the standard
    archive), an ESM build is judged by the Pro row. The real 16.04 wayland record, with the standard
    release's entry added as osv.dev lists releases whose standard fix is older than ESM's."""
    rec = next(r for r in records(ubuntu_dir) if r["id"] == "UBUNTU-CVE-2021-3782")
    pro = next(a for a in rec["affected"] if a["package"]["ecosystem"] == "Ubuntu:Pro:16.04:LTS")
    standard = json.loads(json.dumps(pro))
    standard["package"]["ecosystem"] = "Ubuntu:16.04:LTS"
    standard["ranges"] = [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}]}]  # open in the standard archive
    rec["affected"] = [pro, standard]
    (tmp_path / "feed").mkdir()
    (tmp_path / "feed" / f"{rec['id']}.json").write_text(json.dumps(rec))
    db = tmp_path / "db" / "layerscan.db"
    import_paths(db, [tmp_path / "feed"])
    assert findings(db, "16.04", deb(pro, fixed_of(pro))) == {}  # ESM build at the ESM fix: fixed
    plain = [v for v in pro["versions"] if "esm" not in v][-1]
    hit = findings(db, "16.04", deb(pro, plain))[(deb(pro, "").name, "CVE-2021-3782")]
    assert (hit.match.namespace, hit.fixed_version) == ("Ubuntu:16.04", "")  # standard image: standard row


# ---- 1. end to end: CLI, KEV and ignore by CVE ---------------------------------------------------

def dpkg_status(pkgs: list[Package]) -> str:
    return "".join(f"Package: {p.name}\nStatus: install ok installed\nArchitecture: amd64\nSource: {p.src_name}\n"
                   f"Version: {p.version}\nDescription: test\n\n" for p in pkgs)


def test_cli_ubuntu_rootfs_findings_kev_and_ignore(ubuntu_dir: Path, corpus: Path, tmp_path: Path) -> None:
    """The real Ubuntu 18.04 lsb-release + a dpkg status of packages the 18.04 records name, at
    versions the records list; a database imported from the records and a KEV catalogue that lists
    one of the CVEs: findings by CVE, KEV set, and an ignore entry by CVE removes it."""
    case = corpus / "fixtures" / "os-release" / "trivy-ubuntu-happy-path"
    release = json.loads((case / "expected.json").read_text())["os"]["name"]
    root = tmp_path / "root"
    shutil.copytree(case, root, ignore=shutil.ignore_patterns("expected.json"))
    stream = os_namespace(OSInfo("ubuntu", release)).split(":")[1]
    wanted: dict[str, str] = {}  # CVE -> fixed version ("" = open)
    pkgs: list[Package] = []
    for rec in records(ubuntu_dir):
        if rec.get("withdrawn") or not rec["id"].startswith("UBUNTU-CVE-"):
            continue
        for entry in rec["affected"]:
            if entry["package"]["ecosystem"] in (f"Ubuntu:{stream}:LTS", f"Ubuntu:{stream}") and entry["versions"] \
                    and all(p.src_name != entry["package"]["name"] for p in pkgs):
                pkgs.append(deb(entry, entry["versions"][-1]))
                fixed = [e["fixed"] for r in entry["ranges"] for e in r["events"] if "fixed" in e]
                wanted[rec["upstream"][0]] = fixed[0] if fixed else ""
    assert len(wanted) >= 2
    status = root / "var/lib/dpkg/status"
    status.parent.mkdir(parents=True)
    status.write_text(dpkg_status(pkgs))
    feeds = tmp_path / "feeds"
    shutil.copytree(ubuntu_dir, feeds / "ubuntu")
    kev_cve = sorted(wanted)[0]
    kev = json.loads((corpus / "feeds/cisa-kev/known_exploited_vulnerabilities.json").read_text())
    kev["vulnerabilities"] = [dict(kev["vulnerabilities"][0], cveID=kev_cve)]  # a real entry, renamed
    (feeds / "known_exploited_vulnerabilities.json").write_text(json.dumps(kev))
    assert run_cli("db", "import", str(feeds), cwd=tmp_path).returncode == 0

    proc = run_cli("rootfs", str(root), "--skip-db-update", "-f", "json", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    vulns = {v["VulnerabilityID"]: v for r in json.loads(proc.stdout)["Results"]
             for v in r.get("Vulnerabilities") or []}
    assert {k: v.get("FixedVersion", "") for k, v in vulns.items()} == wanted
    assert all(v["SeveritySource"] == "ubuntu" for v in vulns.values())
    assert vulns[kev_cve]["KEV"] is True and not any(v.get("KEV") for k, v in vulns.items() if k != kev_cve)

    ignore = tmp_path / "ignore.yaml"
    ignore.write_text(f"- id: {kev_cve}\n  reason: accepted for the test\n")
    proc = run_cli("rootfs", str(root), "--skip-db-update", "--fail-on-kev", "--ignorefile", str(ignore),
                   "-f", "json", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    left = {v["VulnerabilityID"] for r in json.loads(proc.stdout)["Results"] for v in r.get("Vulnerabilities") or []}
    assert left == set(wanted) - {kev_cve}


# ---- 2. SUSE / openSUSE --------------------------------------------------------------------------

def test_suse_sample_record_parses_under_its_own_id(corpus: Path, tmp_path: Path) -> None:
    """osv.dev's SUSE-SU-2023:3313-1 sample names no CVE and no package: kept under its id, no rows."""
    path = unzip(corpus, "osv.dev-testdata.zip", OSV_DEV + "SUSE-SU-2023_3313-1.json", tmp_path)
    rec = json.loads(path.read_text())
    stats = ParseStats()
    advisories = list(OsvFeed().parse(path, stats))
    assert stats.skipped == 0 and [(a.id, len(a.affected)) for a in advisories] == [(rec["id"], len(rec["affected"]))]


@pytest.mark.parametrize("case, product", [
    ("trivy-release-opensuse-leap-15.2.1", "openSUSE:Leap {major_minor}"),
    ("trivy-release-suse-linux-enterprise-micro", "SUSE:Linux Enterprise Micro {major_minor}"),
    ("trivy-release-suse-linux-enterprise-micro-5.4-for-rancher", "SUSE:Linux Enterprise Micro for Rancher {major_minor}"),
    ("trivy-release-suse-linux-enterprise-micro-6.0", "SUSE:Linux Micro {major_minor}"),
])
def test_suse_os_release_builds_the_osv_namespace(corpus: Path, case: str, product: str) -> None:
    """The real os-release of each SUSE case: what the matcher builds equals the normalised OSV ecosystem
    of that release (osv.dev names the products as in ``product``)."""
    info = parse_os_release((corpus / "fixtures/os-release" / case / "etc/os-release").read_bytes())
    assert info is not None
    expected = json.loads((corpus / "fixtures/os-release" / case / "expected.json").read_text())["os"]
    assert info.family == expected["family"]
    major_minor = ".".join(info.name.split(".")[:2])
    assert os_namespace(info) == normalise_namespace(product.format(major_minor=major_minor))


@pytest.mark.parametrize("product", [
    "Linux Enterprise Server 15 SP5", "Linux Enterprise Module for Basesystem 15 SP5",
    "Linux Enterprise Server for SAP Applications 15 SP5", "Linux Enterprise High Performance Computing 15 SP5",
    "Linux Enterprise Server 15 SP5-LTSS", "Linux Enterprise Module for Python 3 15 SP5"])
def test_every_sle_product_of_a_service_pack_is_one_stream(product: str) -> None:
    assert normalise_namespace(f"SUSE:{product}") == os_namespace(OSInfo("suse linux enterprise server", "15.5"))
    assert normalise_namespace(f"SUSE:{product}") != normalise_namespace("SUSE:Linux Enterprise Server 15 SP4")
    assert os_namespace(OSInfo("suse linux enterprise server", "15")) == normalise_namespace(
        "SUSE:Linux Enterprise Server 15")


def sles_bci_case(corpus: Path, tmp_path: Path) -> tuple[Path, Path, dict, dict]:
    """(root, feeds, erratum, the installed package it fixes later): the real SLE 15 BCI rpmdb
    (NDB) with a SLES os-release (the corpus has no SLES os-release case; ID/VERSION_ID as a
    SLES 15 SP3 BCI image writes them) under ``tmp_path/root``. The real SUSE-SU sample names no
    package, so the erratum's affected entries are filled in here from the installed packages:
    one fixed in a later release than installed (reported), one fixed at the installed version
    (not reported); written to ``tmp_path/feeds``. The erratum's CVE ids are placeholders."""
    root = tmp_path / "root"
    shutil.copytree(corpus / "fixtures/rpm/rpmdb-sle15-bci-ndb", root, ignore=shutil.ignore_patterns("expected.json"))
    (root / "etc").mkdir()
    (root / "etc/os-release").write_text('NAME="SLES"\nVERSION="15-SP3"\nVERSION_ID="15.3"\nID="sles"\n')
    installed = json.loads((corpus / "fixtures/rpm/rpmdb-sle15-bci-ndb/expected.json").read_text())["packages"]
    old, current = installed[2], installed[3]  # glibc, libpcre1
    rec = json.loads(unzip(corpus, "osv.dev-testdata.zip", OSV_DEV + "SUSE-SU-2023_3313-1.json", tmp_path).read_text())
    later = f"{old['version_upstream']}-{old['release']}.1"
    rec["related"] = ["CVE-0000-00001", "CVE-0000-00002"]
    rec["affected"] = [
        {"package": {"ecosystem": "SUSE:Linux Enterprise Module for Basesystem 15 SP3", "name": old["name"]},
         "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": later}]}]},
        {"package": {"ecosystem": "SUSE:Linux Enterprise Server 15 SP3", "name": current["name"]},
         "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": current["version"]}]}]},
        {"package": {"ecosystem": "SUSE:Linux Enterprise Server 15 SP4", "name": current["name"]},
         "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": current["version"] + ".1"}]}]},
    ]
    (tmp_path / "feeds").mkdir()
    (tmp_path / "feeds" / "SUSE-SU-2023:3313-1.json").write_text(json.dumps(rec))
    return root, tmp_path / "feeds", rec, old


def test_cli_sles_bci_rpmdb_with_a_suse_erratum(corpus: Path, tmp_path: Path) -> None:
    """The SLES case (sles_bci_case): findings come under the CVEs with the SUSE-SU id as alias."""
    root, feeds, rec, old = sles_bci_case(corpus, tmp_path)
    later = rec["affected"][0]["ranges"][0]["events"][1]["fixed"]
    assert run_cli("db", "import", str(feeds), cwd=tmp_path).returncode == 0
    proc = run_cli("rootfs", str(root), "--skip-db-update", "-f", "json", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    vulns = [v for r in json.loads(proc.stdout)["Results"] for v in r.get("Vulnerabilities") or []]
    assert sorted((v["VulnerabilityID"], v["PkgName"], v["FixedVersion"]) for v in vulns) == [
        (cve, old["name"], later) for cve in rec["related"]]
    assert all(rec["id"] in v.get("Aliases", []) for v in vulns), vulns
