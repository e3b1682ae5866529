"""The whole CLI path with a real database: `layerscan db import` of the corpus
PyPI advisories, then `layerscan sbom` on our fixed SBOM (flask 0.12, requests
2.19.1). Expected vulnerabilities come from the advisory records themselves:
a record applies when its explicit ``versions`` list names the installed version.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest
import yaml

from fixtures.report.sample import HERE as REPORT_FIXTURES, SBOM
from test_cli_main import EXIT_RUNTIME, assert_one_error_line, run_cli

PYPA_ZIP = Path("feeds/osv-pypi-pypa/pypa-advisory-database-vulns.zip")
SBOM_FILE = str(REPORT_FIXTURES / "golden.cdx.json")


@pytest.fixture(scope="module")
def workdir(corpus: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    work = tmp_path_factory.mktemp("cli-db")
    proc = run_cli("db", "import", str(corpus / PYPA_ZIP), "-q", cwd=work)
    if proc.returncode != 0:
        pytest.fail(f"db import failed: {proc.stderr}")
    return work


def expected_records(corpus: Path) -> dict[str, set[str]]:
    """package name -> ids (record id + aliases) of records listing the SBOM's version."""
    versions = {p.name.lower(): p.version for p in SBOM.packages if p.type == "pypi"}
    out: dict[str, set[str]] = {}
    with zipfile.ZipFile(corpus / PYPA_ZIP) as zf:
        for name in zf.namelist():
            parts = name.split("/")
            if len(parts) != 3 or parts[1] not in versions or not name.endswith(".yaml"):
                continue
            record = yaml.safe_load(zf.read(name))
            if record.get("withdrawn"):
                continue
            for affected in record.get("affected", []):
                if versions[parts[1]] in affected.get("versions", []):
                    out.setdefault(record["id"], set()).update([record["id"], *record.get("aliases", [])])
    return out


def _json(proc) -> dict:
    assert proc.returncode in (0, 1), proc.stderr
    return json.loads(proc.stdout)


def _reported_ids(doc: dict) -> list[set[str]]:
    return [{v["VulnerabilityID"], *v.get("Aliases", [])}
            for r in doc["Results"] for v in r.get("Vulnerabilities", [])]


def test_findings_match_the_advisory_records(workdir: Path, corpus: Path):
    expected = expected_records(corpus)
    assert expected, "corpus has PyPI records naming flask 0.12 / requests 2.19.1"
    doc = _json(run_cli("sbom", SBOM_FILE, "-f", "json", cwd=workdir))
    assert doc["Layerscan"]["VulnerabilitiesScanned"] is True
    reported = _reported_ids(doc)
    for record_id, ids in expected.items():
        assert any(ids & r for r in reported), f"{record_id} not reported"
    for v in (v for r in doc["Results"] for v in r.get("Vulnerabilities", [])):
        assert v["PkgName"].lower() in ("flask", "requests")
        assert v["MatchDetail"]["Namespace"] == "PyPI"


def test_exit_code_on_findings_and_severity_filter(workdir: Path):
    assert run_cli("sbom", SBOM_FILE, "--exit-code", "5", "-q", cwd=workdir).returncode == 5
    # nothing at CRITICAL is shown, so nothing fails
    doc = _json(run_cli("sbom", SBOM_FILE, "-f", "json", "-s", "CRITICAL", cwd=workdir))
    shown = [v["Severity"] for r in doc["Results"] for v in r.get("Vulnerabilities", [])]
    assert all(s == "CRITICAL" for s in shown)
    if not shown:
        assert run_cli("sbom", SBOM_FILE, "-s", "CRITICAL", "--exit-code", "5", "-q", cwd=workdir).returncode == 0


def test_fail_on_is_separate_from_what_is_shown(workdir: Path):
    doc = _json(run_cli("sbom", SBOM_FILE, "-f", "json", cwd=workdir))
    severities = {v["Severity"] for r in doc["Results"] for v in r.get("Vulnerabilities", [])}
    assert severities
    some = sorted(severities)[0]
    proc = run_cli("sbom", SBOM_FILE, "-s", "CRITICAL" if some != "CRITICAL" else "LOW",
                   "--fail-on", some, "--exit-code", "4", "-q", cwd=workdir)
    assert proc.returncode == 4


