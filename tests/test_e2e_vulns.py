"""End-to-end vulnerability findings on the e2e image (issue 5, "Tests (real data)").

The database is built from the corpus feeds with the real CLI (``layerscan db import``),
the image is scanned with ``layerscan image --input ... -f json``, and the expected findings
are derived here from the feed records themselves: each record's ranges are evaluated
against the installed versions with a small independent check (``packaging`` for PEP 440,
a numeric release key for semver/Maven, ``dpkg --compare-versions`` for Debian), and every
record that applies must appear as a finding, by its id or an alias.
"""

from __future__ import annotations

import gzip
import json
import re
import shutil
import subprocess
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import pytest
import yaml
from e2e_images import LOG4J, E2EImage, ExpectedPackage, e2e, pep503, reported_vulns, run_cli  # noqa: F401
from packaging.version import InvalidVersion, Version

FEEDS = ("osv-pypi-pypa", "osv-go-vulndb", "osv-ghsa-curated", "debian-security-tracker", "cisa-kev",
         "endoflife-date")
PYPA_ZIP = "osv-pypi-pypa/pypa-advisory-database-vulns.zip"
GO_ZIP = "osv-go-vulndb/go-vulndb-osv.zip"
GHSA_DIR = "osv-ghsa-curated"
DEBIAN_LISTS = ("debian-security-tracker/data/DSA/list.gz", "debian-security-tracker/data/DLA/list.gz")
KEV_JSON = "cisa-kev/known_exploited_vulnerabilities.json"
DEBIAN_RELEASE = "stretch"


# ---- independent version checks ------------------------------------------------------------

_RELEASE = re.compile(r"^v?(\d+(?:\.\d+)*)(?:[-.+]?(.*))?$")


def release_key(version: str) -> tuple:
    """Numeric release, then "final after any suffix" (semver/Go pre-releases, Maven -beta)."""
    m = _RELEASE.match(version.split("+", 1)[0])
    if not m:
        return ((-1,), 0, version)
    nums = tuple(int(x) for x in m.group(1).split("."))
    nums = nums + (0,) * (6 - len(nums))
    suffix = m.group(2) or ""
    return (nums, 0 if suffix else 1, suffix)


def pep440_key(version: str) -> object:
    try:
        return Version(version)
    except InvalidVersion:
        return Version("0")


def affected_by_events(version: str, events: list[dict], key: Callable[[str], object]) -> bool:
    """OSV range semantics: events sorted by version, introduced opens, fixed/last_affected close."""
    ordered = sorted(((kind, value) for e in events for kind, value in e.items()),
                     key=lambda kv: (0, key("0")) if kv[1] == "0" else (1, key(kv[1])))
    affected = False
    v = key(version)
    for kind, value in ordered:
        if kind == "introduced" and (value == "0" or v >= key(value)):
            affected = True
        elif kind == "fixed" and v >= key(value):
            affected = False
        elif kind == "last_affected" and v > key(value):
            affected = False
    return affected


def osv_applies(record: dict, ecosystem: str, name: str, version: str, key: Callable[[str], object]) -> bool:
    if record.get("withdrawn"):
        return False
    for aff in record.get("affected") or []:
        pkg = aff.get("package") or {}
        if pkg.get("ecosystem") != ecosystem or pkg.get("name") != name:
            continue
        if version in (aff.get("versions") or []):
            return True
        if any(affected_by_events(version, r.get("events") or [], key)
               for r in aff.get("ranges") or [] if r.get("type") in ("ECOSYSTEM", "SEMVER")):
            return True
    return False


def record_ids(record: dict) -> frozenset[str]:
    return frozenset([record["id"], *(record.get("aliases") or [])])


# ---- feed records ---------------------------------------------------------------------------

def pypa_records(corpus: Path, project: str) -> list[dict]:
    with zipfile.ZipFile(corpus / "feeds" / PYPA_ZIP) as zf:
        names = [n for n in zf.namelist() if n.startswith(f"vulns/{project}/") and n.endswith(".yaml")]
        return [yaml.safe_load(zf.read(n)) for n in names]


