"""Remediation commands through the real CLI: ``cves``, ``quickview`` and ``compare``/``diff``,
on images built here (tests/imagebuild.py) on a base made of the real Debian 9 dpkg status
from the corpus plus Python distributions, with ``ENV PYTHON_VERSION`` / ``NODE_VERSION``
as the official runtime images set them.

The database is ``layerscan db import`` of the corpus PyPA advisories and endoflife.date
data. Which findings a package has is read from the advisory records (their explicit
``versions`` lists, records sharing an alias counted once); end-of-life dates are read from
the endoflife.date product pages; nothing is typed here.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
import subprocess
from functools import cache
from pathlib import Path

import pytest
import yaml
from imagebuild import DPKG_STATUS_BASE, OS_RELEASE, LayerSpec, build_image, entries_from_directory, file

from test_cli_image import _stanzas
from test_cli_gating import PYPA_ZIP, _records, dist, expected_ids, pip_step
from test_cli_main import EXIT_USAGE, assert_one_error_line, run_cli

EOL_DIR = Path("feeds/endoflife-date")
DEBIAN9 = Path("fixtures/deb/real-debian9-stretch-image")
OS_RELEASE_9 = 'PRETTY_NAME="Debian GNU/Linux 9 (stretch)"\nNAME="Debian GNU/Linux"\nVERSION_ID="9"\nID=debian\n'
BASE_PKG = ("flask", "0.12")
APP_PKG = ("requests", "2.19.1")
ADDED_PKG = ("urllib3", "1.23")  # only in the B image of compare: introduced findings
ENV = ["PYTHON_VERSION=3.6.15", "NODE_VERSION=14.21.3"]
BASE_NAME = "docker.io/library/python:3.6-stretch"
BASE_DIGEST = "sha256:" + "5e" * 32
BASE_STEP = "/bin/sh -c #(nop) ADD file:1c0ffee0b5e0b5e0b5e0b5e0b5e0b5e0b5e0b5e0b5e0b5e0b5e0b5e0b5e0b5e0 in / "
BASE_CMD = '/bin/sh -c #(nop)  CMD ["python3"]'
EXIT = "7"


# ---- expectations from the data ------------------------------------------------------------

def finding_groups(corpus: Path, pkg: tuple[str, str]) -> list[set[str]]:
    """The package's findings as id sets: records whose ids/aliases overlap are one finding."""
    groups: list[set[str]] = []
    for ids in expected_ids(corpus, pkg):
        overlapping = [g for g in groups if g & ids]
        merged = set(ids).union(*overlapping)
        groups = [g for g in groups if not g & ids] + [merged]
    return groups


@cache
def eol_cycles(corpus: Path, product: str) -> dict[str, dict]:
    text = (corpus / EOL_DIR / "products" / f"{product}.md").read_text()
    front = yaml.safe_load(text.split("---", 2)[1])
    return {str(r["releaseCycle"]): r for r in front["releases"]}


def expected_eol(corpus: Path, product: str, cycle: str, extended: bool) -> tuple[bool, str]:
    """(is end of life today, the date it ended or ends) from the product page."""
    release = eol_cycles(corpus, product)[cycle]
    end = release.get("eoes") if extended and isinstance(release.get("eoes"), dt.date) else release["eol"]
    if isinstance(end, bool):
        return end, ""
    return end <= dt.date.today(), end.isoformat()


# ---- images ----------------------------------------------------------------------------------

def base_layer(corpus: Path) -> LayerSpec:
    entries = entries_from_directory(corpus / DEBIAN9)
    entries += [file("etc/os-release", OS_RELEASE_9), file("etc/debian_version", "9.12\n")] + dist(BASE_PKG)
    return LayerSpec(entries, created_by=BASE_STEP)