def test_ignorefile_suppresses_and_lists(workdir: Path):
    doc = _json(run_cli("sbom", SBOM_FILE, "-f", "json", cwd=workdir))
    ids = sorted({v["VulnerabilityID"] for r in doc["Results"] for v in r.get("Vulnerabilities", [])})
    (workdir / "accept.yaml").write_text(yaml.safe_dump(
        [{"id": i, "reason": "accepted for the test", "expires": "2999-01-01"} for i in ids]))
    proc = run_cli("sbom", SBOM_FILE, "-f", "json", "--ignorefile", "accept.yaml", "--exit-code", "1", cwd=workdir)
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert not [v for r in doc["Results"] for v in r.get("Vulnerabilities", [])]
    modified = [m for r in doc["Results"] for m in r.get("ExperimentalModifiedFindings", [])]
    assert sorted({m["Finding"]["VulnerabilityID"] for m in modified}) == ids
    assert all(m["Status"] == "ignored" for m in modified)


def test_expired_ignore_entry_stops_suppressing(workdir: Path):
    doc = _json(run_cli("sbom", SBOM_FILE, "-f", "json", cwd=workdir))
    first = sorted({v["VulnerabilityID"] for r in doc["Results"] for v in r.get("Vulnerabilities", [])})[0]
    (workdir / "expired.yaml").write_text(yaml.safe_dump([{"id": first, "expires": "2000-01-01"}]))
    proc = run_cli("sbom", SBOM_FILE, "-f", "json", "--ignorefile", "expired.yaml", cwd=workdir)
    doc = json.loads(proc.stdout)
    assert first in {v["VulnerabilityID"] for r in doc["Results"] for v in r.get("Vulnerabilities", [])}
    assert "expired" in proc.stderr
    assert doc["Layerscan"]["Policy"]["ExpiredIgnores"]


def test_vex_not_affected_becomes_cyclonedx_analysis(workdir: Path):
    doc = _json(run_cli("sbom", SBOM_FILE, "-f", "json", cwd=workdir))
    vuln = next(v for r in doc["Results"] for v in r.get("Vulnerabilities", []) if v["PkgName"].lower() == "flask")
    (workdir / "vex.json").write_text(json.dumps({
        "@context": "https://openvex.dev/ns/v0.2.0", "@id": "https://example.com/vex/1", "author": "test",
        "timestamp": "2026-01-01T00:00:00Z", "version": 1,
        "statements": [{"vulnerability": {"name": vuln["VulnerabilityID"]},
                        "products": [{"@id": vuln["PkgIdentifier"]["PURL"]}], "status": "not_affected",
                        "justification": "vulnerable_code_not_in_execute_path"}]}))
    proc = run_cli("sbom", SBOM_FILE, "-f", "cyclonedx", "--scanners", "vuln", "--vex", "vex.json", cwd=workdir)
    assert proc.returncode == 0, proc.stderr
    bom = json.loads(proc.stdout)
    entry = next(v for v in bom["vulnerabilities"] if v["id"] == vuln["VulnerabilityID"])
    assert entry["analysis"]["state"] == "not_affected"
    assert entry["analysis"]["justification"] == "code_not_reachable"


def test_sarif_from_a_real_scan(workdir: Path):
    proc = run_cli("sbom", SBOM_FILE, "-f", "sarif", cwd=workdir)
    assert proc.returncode == 0, proc.stderr
    log = json.loads(proc.stdout)
    run = log["runs"][0]
    assert run["results"] and len(run["tool"]["driver"]["rules"]) <= len(run["results"])


def test_scanners_vuln_without_database_is_an_error(tmp_path: Path):
    proc = run_cli("sbom", SBOM_FILE, "--scanners", "vuln", cwd=tmp_path)
    assert proc.returncode == EXIT_RUNTIME
    assert_one_error_line(proc)


def _eol_dates(corpus: Path, product: str, cycle: str) -> str:
    """The eol date (or boolean) of one cycle, read from the endoflife.date product page."""
    text = (corpus / "feeds/endoflife-date/products" / f"{product}.md").read_text()
    front = yaml.safe_load(text.split("---")[1])
    for release in front["releases"]:
        if str(release["releaseCycle"]) == cycle:
            return str(release.get("eoes") or release["eol"])
    raise AssertionError(f"{product} {cycle} not in the corpus")