@cache
def go_records(corpus: Path) -> tuple[dict, ...]:
    with zipfile.ZipFile(corpus / "feeds" / GO_ZIP) as zf:
        return tuple(json.loads(zf.read(n)) for n in zf.namelist() if n.endswith(".json"))


def ghsa_records(corpus: Path) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted((corpus / "feeds" / GHSA_DIR).glob("GHSA-*.json"))]


@dataclass(frozen=True)
class DebianAdvisory:
    id: str  # DSA-4321-1 / DLA-1234-1
    cves: frozenset[str]
    package: str  # source package
    fixed: str


def debian_advisories(corpus: Path, release: str) -> Iterator[DebianAdvisory]:
    """``[release] - source version`` lines of the DSA/DLA lists (tracker text format)."""
    head = re.compile(r"^\[[^\]]+\] (D[SL]A-\d+(?:-\d+)?) ")
    fixed = re.compile(rf"^\s+\[{release}\] - (\S+) (\S+)")
    for rel in DEBIAN_LISTS:
        current, cves = "", frozenset()
        for line in gzip.decompress((corpus / "feeds" / rel).read_bytes()).decode("utf-8", "replace").splitlines():
            if m := head.match(line):
                current, cves = m.group(1), frozenset()
            elif line.strip().startswith("{"):
                cves = frozenset(line.strip().strip("{}").split())
            elif (m := fixed.match(line)) and current and not m.group(2).startswith("<"):
                yield DebianAdvisory(current, cves, m.group(1), m.group(2))


def dpkg_lt(a: str, b: str) -> bool:
    return subprocess.run(["dpkg", "--compare-versions", a, "lt", b], check=False).returncode == 0


# ---- fixtures: the database and the scans ---------------------------------------------------

@dataclass(frozen=True)
class Run:
    args: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str

    def report(self) -> dict:
        assert self.returncode in (0,) or self.stdout.startswith("{"), \
            f"{' '.join(self.args)}: exit {self.returncode}: {self.stderr[-2000:]}"
        return json.loads(self.stdout)