def app_image(corpus: Path, path: Path, own: list[tuple[str, str]], **kw) -> Path:
    layers = [base_layer(corpus)] + [LayerSpec(dist(pkg), created_by=pip_step(pkg)) for pkg in own]
    image = build_image(layers, empty_steps={1: [BASE_CMD], len(layers): ['CMD ["python3", "-m", "app"]']},
                        env=ENV, **kw)
    if path.suffix == ".tar":
        return image.write_docker_archive(path, "layerscan/remediate:1.0")
    return image.write_oci_dir(path, tag="1.0")


@pytest.fixture(scope="module")
def work(corpus: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    if not (corpus / DEBIAN9).is_dir():
        pytest.skip("corpus Debian 9 fixture is absent")
    for pkg in (BASE_PKG, APP_PKG, ADDED_PKG):
        assert expected_ids(corpus, pkg), f"the corpus has PyPA records naming {pkg}"
    work = tmp_path_factory.mktemp("remediate")
    proc = run_cli("db", "import", str(corpus / PYPA_ZIP), str(corpus / EOL_DIR), "-q", cwd=work)
    assert proc.returncode == 0, proc.stderr
    app_image(corpus, work / "app.tar", [APP_PKG])
    app_image(corpus, work / "next.tar", [APP_PKG, ADDED_PKG])
    app_image(corpus, work / "annotated", [APP_PKG],
              annotations={"org.opencontainers.image.base.name": BASE_NAME,
                           "org.opencontainers.image.base.digest": BASE_DIGEST})
    return work


def cli(work: Path, *args: str, code: int = 0) -> str:
    proc = run_cli(*args, cwd=work)
    assert proc.returncode == code, proc.stderr
    assert "Traceback" not in proc.stderr
    return proc.stdout


def cli_json(work: Path, *args: str, code: int = 0) -> dict:
    return json.loads(cli(work, *args, "-f", "json", code=code))


def assert_fits(text: str, width: int = 80) -> None:
    too_wide = [line for line in text.splitlines() if len(line) > width]
    assert not too_wide, too_wide


def vuln_ids(vulns: list[dict]) -> list[set[str]]:
    return [{v["VulnerabilityID"], *v["Aliases"]} for v in vulns]


def assert_same_findings(reported: list[set[str]], expected: list[set[str]]) -> None:
    assert len(reported) == len(expected), (reported, expected)
    for ids in expected:
        assert any(ids & r for r in reported), ids


# ---- cves -----------------------------------------------------------------------------------

def test_cves_groups_by_package_with_counts_from_the_feed(work: Path, corpus: Path):
    doc = cli_json(work, "cves", "--input", "app.tar")
    by_name = {p["PkgName"].lower(): p for p in doc["Packages"]}
    assert set(by_name) == {BASE_PKG[0], APP_PKG[0]}
    for pkg in (BASE_PKG, APP_PKG):
        group = by_name[pkg[0]]
        assert group["InstalledVersion"] == pkg[1]
        assert_same_findings(vuln_ids(group["Vulnerabilities"]), finding_groups(corpus, pkg))
        assert sum(group["Severities"].values()) == len(group["Vulnerabilities"])
    assert by_name[BASE_PKG[0]]["BaseLayer"] is True and by_name[APP_PKG[0]]["BaseLayer"] is False
    assert doc["BaseImage"]["Level"] == "heuristic" and doc["BaseImage"]["Layers"] == 1
    # the same findings as the scan itself
    scan = json.loads(cli(work, "image", "--input", "app.tar", "-f", "json"))
    scanned = sorted(v["VulnerabilityID"] for r in scan["Results"] for v in r.get("Vulnerabilities", []))
    assert scanned == sorted(v["VulnerabilityID"] for p in doc["Packages"] for v in p["Vulnerabilities"])


def test_cves_table_fits_80_columns(work: Path, corpus: Path):
    text = cli(work, "cves", "--input", "app.tar")
    assert_fits(text)
    total = sum(len(finding_groups(corpus, p)) for p in (BASE_PKG, APP_PKG))
    assert text.startswith(f"{total} vulnerabilities in 2 packages")
    assert f"{BASE_PKG[0]} {BASE_PKG[1]}  [base]" in text
    assert f"pkg:pypi/{APP_PKG[0]}@{APP_PKG[1]}" in text


@pytest.mark.parametrize("flag, kept", [("--only-base", {BASE_PKG[0]}), ("--ignore-base", {APP_PKG[0]})])
def test_cves_base_filters(work: Path, flag: str, kept: set[str]):
    doc = cli_json(work, "cves", "--input", "app.tar", flag)
    assert {p["PkgName"].lower() for p in doc["Packages"]} == kept


def test_cves_package_fixed_and_severity_filters(work: Path, corpus: Path):
    doc = cli_json(work, "cves", "--input", "app.tar", "--only-package", APP_PKG[0].upper())
    assert [p["PkgName"].lower() for p in doc["Packages"]] == [APP_PKG[0]]
    everything = cli_json(work, "cves", "--input", "app.tar")
    all_vulns = [v for p in everything["Packages"] for v in p["Vulnerabilities"]]
    fixed = cli_json(work, "cves", "--input", "app.tar", "--only-fixed")
    assert sum(len(p["Vulnerabilities"]) for p in fixed["Packages"]) == sum(1 for v in all_vulns if v["FixedVersion"])
    for severity in {v["Severity"] for v in all_vulns}:
        only = cli_json(work, "cves", "--input", "app.tar", "--only-severity", severity.lower())
        kept = [v for p in only["Packages"] for v in p["Vulnerabilities"]]
        assert kept and all(v["Severity"] == severity for v in kept)
        assert len(kept) == sum(1 for v in all_vulns if v["Severity"] == severity)


def test_cves_of_an_sbom_file(work: Path):
    cli(work, "image", "--input", "app.tar", "-f", "cyclonedx", "-o", "app.cdx.json")
    from_sbom = cli_json(work, "cves", "sbom://app.cdx.json")
    from_image = cli_json(work, "cves", "--input", "app.tar")
    assert [(p["PkgName"], len(p["Vulnerabilities"])) for p in from_sbom["Packages"]] == \
           [(p["PkgName"], len(p["Vulnerabilities"])) for p in from_image["Packages"]]


@pytest.mark.parametrize("args", [["--only-base", "--ignore-base"], ["--only-severity", "SEVERE"],
                                  ["-f", "sarif"], ["sbom://"], ["--build-arg", "NOEQUALS"]])
def test_cves_usage_errors(work: Path, args: list[str]):
    proc = run_cli("cves", "--input", "app.tar", *args, cwd=work)
    assert proc.returncode == EXIT_USAGE, proc.stderr
    assert_one_error_line(proc)


# ---- base image identification --------------------------------------------------------------

def test_declared_base_from_the_manifest_annotations(work: Path):
    doc = cli_json(work, "quickview", "--input", "annotated")
    base = doc["BaseImage"]
    assert base["Level"] == "declared" and base["Evidence"] == "manifest annotation"
    assert (base["Name"], base["Tag"], base["Digest"]) == ("python", "3.6-stretch", BASE_DIGEST)
    assert base["Layers"] == 1  # the history boundary still tells which layers are the base's


def test_dockerfile_base_with_args(work: Path):
    (work / "Dockerfile").write_text(
        "# syntax=docker/dockerfile:1\nARG PY=3.6\nARG FLAVOR\n"
        "FROM python:${PY}-slim AS build\nRUN pip wheel .\n\n"
        "FROM --platform=$BUILDPLATFORM python:${PY}-${FLAVOR:-stretch} \\\n  AS final\nCOPY --from=build /w /w\n")
    doc = cli_json(work, "quickview", "--input", "app.tar", "--dockerfile", "Dockerfile")
    base = doc["BaseImage"]
    assert (base["Level"], base["Name"], base["Tag"], base["Evidence"]) == \
           ("dockerfile", "python", "3.6-stretch", "Dockerfile line 7")
    doc = cli_json(work, "quickview", "--input", "app.tar", "--dockerfile", "Dockerfile",
                   "--build-arg", "PY=3.7", "--build-arg", "FLAVOR=slim")
    assert doc["BaseImage"]["Tag"] == "3.7-slim"


def test_missing_dockerfile_is_a_usage_error(work: Path):
    proc = run_cli("quickview", "--input", "app.tar", "--dockerfile", "nope/Dockerfile", cwd=work)
    assert proc.returncode == EXIT_USAGE
    assert_one_error_line(proc)


# ---- quickview and end of life ----------------------------------------------------------------

def test_quickview_counts_base_and_eol_from_data(work: Path, corpus: Path):
    doc = cli_json(work, "quickview", "--input", "app.tar")
    own, base = len(finding_groups(corpus, APP_PKG)), len(finding_groups(corpus, BASE_PKG))
    assert doc["Vulnerabilities"] == own + base
    assert sum(doc["BaseImage"]["Severities"].values()) == base
    eol = {(e["Kind"], e["Name"], e["Cycle"]): e for e in doc["EndOfLife"]}
    expectations = {("os", "debian", "9"): ("debian", True), ("runtime", "python", "3.6"): ("python", False),
                    ("runtime", "node", "14"): ("nodejs", False), ("runtime", "python", "3.5"): ("python", False),
                    ("runtime", "php", "7.0"): ("php", False)}
    for key, (product, extended) in expectations.items():
        assert key in eol, (key, sorted(eol))
        ended, date = expected_eol(corpus, product, key[2], extended)
        entry = eol[key]
        assert entry["State"] in (("eol",) if ended else ("supported", "extended")), entry
        assert date in (entry["EOL"], entry["ExtendedSupport"])
    assert "ENV PYTHON_VERSION=3.6.15" in eol[("runtime", "python", "3.6")]["Evidence"]
    assert any(e.startswith("deb python3.5 ") for e in eol[("runtime", "python", "3.5")]["Evidence"])
    assert doc["VulnerabilityDataIncomplete"] is expected_eol(corpus, "debian", "9", True)[0]
    assert doc["Recommended"]["Available"] is False


def test_quickview_screen_fits_80_columns(work: Path, corpus: Path):
    text = cli(work, "quickview", "--input", "annotated")
    assert_fits(text)
    assert "python:3.6-stretch" in text and "identified: declared (manifest annotation)" in text
    ended, date = expected_eol(corpus, "python", "3.6", False)
    assert f"python 3.6  {'EOL since' if ended else 'supported until'} {date}" in text
    assert "base-image index" in text
    if expected_eol(corpus, "debian", "9", True)[0]:
        assert "vulnerability data incomplete" in text


# ---- compare ----------------------------------------------------------------------------------

def test_compare_packages_and_findings(work: Path, corpus: Path):
    doc = cli_json(work, "compare", "app.tar", "next.tar")
    changes = {(p["Name"].lower(), p["Change"]) for p in doc["Packages"]}
    assert changes == {(ADDED_PKG[0], "added")}
    assert_same_findings(vuln_ids(doc["Introduced"]), finding_groups(corpus, ADDED_PKG))
    assert doc["Fixed"] == []
    unchanged = sum(len(finding_groups(corpus, p)) for p in (BASE_PKG, APP_PKG))
    assert len(doc["Unchanged"]) == unchanged
    back = cli_json(work, "diff", "next.tar", "app.tar")  # the alias, the other way round
    assert {(p["Name"].lower(), p["Change"]) for p in back["Packages"]} == {(ADDED_PKG[0], "removed")}
    assert len(back["Fixed"]) == len(doc["Introduced"]) and back["Introduced"] == []


def test_compare_exit_code_on_introduced_only(work: Path):
    text = cli(work, "compare", "app.tar", "next.tar", "--exit-code", EXIT, code=int(EXIT))
    assert_fits(text)
    assert "+ urllib3 1.23" in text
    cli(work, "compare", "next.tar", "app.tar", "--exit-code", EXIT, code=0)
    cli(work, "compare", "app.tar", "app.tar", "--exit-code", EXIT, code=0)


def test_compare_upgrade(work: Path, corpus: Path, tmp_path: Path):
    newer = ("requests", "2.20.0")
    app_image(corpus, work / "upgraded.tar", [newer])
    doc = cli_json(work, "compare", "app.tar", "upgraded.tar")
    assert [(p["Name"], p["Before"], p["After"], p["Change"]) for p in doc["Packages"]] == \
           [("requests", [APP_PKG[1]], [newer[1]], "upgraded")]
    old_ids, new_ids = finding_groups(corpus, APP_PKG), finding_groups(corpus, newer)
    fixed = [g for g in old_ids if not any(g & n for n in new_ids)]
    assert_same_findings(vuln_ids(doc["Fixed"]), fixed)


def test_compare_missing_image_is_an_error(work: Path):
    proc = run_cli("compare", "app.tar", cwd=work)
    assert proc.returncode == EXIT_USAGE
    proc = run_cli("compare", "app.tar", "does-not-exist.tar", cwd=work)
    assert proc.returncode != 0 and "Traceback" not in proc.stderr


def _installed(status: str) -> dict[str, str]:
    """package -> version of the installed entries of a dpkg status file."""
    return {name: fields["Version"] for name, fields in _stanzas(status).items()
            if fields.get("Status", "").endswith(" installed")}


def _dpkg_order(a: str, b: str) -> str:
    """"upgraded"/"downgraded" from a to b, as dpkg itself orders the versions."""
    proc = subprocess.run(["dpkg", "--compare-versions", a, "lt", b], capture_output=True)
    return "upgraded" if proc.returncode == 0 else "downgraded"


def test_compare_os_packages_across_debian_releases(work: Path, corpus: Path):
    if shutil.which("dpkg") is None:
        pytest.skip("dpkg is not installed")
    bookworm = [file("etc/os-release", OS_RELEASE), file("etc/debian_version", "12.4\n"),
                file("var/lib/dpkg/status", DPKG_STATUS_BASE)] + dist(BASE_PKG)
    layers = [LayerSpec(bookworm, created_by=BASE_STEP), LayerSpec(dist(APP_PKG), created_by=pip_step(APP_PKG))]
    build_image(layers, empty_steps={1: [BASE_CMD]}).write_docker_archive(work / "bookworm.tar", "app:12")
    old = _installed((corpus / DEBIAN9 / "var/lib/dpkg/status").read_text(errors="replace"))
    new = _installed(DPKG_STATUS_BASE)
    expected = {(n, "removed") for n in old.keys() - new.keys()} | {(n, "added") for n in new.keys() - old.keys()}
    expected |= {(n, _dpkg_order(old[n], new[n])) for n in old.keys() & new.keys() if old[n] != new[n]}
    doc = cli_json(work, "compare", "app.tar", "bookworm.tar")
    assert {(p["Name"], p["Change"]) for p in doc["Packages"] if p["Type"] == "deb"} == expected
    assert ("libc6", "upgraded") in expected  # the data has an upgrade in it, not only adds/removes
    assert not [p for p in doc["Packages"] if p["Type"] != "deb"]  # the Python packages are the same
    quick = cli_json(work, "quickview", "--input", "bookworm.tar")
    debian = [e for e in quick["EndOfLife"] if e["Kind"] == "os"]
    ended, date = expected_eol(corpus, "debian", "12", True)
    assert debian and debian[0]["Cycle"] == "12"
    assert (debian[0]["State"] == "eol") is ended and date in (debian[0]["EOL"], debian[0]["ExtendedSupport"])


def test_hostile_annotation_and_history(work: Path, corpus: Path):
    app_image(corpus, work / "hostile", [APP_PKG],
              annotations={"org.opencontainers.image.base.name": "\x1b[2J\x1b]0;pwned\x07EVIL:" + "x" * 300,
                           "org.opencontainers.image.base.digest": "sha256:\u202enot-a-digest"})
    proc = run_cli("quickview", "--input", "hostile", cwd=work)
    assert proc.returncode == 0, proc.stderr
    assert "\x1b" not in proc.stdout and "\u202e" not in proc.stdout and "\x07" not in proc.stdout
    assert "does not parse" in proc.stderr and "Traceback" not in proc.stderr
    assert_fits(proc.stdout)
    doc = cli_json(work, "quickview", "--input", "hostile")
    assert doc["BaseImage"]["Level"] == "declared" and doc["BaseImage"]["Warnings"]


def test_base_filters_need_known_base_layers(work: Path):
    layers = [LayerSpec(dist(APP_PKG), created_by="COPY . /app # buildkit")]  # no base step in the history
    build_image(layers).write_docker_archive(work / "nobase.tar", "nobase:1")
    proc = run_cli("cves", "--input", "nobase.tar", "--only-base", cwd=work)
    assert proc.returncode == 3
    assert_one_error_line(proc)
    assert "--exclude-base-layers N" in proc.stderr
    doc = cli_json(work, "cves", "--input", "nobase.tar", "--ignore-base", "--exclude-base-layers", "0")
    assert doc["BaseImage"]["Level"] == "none"


def test_registry_image_declared_base_and_compare_with_an_archive(work: Path, corpus: Path, registry):
    layers = [base_layer(corpus), LayerSpec(dist(APP_PKG), created_by=pip_step(APP_PKG))]
    image = build_image(layers, empty_steps={1: [BASE_CMD]}, env=ENV,
                        annotations={"org.opencontainers.image.base.name": BASE_NAME})
    ref = image.push(registry.host, "team/remediate", "1.0")
    doc = cli_json(work, "quickview", ref, "--insecure")
    base = doc["BaseImage"]
    assert (base["Level"], base["Evidence"], base["Name"], base["Tag"]) == \
           ("declared", "manifest annotation", "python", "3.6-stretch")
    assert doc["ImageID"] == image.config_digest
    # a registry image against a local archive: same packages, same findings
    cmp = cli_json(work, "compare", ref, "app.tar", "--insecure")
    assert cmp["Packages"] == [] and cmp["Introduced"] == [] and cmp["Fixed"] == []
    assert len(cmp["Unchanged"]) == sum(len(finding_groups(corpus, p)) for p in (BASE_PKG, APP_PKG))


def test_exit_on_eol_covers_runtimes(work: Path, corpus: Path):
    """--exit-on-eol fails a scan whose runtime (here ENV NODE_VERSION) is end of life by the
    imported endoflife.date data, on an OS that is not; without a runtime it does not."""
    os_ended = expected_eol(corpus, "debian", "12", True)[0]
    node_ended, node_date = expected_eol(corpus, "nodejs", "14", False)
    assert node_ended, "the corpus endoflife.date data ends node 14"
    bookworm = [file("etc/os-release", OS_RELEASE), file("etc/debian_version", "12.4\n"),
                file("var/lib/dpkg/status", DPKG_STATUS_BASE)]
    for name, env in (("node14.tar", ["NODE_VERSION=14.21.3"]), ("plain12.tar", [])):
        build_image([LayerSpec(bookworm, created_by=BASE_STEP)], env=env).write_docker_archive(work / name, "x:1")
    gated = run_cli("image", "--input", "node14.tar", "--exit-on-eol", "7", "-q", "-f", "json", cwd=work)
    assert gated.returncode == 7, gated.stderr
    assert "Traceback" not in gated.stderr
    plain = run_cli("image", "--input", "plain12.tar", "--exit-on-eol", "7", "-f", "json", cwd=work)
    assert plain.returncode == (7 if os_ended else 0), plain.stderr
    warned = run_cli("image", "--input", "node14.tar", "--exit-on-eol", "7", "-f", "json", cwd=work)
    assert f"node 14.21.3 is end-of-life since {node_date}" in warned.stderr
    assert "ENV NODE_VERSION=14.21.3" in warned.stderr
    ungated = run_cli("image", "--input", "node14.tar", "-f", "json", cwd=work)
    assert ungated.returncode == 0 and "node 14.21.3" not in ungated.stderr