def test_exit_on_eol(corpus: Path, tmp_path: Path):
    import datetime as dt
    import io
    from dataclasses import replace

    from layerscan.model import OSInfo
    from layerscan.report import cyclonedx
    from layerscan.report.document import build_report

    eol = _eol_dates(corpus, "debian", "9")
    assert eol == "True" or eol[:10] < dt.date.today().isoformat(), "Debian 9 is end-of-life in the data"
    old = replace(SBOM, os=OSInfo(family="debian", name="9.13"))
    buf = io.StringIO()
    cyclonedx.write(build_report(old, created_at="2026-01-01T00:00:00Z"), buf)
    (tmp_path / "old.cdx.json").write_text(buf.getvalue())
    proc = run_cli("db", "import", str(corpus / "feeds/endoflife-date"), "-q", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    proc = run_cli("sbom", "old.cdx.json", "-f", "json", "--exit-on-eol", "7", "--exit-code", "1", cwd=tmp_path)
    assert proc.returncode == 7, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["Metadata"]["OS"]["EOSL"] is True
    # the same SBOM with a supported release passes
    assert run_cli("sbom", SBOM_FILE, "--exit-on-eol", "7", "-q", cwd=tmp_path).returncode == 0


def _records_for(corpus: Path, package: str) -> dict[str, list[str]]:
    """record id -> affected versions listed for ``package``."""
    out: dict[str, list[str]] = {}
    with zipfile.ZipFile(corpus / PYPA_ZIP) as zf:
        for name in zf.namelist():
            if name.startswith(f"vulns/{package}/") and name.endswith(".yaml"):
                record = yaml.safe_load(zf.read(name))
                out[record["id"]] = [v for a in record.get("affected", []) for v in a.get("versions", [])]
    return out


def test_explain_says_why_and_why_not(workdir: Path, corpus: Path):
    installed = next(p.version for p in SBOM.packages if p.name == "requests")
    records = _records_for(corpus, "requests")
    hit = next(rid for rid, versions in sorted(records.items()) if installed in versions)
    miss = next(rid for rid, versions in sorted(records.items()) if versions and installed not in versions)
    for rid, affected in ((hit, True), (miss, False)):
        proc = run_cli("explain", rid, "--sbom", SBOM_FILE, "-f", "json", cwd=workdir)
        assert proc.returncode == 0, proc.stderr
        doc = json.loads(proc.stdout)
        rows = [e for e in doc["Explanations"] if e["PkgName"].lower() == "requests"]
        assert rows and all(e["Affected"] is affected for e in rows), (rid, rows)
        assert all(e["Reason"] for e in rows)
    text = run_cli("explain", hit, "--sbom", SBOM_FILE, cwd=workdir)
    assert "AFFECTED" in text.stdout


def test_explain_usage_errors(workdir: Path):
    assert run_cli("explain", cwd=workdir).returncode == 2
    proc = run_cli("explain", "CVE-1", "--sbom", SBOM_FILE, "--rootfs", ".", cwd=workdir)
    assert proc.returncode == 2
    assert_one_error_line(proc)


def test_cyclonedx_with_real_findings_validates(workdir: Path):
    from test_report_schema import _cdx_validator, _errors

    proc = run_cli("sbom", SBOM_FILE, "-f", "cyclonedx", "--scanners", "vuln", cwd=workdir)
    assert proc.returncode == 0, proc.stderr
    bom = json.loads(proc.stdout)
    assert bom["vulnerabilities"]
    assert _errors(_cdx_validator(), bom) == []


# ---- GitHub advisories + KEV: severities, CVSS, KEV flags through every format ----------------

INSTALLED = {("Maven", "org.apache.logging.log4j:log4j-core"): "2.14.1",
             ("npm", "lodash"): "4.17.15", ("npm", "minimist"): "1.2.5"}


def _numeric(version: str) -> tuple[int, ...]:
    return tuple(int(x) for x in version.split("."))


def _ghsa_expected(corpus: Path) -> dict[str, dict]:
    """GHSA id -> record, for records whose ranges contain an installed version (numeric versions only)."""
    out = {}
    for path in sorted((corpus / "feeds/osv-ghsa-curated").glob("GHSA-*.json")):
        record = json.loads(path.read_text())
        for affected in record["affected"]:
            key = (affected["package"]["ecosystem"], affected["package"]["name"])
            if key not in INSTALLED:
                continue
            v = _numeric(INSTALLED[key])
            for rng in affected.get("ranges", []):
                events = {k: val for e in rng["events"] for k, val in e.items()}
                if _numeric(events.get("introduced", "0")) <= v < _numeric(events.get("fixed", "999999")):
                    out[record["id"]] = record
    return out


@pytest.fixture(scope="module")
def rich_workdir(corpus: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    import io

    from layerscan.model import Package, Sbom
    from layerscan.report import cyclonedx
    from layerscan.report.document import build_report

    work = tmp_path_factory.mktemp("cli-ghsa")
    proc = run_cli("db", "import", str(corpus / "feeds/osv-ghsa-curated"), str(corpus / "feeds/cisa-kev"), "-q",
                   cwd=work)
    assert proc.returncode == 0, proc.stderr
    log4j = Package("log4j-core", INSTALLED[("Maven", "org.apache.logging.log4j:log4j-core")], "maven",
                    purl="pkg:maven/org.apache.logging.log4j/log4j-core@2.14.1", file_path="app/app.jar")
    lodash = Package("lodash", INSTALLED[("npm", "lodash")], "npm", purl="pkg:npm/lodash@4.17.15",
                     file_path="app/node_modules/lodash/package.json")
    minimist = Package("minimist", INSTALLED[("npm", "minimist")], "npm", purl="pkg:npm/minimist@1.2.5",
                       file_path="app/node_modules/minimist/package.json")
    buf = io.StringIO()
    cyclonedx.write(build_report(Sbom("app", "container_image", packages=(log4j, lodash, minimist)),
                                 created_at="2026-01-01T00:00:00Z"), buf)
    (work / "app.cdx.json").write_text(buf.getvalue())
    return work


def test_ghsa_findings_severity_cvss_and_kev(rich_workdir: Path, corpus: Path):
    expected = _ghsa_expected(corpus)
    assert len(expected) >= 3
    kev = {v["cveID"] for v in json.loads(
        (corpus / "feeds/cisa-kev/known_exploited_vulnerabilities.json").read_text())["vulnerabilities"]}
    proc = run_cli("sbom", "app.cdx.json", "-f", "json", cwd=rich_workdir)
    assert proc.returncode == 0, proc.stderr
    vulns = [v for r in json.loads(proc.stdout)["Results"] for v in r.get("Vulnerabilities", [])]
    for ghsa, record in expected.items():
        ids = {ghsa, *record.get("aliases", [])}
        found = [v for v in vulns if ids & {v["VulnerabilityID"], *v.get("Aliases", [])}]
        assert found, ghsa
        for v in found:
            assert v["Severity"] == record["database_specific"]["severity"], ghsa
            vectors = {c.get("V3Vector") for c in v.get("CVSS", {}).values()}
            assert {s["score"] for s in record["severity"] if s["type"] == "CVSS_V3"} <= vectors, ghsa
            assert v.get("KEV", False) == bool(ids & kev), ghsa


def test_ghsa_gate_and_formats_validate(rich_workdir: Path):
    from test_report_schema import _cdx_validator, _errors

    assert run_cli("sbom", "app.cdx.json", "-s", "CRITICAL", "--exit-code", "9", "-q",
                   cwd=rich_workdir).returncode == 9
    bom = json.loads(run_cli("sbom", "app.cdx.json", "-f", "cyclonedx", "--scanners", "vuln",
                             cwd=rich_workdir).stdout)
    assert _errors(_cdx_validator(), bom) == []
    assert any(r.get("method") in ("CVSSv3", "CVSSv31") for v in bom["vulnerabilities"] for r in v["ratings"])
    log = json.loads(run_cli("sbom", "app.cdx.json", "-f", "sarif", cwd=rich_workdir).stdout)
    levels = {r["level"] for r in log["runs"][0]["results"]}
    assert "error" in levels
    for rule in log["runs"][0]["tool"]["driver"]["rules"]:
        assert float(rule["properties"]["security-severity"]) >= 7.0  # HIGH/CRITICAL records only