@pytest.fixture(scope="module")
def db_cache(corpus: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A cache root whose database was built by ``layerscan db import`` from the corpus feeds."""
    cache_dir = tmp_path_factory.mktemp("e2e-db-cache")
    proc = run_cli("db", "import", *(str(corpus / "feeds" / f) for f in FEEDS), "--cache-dir", str(cache_dir))
    assert proc.returncode == 0, f"db import failed ({proc.returncode}): {proc.stderr[-2000:]}"
    return cache_dir


def scan(e2e: E2EImage, cache_dir: Path, *extra: str, cwd: Path | None = None) -> Run:
    args = ("image", "--input", str(e2e.archive), "-f", "json", "--cache-dir", str(cache_dir), "--quiet", *extra)
    proc = run_cli(*args, cwd=cwd)
    return Run(args, proc.returncode, proc.stdout, proc.stderr)


@pytest.fixture(scope="module")
def full(e2e: E2EImage, db_cache: Path) -> dict:
    return scan(e2e, db_cache).report()


def finding_ids(v: dict) -> frozenset[str]:
    return frozenset([v["VulnerabilityID"], *(v.get("Aliases") or [])])


def findings_on(report: dict, pred: Callable[[dict], bool]) -> list[dict]:
    return [v for v in reported_vulns(report) if pred(v)]


def missing(expected: dict[str, frozenset[str]], found: list[dict]) -> list[str]:
    """Expected record ids (with aliases) that no finding carries."""
    seen = [finding_ids(v) for v in found]
    return sorted(rid for rid, ids in expected.items() if not any(ids & s for s in seen))


# ---- language ecosystems --------------------------------------------------------------------

def test_pypi_records_that_apply_are_found(corpus: Path, e2e: E2EImage, full: dict) -> None:
    checked = 0
    for pkg in e2e.of_type("pypi"):
        records = pypa_records(corpus, pep503(pkg.name))
        applies = {r["id"]: record_ids(r) for r in records
                   if osv_applies(r, "PyPI", pep503(pkg.name), pkg.version, pep440_key)
                   or osv_applies(r, "PyPI", pkg.name, pkg.version, pep440_key)}
        found = findings_on(full, lambda v, p=pkg: pep503(v["PkgName"]) == pep503(p.name))
        assert not missing(applies, found), f"{pkg.name} {pkg.version}: missing {missing(applies, found)}"
        assert {v["InstalledVersion"] for v in found} <= {pkg.version}
        not_applying = [record_ids(r) for r in records if r["id"] not in applies]
        wrong = [v["VulnerabilityID"] for v in found
                 if any(finding_ids(v) & ids for ids in not_applying)
                 and not any(finding_ids(v) & ids for ids in applies.values())]
        assert not wrong, f"{pkg.name} {pkg.version}: records whose ranges exclude it: {wrong}"
        checked += len(applies)
    assert checked >= 10, "the old flask/requests/urllib3/jinja2 releases have many PYSEC records"


def test_upgraded_and_removed_pip_packages_have_no_findings_of_the_old_versions(e2e: E2EImage, full: dict) -> None:
    for old in e2e.superseded + e2e.removed:
        stale = findings_on(full, lambda v, o=old: pep503(v["PkgName"]) == pep503(o.name)
                            and v["InstalledVersion"] == o.version)
        assert stale == [], f"{old.name} {old.version} is not in the final image"
    new = findings_on(full, lambda v: pep503(v["PkgName"]) == "urllib3")
    assert new and all(v["Layer"]["Index"] == 5 for v in new)


def ghsa_expected(corpus: Path, pkg: ExpectedPackage, ecosystem: str, name: str) -> dict[str, frozenset[str]]:
    return {r["id"]: record_ids(r) for r in ghsa_records(corpus)
            if osv_applies(r, ecosystem, name, pkg.version, release_key)}


def test_log4shell_on_the_nested_log4j(corpus: Path, e2e: E2EImage, full: dict) -> None:
    log4j = e2e.find("maven", LOG4J)
    expected = ghsa_expected(corpus, log4j, "Maven", LOG4J)
    assert {"CVE-2021-44228", "CVE-2021-45046"} <= set().union(*expected.values())
    found = findings_on(full, lambda v: v["PkgName"] == LOG4J)
    assert not missing(expected, found), missing(expected, found)
    assert all(v.get("PkgPath", "").lstrip("/") == log4j.path for v in found)
    assert all(v["Layer"]["Index"] == log4j.layer for v in found)
    assert all(v.get("FixedVersion") for v in found)


@pytest.mark.parametrize("name", ["lodash", "minimist"])
def test_npm_advisories(corpus: Path, e2e: E2EImage, full: dict, name: str) -> None:
    pkg = e2e.find("npm", name)
    expected = ghsa_expected(corpus, pkg, "npm", name)
    assert expected, f"a curated GHSA applies to {name} {pkg.version}"
    found = findings_on(full, lambda v: v["PkgName"] == name)
    assert not missing(expected, found), missing(expected, found)
    assert all(v["InstalledVersion"] == pkg.version and v["Layer"]["Index"] == 2 for v in found)


def test_npm_application_is_not_matched(e2e: E2EImage, full: dict) -> None:
    for app in e2e.applications:
        assert findings_on(full, lambda v, a=app: v["PkgName"] == a.name) == []


def test_go_stdlib_and_module_records_that_apply_are_found(corpus: Path, e2e: E2EImage, full: dict) -> None:
    total = 0
    for pkg in e2e.of_type("golang"):
        if pkg.application:
            continue
        version = pkg.version.removeprefix("v")
        expected = {r["id"]: record_ids(r) for r in go_records(corpus)
                    if osv_applies(r, "Go", pkg.name, version, release_key)}
        found = findings_on(full, lambda v, p=pkg: v["PkgName"] == p.name)
        assert not missing(expected, found), f"{pkg.name} {pkg.version}: missing {missing(expected, found)[:20]}"
        total += len(expected)
    assert total >= 20, "Go 1.15.2's stdlib has dozens of advisories"


# ---- Debian ---------------------------------------------------------------------------------

def test_debian_dsa_dla_for_stretch(corpus: Path, e2e: E2EImage, full: dict) -> None:
    if shutil.which("dpkg") is None:
        pytest.skip("dpkg is not installed (used as the independent version comparison)")
    sources: dict[str, str] = {p.src_name: p.src_version for p in e2e.of_type("deb")}
    expected: dict[str, frozenset[str]] = {}
    for adv in debian_advisories(corpus, DEBIAN_RELEASE):
        if adv.package in sources and dpkg_lt(sources[adv.package], adv.fixed):
            expected[f"{adv.id} {adv.package}"] = adv.cves | {adv.id}
    assert len(expected) >= 20, "a Debian 9.12 image has many later DSAs/DLAs"
    binaries = {p.name: p.src_name for p in e2e.of_type("deb")}
    found = findings_on(full, lambda v: v["PkgName"] in binaries)
    by_source: dict[str, list[dict]] = {}
    for v in found:
        by_source.setdefault(binaries[v["PkgName"]], []).append(v)
    gaps = [key for key, ids in expected.items()
            if not any(ids & finding_ids(v) for v in by_source.get(key.split(" ", 1)[1], []))]
    assert not gaps, f"{len(gaps)} of {len(expected)} DSA/DLA not found, e.g. {gaps[:15]}"
    assert all(v["Layer"]["Index"] == 0 for v in found)


# ---- KEV ------------------------------------------------------------------------------------

def test_kev_flag_follows_the_catalogue(corpus: Path, full: dict) -> None:
    kev = {v["cveID"] for v in json.loads((corpus / "feeds" / KEV_JSON).read_text())["vulnerabilities"]}
    assert "CVE-2021-44228" in kev
    flagged = [v for v in reported_vulns(full) if finding_ids(v) & kev]
    assert flagged and all(v.get("KEV") is True for v in flagged)
    assert not [v["VulnerabilityID"] for v in reported_vulns(full) if v.get("KEV") and not finding_ids(v) & kev]


# ---- policy through the CLI -----------------------------------------------------------------

def keyset(vulns: list[dict]) -> set[tuple[str, str, str]]:
    return {(v["PkgID"], v.get("PkgPath", ""), v["VulnerabilityID"]) for v in vulns}


def severities(report: dict) -> set[str]:
    return {v["Severity"] for v in reported_vulns(report)}


def test_no_exit_code_means_success_even_with_findings(e2e: E2EImage, db_cache: Path, full: dict) -> None:
    assert reported_vulns(full)
    assert scan(e2e, db_cache).returncode == 0


def test_severity_filter_and_exit_code(e2e: E2EImage, db_cache: Path, full: dict) -> None:
    run = scan(e2e, db_cache, "--severity", "CRITICAL", "--exit-code", "5")
    shown = reported_vulns(run.report())
    want = [v for v in reported_vulns(full) if v["Severity"] == "CRITICAL"]
    assert want, "Log4Shell is CRITICAL"
    assert keyset(shown) == keyset(want)
    assert run.returncode == 5


def test_severity_without_findings_passes_the_gate(e2e: E2EImage, db_cache: Path, full: dict) -> None:
    absent = [s for s in ("UNKNOWN", "LOW", "MEDIUM", "HIGH", "CRITICAL") if s not in severities(full)]
    if not absent:
        pytest.skip("every severity level has findings on this image")
    run = scan(e2e, db_cache, "--severity", ",".join(absent), "--exit-code", "5")
    assert run.returncode == 0 and reported_vulns(run.report()) == []


def test_ignore_unfixed(e2e: E2EImage, db_cache: Path, full: dict) -> None:
    run = scan(e2e, db_cache, "--ignore-unfixed", "--exit-code", "6")
    fixed = [v for v in reported_vulns(full) if v.get("FixedVersion")]
    assert keyset(reported_vulns(run.report())) == keyset(fixed)
    assert run.returncode == (6 if fixed else 0)


def test_pkg_types_library_drops_os_findings(e2e: E2EImage, db_cache: Path, full: dict) -> None:
    run = scan(e2e, db_cache, "--pkg-types", "library", "--exit-code", "4")
    report = run.report()
    os_results = [r for r in report["Results"] if r.get("Class") == "os-pkgs" and r.get("Vulnerabilities")]
    assert os_results == []
    lang = [v for r in full["Results"] if r.get("Class") != "os-pkgs" for v in r.get("Vulnerabilities") or []]
    assert keyset(reported_vulns(report)) == keyset(lang)
    assert run.returncode == (4 if lang else 0)


def test_ignorefile_suppresses_log4shell(e2e: E2EImage, db_cache: Path, full: dict, tmp_path: Path) -> None:
    log4j = [v for v in reported_vulns(full) if v["PkgName"] == LOG4J]
    assert log4j
    (tmp_path / ".layerscanignore").write_text("".join(f"{v['VulnerabilityID']}\n" for v in log4j))
    run = scan(e2e, db_cache, "--severity", "CRITICAL", "--exit-code", "11", cwd=tmp_path)
    report = run.report()
    assert not keyset(reported_vulns(report)) & keyset(log4j)
    suppressed = [m["Finding"] for r in report["Results"] for m in r.get("ExperimentalModifiedFindings") or []]
    assert keyset([v for v in log4j if v["Severity"] == "CRITICAL"]) <= keyset(suppressed)
    remaining = [v for v in reported_vulns(full) if v["Severity"] == "CRITICAL" and v not in log4j]
    assert run.returncode == (11 if remaining else 0)


# ---- what each finding says ------------------------------------------------------------------

def applying_fixed(record: dict, ecosystem: str, name: str, version: str) -> set[str]:
    """The ``fixed`` events of the ranges of ``record`` that contain ``version``."""
    out = set()
    for aff in record.get("affected") or []:
        if (aff.get("package") or {}).get("name") != name or aff["package"].get("ecosystem") != ecosystem:
            continue
        for rng in aff.get("ranges") or []:
            events = rng.get("events") or []
            if affected_by_events(version, events, release_key):
                out |= {e["fixed"] for e in events if "fixed" in e}
    return out


@pytest.mark.parametrize("ecosystem,name", [("Maven", LOG4J), ("npm", "lodash"), ("npm", "minimist")])
def test_ghsa_findings_carry_the_record_severity_and_fix(corpus: Path, e2e: E2EImage, full: dict,
                                                         ecosystem: str, name: str) -> None:
    pkg = e2e.find("maven" if ecosystem == "Maven" else "npm", name)
    for record in ghsa_records(corpus):
        if not osv_applies(record, ecosystem, name, pkg.version, release_key):
            continue
        found = [v for v in findings_on(full, lambda v: v["PkgName"] == name) if finding_ids(v) & record_ids(record)]
        assert len(found) == 1, f"{record['id']}: {len(found)} findings on {name}"
        finding = found[0]
        assert finding["Severity"] == record["database_specific"]["severity"]
        assert set(finding["FixedVersion"].replace(" ", "").split(",")) & applying_fixed(record, ecosystem, name,
                                                                                         pkg.version)
        detail = finding.get("MatchDetail") or {}
        assert detail.get("Namespace") == ecosystem and detail.get("AdvisoryID")
        assert set(finding.get("CweIDs") or []) >= set(record["database_specific"].get("cwe_ids") or [])


def test_debian_findings_match_by_source_in_the_release_namespace(e2e: E2EImage, full: dict) -> None:
    binaries = {p.name: p for p in e2e.of_type("deb")}
    found = findings_on(full, lambda v: v["PkgName"] in binaries)
    assert found
    for v in found:
        detail = v.get("MatchDetail") or {}
        pkg = binaries[v["PkgName"]]
        assert detail.get("Namespace", "").startswith("Debian:9"), detail
        assert detail.get("PackageName") == pkg.src_name, (v["PkgName"], detail)
        assert v["InstalledVersion"] == pkg.version
        if v.get("FixedVersion") and shutil.which("dpkg"):  # several DLAs may fix one CVE: "a, b"
            fixes = v["FixedVersion"].split(", ")
            assert all(dpkg_lt(pkg.src_version, f) for f in fixes), (v["VulnerabilityID"], v["FixedVersion"])


# ---- the exit-code matrix --------------------------------------------------------------------

SEVERITY_SETS = ("CRITICAL", "HIGH", "CRITICAL,HIGH", "LOW", "UNKNOWN")


@pytest.mark.parametrize("ignore_unfixed", [False, True], ids=["all", "ignore-unfixed"])
@pytest.mark.parametrize("shown", SEVERITY_SETS)
def test_exit_code_matrix(e2e: E2EImage, db_cache: Path, full: dict, shown: str, ignore_unfixed: bool) -> None:
    extra = ["--severity", shown, "--exit-code", "7"] + (["--ignore-unfixed"] if ignore_unfixed else [])
    run = scan(e2e, db_cache, *extra)
    want = [v for v in reported_vulns(full) if v["Severity"] in shown.split(",")
            and (v.get("FixedVersion") or not ignore_unfixed)]
    assert keyset(reported_vulns(run.report())) == keyset(want)
    assert run.returncode == (7 if want else 0)


def test_log4shell_alone_fails_a_critical_gate(e2e: E2EImage, db_cache: Path, full: dict, tmp_path: Path) -> None:
    """Everything but Log4Shell ignored: ``--severity CRITICAL --exit-code 1`` must still fail."""
    keep = {"CVE-2021-44228", "CVE-2021-45046"}
    others = {v["VulnerabilityID"] for v in reported_vulns(full) if not finding_ids(v) & keep}
    (tmp_path / ".layerscanignore").write_text("".join(f"{vid}\n" for vid in sorted(others)))
    run = scan(e2e, db_cache, "--severity", "CRITICAL", "--exit-code", "1", cwd=tmp_path)
    shown = {v["VulnerabilityID"] for v in reported_vulns(run.report())}
    assert shown == keep and run.returncode == 1


def test_fail_on_is_separate_from_what_is_shown(e2e: E2EImage, db_cache: Path, full: dict) -> None:
    run = scan(e2e, db_cache, "--severity", "LOW", "--fail-on", "CRITICAL", "--exit-code", "9")
    shown = reported_vulns(run.report())
    assert keyset(shown) == keyset([v for v in reported_vulns(full) if v["Severity"] == "LOW"])
    assert "CRITICAL" in severities(full) and run.returncode == 9


def test_openvex_not_affected_suppresses_log4shell(e2e: E2EImage, db_cache: Path, full: dict,
                                                   tmp_path: Path) -> None:
    log4j = e2e.find("maven", LOG4J)
    target = [v for v in reported_vulns(full) if v["PkgName"] == LOG4J and "CVE-2021-44228" in finding_ids(v)]
    assert len(target) == 1
    vex = {"@context": "https://openvex.dev/ns/v0.2.0", "@id": "https://example.com/vex/e2e-1",
           "author": "layerscan e2e", "timestamp": "2024-01-01T00:00:00Z", "version": 1,
           "statements": [{"vulnerability": {"name": "CVE-2021-44228"}, "products": [{"@id": log4j.purl}],
                           "status": "not_affected", "justification": "vulnerable_code_not_in_execute_path"}]}
    (tmp_path / "e2e.openvex.json").write_text(json.dumps(vex))
    report = scan(e2e, db_cache, "--vex", str(tmp_path / "e2e.openvex.json")).report()
    assert not keyset(reported_vulns(report)) & keyset(target)
    suppressed = [m for r in report["Results"] for m in r.get("ExperimentalModifiedFindings") or []]
    assert keyset([m["Finding"] for m in suppressed]) == keyset(target)
    assert suppressed[0]["Status"] == "not_affected"
    others = keyset(reported_vulns(full)) - keyset(target)
    assert keyset(reported_vulns(report)) == others


def debian_cycle(corpus: Path, cycle: str) -> dict:
    text = (corpus / "feeds" / "endoflife-date" / "products" / "debian.md").read_text()
    front = yaml.safe_load(text.split("---", 2)[1])
    return next(r for r in front["releases"] if str(r["releaseCycle"]) == cycle)


def test_exit_on_eol_for_debian9(corpus: Path, e2e: E2EImage, db_cache: Path) -> None:
    import datetime as dt

    cycle = debian_cycle(corpus, e2e.os_name.split(".")[0])
    ends = [d for d in (cycle.get("eol"), cycle.get("eoes")) if isinstance(d, dt.date)]
    if not ends or max(ends) >= dt.date.today():
        pytest.skip("Debian 9 is not past its end of life by the corpus data")
    run = scan(e2e, db_cache, "--exit-on-eol", "8", "--exit-code", "7")
    assert run.returncode == 8
    assert run.report()["Metadata"]["OS"].get("EOSL") is True


# ---- the same findings in the other formats -------------------------------------------------

def test_sarif_has_a_result_for_every_finding(e2e: E2EImage, db_cache: Path, full: dict) -> None:
    run = run_cli("image", "--input", str(e2e.archive), "-f", "sarif", "--cache-dir", str(db_cache), "--quiet")
    assert run.returncode == 0, run.stderr[-2000:]
    sarif = json.loads(run.stdout)
    assert sarif["version"] == "2.1.0"
    rules = {r["id"] for run_ in sarif["runs"] for r in run_["tool"]["driver"].get("rules") or []}
    results = {r["ruleId"] for run_ in sarif["runs"] for r in run_.get("results") or []}
    ids = {v["VulnerabilityID"] for v in reported_vulns(full)}
    assert ids == results and results <= rules


def test_cyclonedx_with_vulnerabilities(e2e: E2EImage, db_cache: Path, full: dict) -> None:
    run = run_cli("image", "--input", str(e2e.archive), "-f", "cyclonedx", "--scanners", "vuln",
                  "--cache-dir", str(db_cache), "--quiet")
    assert run.returncode == 0, run.stderr[-2000:]
    bom = json.loads(run.stdout)
    refs = {c["bom-ref"]: c.get("purl", "") for c in bom.get("components") or [] if "bom-ref" in c}
    affected = {(v["id"], refs.get(a["ref"], a["ref"])) for v in bom.get("vulnerabilities") or []
                for a in v.get("affects") or []}
    log4j = e2e.find("maven", LOG4J)
    assert {("CVE-2021-44228", log4j.purl), ("CVE-2021-45046", log4j.purl)} <= affected
    assert {v["id"] for v in bom.get("vulnerabilities") or []} == {v["VulnerabilityID"] for v in reported_vulns(full)}


def test_pypi_fixed_versions_are_releases_from_the_records(corpus: Path, e2e: E2EImage, full: dict) -> None:
    """FixedVersion lists ECOSYSTEM ``fixed`` events of the matching records, never a GIT commit."""
    for pkg in e2e.of_type("pypi"):
        records = pypa_records(corpus, pep503(pkg.name))
        for v in findings_on(full, lambda v, p=pkg: pep503(v["PkgName"]) == pep503(p.name)):
            fixes = {e["fixed"] for r in records if finding_ids(v) & record_ids(r)
                     for a in r.get("affected") or [] for rng in a.get("ranges") or []
                     if rng.get("type") == "ECOSYSTEM" for e in rng.get("events") or [] if "fixed" in e}
            listed = [f for f in v.get("FixedVersion", "").split(", ") if f]
            assert listed and set(listed) <= fixes, (pkg.name, v["VulnerabilityID"], listed, fixes)
            assert all(pep440_key(f) > pep440_key(pkg.version) for f in listed)
