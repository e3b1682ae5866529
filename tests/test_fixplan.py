"""The fix plan (``remediate.fixplan``, ``--fix-plan``, ``FixPlan`` in JSON, ``-f copa``).

Unit tests choose targets from the real advisory rows of the corpus database (GitHub's
Log4Shell records, PyPA's requests records, Debian's DLA list for stretch); the expected
target is computed here from the records themselves: each record's fix for the installed
version's branch, the highest of the issues wanted, then moved up while a record still
affects it.

The end-to-end test builds an image from the recipe in tests/fixtures/fixplan/Dockerfile:
the real Debian 9 dpkg status (the openssl binaries added by the recipe's apt-get layer), a
pip layer with requests, and a COPY layer; the database is ``layerscan db import`` of the
PyPA advisories and the Debian DSA/DLA lists.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from dataclasses import replace
from functools import cmp_to_key
from pathlib import Path

import pytest
from imagebuild import LayerSpec, build_image, entries_from_directory, file

from conftest_paths import ROOT
from test_cli_gating import PYPA_ZIP, dist
from test_cli_image import _stanzas
from test_cli_main import run_cli
from test_e2e_vulns import debian_advisories, ghsa_records, pep440_key, pypa_records
from test_remediate_cli import DEBIAN9, OS_RELEASE_9, assert_fits

from layerscan.db.store import Store
from layerscan.model import Package, Sbom
from layerscan.model.image import ImageMeta, LayerInfo
from layerscan.remediate.base import BaseImage
from layerscan.remediate.fixplan import build_plan
from layerscan.remediate.fixtarget import choose_target, fix_candidates, own_rows
from layerscan.versions import get_scheme

FIXTURE = ROOT / "tests" / "fixtures" / "fixplan"
LOG4J = "org.apache.logging.log4j:log4j-core"
DEBIAN_LISTS = Path("feeds/debian-security-tracker")
OPENSSL_BINARIES = ("libssl-dev", "libssl1.1", "openssl")  # the Debian 9 status's binaries of source openssl
APP = ("requests", "2.19.1")
BASE_STEP = f"/bin/sh -c #(nop) ADD file:{'cd' * 32} in / "
BOGUS = ("urllib3", "1.2.3.4.5-bogus+++")  # hostile: a version PEP 440 cannot read, in the pip layer


# ---- expectations from the records ---------------------------------------------------------------

def osv_branch_fix(record: dict, ecosystem: str, name: str, version: str, key) -> object | None:
    """None when the record does not affect ``version``; else the fix ending its interval ("" if none)."""
    for affected in record.get("affected", []):
        pkg = affected.get("package", {})
        if pkg.get("ecosystem") != ecosystem or pkg.get("name", "").lower() != name.lower():
            continue
        for rng in affected.get("ranges", []):
            if rng.get("type") == "GIT":
                continue
            start, hit = None, None
            for event in rng["events"]:
                if "introduced" in event:
                    start = event["introduced"]
                elif "fixed" in event and start is not None:
                    low = start == "0" or key(start) <= key(version)
                    if low and key(version) < key(event["fixed"]):
                        hit = event["fixed"]
                    start = None
            if start is not None and (start == "0" or key(start) <= key(version)):
                hit = hit or ""
            if hit is not None:
                return hit
        if version in affected.get("versions", []):
            return ""
    return None


def expected_target(records: list[tuple[str, object]], wanted: set[str], version: str, key) -> str:
    """``records``: (issue id, branch_fix(version) -> fix | "" | None). The highest wanted fix,
    then moved up while any record still affects it with a fix above it."""
    fixes = [f for issue, fix_of in records if issue in wanted and (f := fix_of(version))]
    target = max(fixes, key=key)
    while True:
        ups = [f for _, fix_of in records if (f := fix_of(target)) and key(f) > key(target)]
        if not ups:
            return target
        target = max(ups, key=key)


def ghsa_specs(corpus: Path, name: str, key) -> list[tuple[str, object]]:
    out = []
    for record in ghsa_records(corpus):
        if not any(a["package"]["ecosystem"] == "Maven" and a["package"]["name"] == name for a in record["affected"]):
            continue
        cve = next(a for a in record["aliases"] if a.startswith("CVE-"))
        out.append((cve, lambda v, r=record: osv_branch_fix(r, "Maven", name, v, key)))
    return out


def maven_key(version: str) -> tuple:
    return tuple(int(p) if p.isdigit() else -1 for p in re.split(r"[.-]", version))


def dpkg_key():
    if not shutil.which("dpkg"):
        pytest.skip("dpkg is not installed (Debian version order)")

    def compare(a: str, b: str) -> int:
        if a == b:
            return 0
        lt = subprocess.run(["dpkg", "--compare-versions", a, "lt", b], check=False).returncode == 0
        return -1 if lt else 1
    return cmp_to_key(compare)


# ---- unit: targets from real rows ----------------------------------------------------------------

@pytest.fixture(scope="module")
def store(corpus_db: Path):
    with Store.open(corpus_db) as opened:
        yield opened


def rows(store: Store, namespace: str, name: str) -> list:
    return own_rows(store.affected(namespace, name), namespace)


def test_target_still_affected_by_another_advisory_moves_up(store: Store, corpus: Path):
    """Only Log4Shell wanted: its fix for 2.14.1 (2.15.0) is still affected by CVE-2021-45046."""
    specs = ghsa_specs(corpus, LOG4J, maven_key)
    wanted = {"CVE-2021-44228"}
    first = max((f for i, fix in specs if i in wanted and (f := fix("2.14.1"))), key=maven_key)
    expected = expected_target(specs, wanted, "2.14.1", maven_key)
    assert maven_key(expected) > maven_key(first), "the records make the first fix still vulnerable"
    target = choose_target("2.14.1", rows(store, "Maven", LOG4J), get_scheme("Maven"), wanted)
    assert target.version == expected
    assert target.moved_up and target.moved_up[0].startswith(f"CVE-2021-45046 still affects {first} ")
    assert "CVE-2021-44228" in target.fixes


def test_target_stays_in_the_installed_range_branch(store: Store, corpus: Path):
    specs = ghsa_specs(corpus, LOG4J, maven_key)
    ids = {i for i, _ in specs}
    for version in ("2.12.1", "2.14.1"):
        expected = expected_target(specs, ids, version, maven_key)
        target = choose_target(version, rows(store, "Maven", LOG4J), get_scheme("Maven"), ids)
        assert target.version == expected, version
        assert set(target.fixes) == ids and not target.unfixed
    assert choose_target("2.12.1", rows(store, "Maven", LOG4J), get_scheme("Maven")).version.startswith("2.12.")


def test_pypi_target_clears_every_record(store: Store, corpus: Path):
    name, version = APP
    specs = [(next((a for a in r.get("aliases", []) if a.startswith("CVE-")), r["id"]),
              lambda v, r=r: osv_branch_fix(r, "PyPI", name, v, pep440_key)) for r in pypa_records(corpus, name)]
    affecting = {i for i, fix in specs if fix(version) is not None}
    assert len(affecting) >= 2, "requests 2.19.1 has several PyPA advisories"
    target = choose_target(version, rows(store, "PyPI", name), get_scheme("PyPI"))
    assert target.version == expected_target(specs, affecting, version, pep440_key)
    assert set(target.fixes) == affecting
    assert all(fix(target.version) is None for _, fix in specs), "nothing in the records affects the target"
    for issue in affecting:  # one issue wanted (say, the only one a --severity filter shows): same rule
        only = choose_target(version, rows(store, "PyPI", name), get_scheme("PyPI"), {issue})
        assert only.version == expected_target(specs, {issue}, version, pep440_key)


def test_alias_group_takes_the_highest_of_its_records(store: Store, corpus: Path):
    """Two DLAs name CVE-2022-23852 for expat in stretch (an update and its regression fix): one
    issue, fixed by the later of the two."""
    key = dpkg_key()
    fixes = sorted({a.fixed for a in debian_advisories(corpus, "stretch")
                    if a.package == "expat" and "CVE-2022-23852" in a.cves}, key=key)
    assert len(fixes) >= 2, "the DLA list has two fixes of CVE-2022-23852 for expat"
    expat_rows = [r for r in rows(store, "Debian:9", "expat") if r.primary_id == "CVE-2022-23852"]
    assert len(expat_rows) == len(fixes)
    target = choose_target("2.2.0-2+deb9u3", expat_rows, get_scheme("Debian:9"))
    assert target.version == fixes[-1]
    assert target.fixes == ("CVE-2022-23852",)


def eol_advisories(corpus: Path, release: str, package: str) -> set[str]:
    """DSA/DLA ids whose entry says ``[release] - package <end-of-life>``."""
    import gzip

    out, current = set(), ""
    for rel in ("DSA/list.gz", "DLA/list.gz"):
        text = gzip.decompress((corpus / DEBIAN_LISTS / "data" / rel).read_bytes()).decode("utf-8", "replace")
        for line in text.splitlines():
            if m := re.match(r"^\[[^\]]+\] (D[SL]A-\d+(?:-\d+)?) ", line):
                current = m.group(1)
            elif line.strip() == f"[{release}] - {package} <end-of-life>":
                out.add(current)
    return out


def test_unfixed_issues_are_residue_with_their_status(store: Store, corpus: Path):
    """virtualbox in jessie: fixed by several DSAs, then declared end-of-life by another."""
    key = dpkg_key()
    eol = eol_advisories(corpus, "jessie", "virtualbox")
    fixes = [a.fixed for a in debian_advisories(corpus, "jessie") if a.package == "virtualbox"]
    assert eol and fixes
    target = choose_target("4.3.0-dfsg-1", rows(store, "Debian:8", "virtualbox"), get_scheme("Debian:8"))
    assert target.version == max(fixes, key=key)
    assert {u.vulnerability_id: u.status for u in target.unfixed} == {i: "end_of_life" for i in eol}


def test_npm_patched_ranges_are_read_as_versions():
    scheme = get_scheme("npm")
    assert fix_candidates(">= 2.0.3 < 3.0.0 || >= 3.1.1", scheme) == ["2.0.3", "3.1.1"]
    assert fix_candidates(">=4.17.19", scheme) == ["4.17.19"]
    assert fix_candidates("<0.0.0", scheme) == []


def test_unparsable_versions_end_in_residue(store: Store):
    target = choose_target("2.14.1 (patched!)", rows(store, "Maven", LOG4J), get_scheme("Maven"))
    assert not target.version and "not a valid" in target.reason
    layer = LayerInfo(0, "sha256:" + "0" * 64, created_by="RUN build")
    pkgs = (Package("requests", "2.19.1", "pypi", layer=layer), Package("urllib3", "1.2.3.4.5-bogus+++", "pypi",
                                                                         layer=layer))
    from layerscan.match.matcher import match_sbom

    sbom = Sbom("app", "container_image", packages=pkgs, image=ImageMeta(layers=(layer,)))
    matched = match_sbom(sbom, store)
    sbom = replace(sbom, unknowns=matched.unknowns)
    bad = Package("requests", "not-a-version!", "pypi", layer=layer)
    finding = replace(next(f for f in matched.findings if f.package.name == "requests"), package=bad)
    plan = build_plan((*matched.findings, finding), sbom, store.affected, BaseImage("none"))
    reasons = {(r.package, r.status): r.reason for r in plan.residue}
    assert "not a valid" in reasons[("requests", "unknown")]
    assert any("urllib3" in r.reason and "not a valid" in r.reason for r in plan.residue)
    assert [i.name for i in plan.items] == ["requests"] and plan.items[0].installed == "2.19.1"


# ---- end to end: the recipe's image -------------------------------------------------------------------

def recipe() -> dict[str, int]:
    """Dockerfile step text -> line, of the fixture recipe."""
    lines = (FIXTURE / "Dockerfile").read_text().splitlines()
    return {line.strip(): n for n, line in enumerate(lines, 1) if line.strip() and not line.startswith("#")}


def history(step: str) -> str:
    """The classic builder's created_by for a recipe step."""
    keyword, _, args = step.partition(" ")
    if keyword == "RUN":
        return f"/bin/sh -c {args}"
    return f"/bin/sh -c #(nop) {keyword} file:{'ab' * 32} in {args.split()[-1]} "


@pytest.fixture(scope="module")
def work(corpus: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    if not (corpus / DEBIAN9).is_dir() or not (corpus / PYPA_ZIP).is_file():
        pytest.skip("corpus Debian 9 status or PyPA advisories are absent")
    work = tmp_path_factory.mktemp("fixplan")
    proc = run_cli("db", "import", str(corpus / PYPA_ZIP), str(corpus / DEBIAN_LISTS), "-q", cwd=work)
    assert proc.returncode == 0, proc.stderr
    status_path = corpus / DEBIAN9 / "var/lib/dpkg/status"
    status = status_path.read_text()
    blocks = [b for b in status.strip().split("\n\n")
              if not re.search(r"^Package: (" + "|".join(OPENSSL_BINARIES) + r")$", b, re.M)]
    assert len(blocks) == len(_stanzas(status)) - len(OPENSSL_BINARIES)
    skip = ("expected.json", "PROVENANCE.txt", "var")
    base = entries_from_directory(corpus / DEBIAN9, skip=skip)
    base += [file("var/lib/dpkg/status", "\n\n".join(blocks) + "\n"), file("etc/os-release", OS_RELEASE_9)]
    steps = [s for s in recipe() if s.split()[0] in ("RUN", "COPY")]
    layers = [LayerSpec(base, created_by=BASE_STEP),
              LayerSpec([file("var/lib/dpkg/status", status)], created_by=history(steps[0])),
              LayerSpec(dist(APP) + dist(BOGUS), created_by=history(steps[1])),
              LayerSpec([file("app/app.py", "print('hello')\n")], created_by=history(steps[2]))]
    image = build_image(layers, empty_steps={1: ['/bin/sh -c #(nop)  CMD ["bash"]'],
                                             4: ['/bin/sh -c #(nop)  CMD ["python3", "-m", "app"]']})
    image.write_docker_archive(work / "app.tar", "layerscan/fixplan:1.0")
    return work


def scan(work: Path, *args: str) -> subprocess.CompletedProcess:
    proc = run_cli("image", "--input", "app.tar", "--skip-db-update", *args, cwd=work)
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    return proc


def plan_of(work: Path, *args: str) -> dict:
    return json.loads(scan(work, "-f", "json", "--fix-plan", *args).stdout)["FixPlan"]


def groups_by(plan: dict) -> dict[tuple[str, int | None], dict]:
    return {(g["Owner"], g.get("Layer")): g for g in plan["Groups"]}


def item(group: dict, name: str) -> dict:
    return next(i for i in group["Packages"] if i["Name"] == name)


def test_json_plan_owners_commands_layers_and_dockerfile_lines(work: Path, corpus: Path):
    lines = recipe()
    steps = [s for s in lines if s.split()[0] in ("RUN", "COPY")]
    plan = plan_of(work, "--dockerfile", str(FIXTURE / "Dockerfile"))
    assert plan["BaseLevel"] == "dockerfile" and plan["BaseImage"] == "debian:stretch"
    assert plan["BaseLayers"] == 1 and "DockerfileNote" not in plan
    groups = groups_by(plan)
    # the openssl binaries came with the recipe's apt-get layer: upgraded there, all three named
    os_group = groups[("os", 1)]
    assert os_group["Command"] == "apt-get update && apt-get install -y --only-upgrade " + " ".join(OPENSSL_BINARIES)
    assert os_group["DockerfileLine"] == lines[steps[0]] and os_group["CreatedBy"] == history(steps[0])
    openssl = item(os_group, "openssl")
    key = dpkg_key()
    fixes = [a.fixed for a in debian_advisories(corpus, "stretch") if a.package == "openssl"
             and key(a.fixed) > key("1.1.0l-1~deb9u1")]
    assert openssl["TargetVersion"] == max(fixes, key=key)
    assert sorted(p["Name"] for p in openssl["Packages"]) == list(OPENSSL_BINARIES)
    # requests from the pip layer, pinned
    pip = groups[("lang", 2)]
    target = item(pip, "requests")["TargetVersion"]
    assert pip["Command"] == f"pip install 'requests=={target}'"
    assert pip["DockerfileLine"] == lines[steps[1]]
    # the base's packages (expat among them) belong to the base image, at the FROM line
    base = groups[("base", None)]
    assert base["DockerfileLine"] == lines["FROM debian:stretch"] and "debian:stretch" in base["Note"]
    assert "expat" in {i["Name"] for i in base["Packages"]} and "openssl" not in {i["Name"] for i in base["Packages"]}
    assert {(i["Layer"], i["CreatedBy"]) for i in base["Packages"]} == {(0, BASE_STEP)}
    installed = [(p["Name"], p["InstalledVersion"]) for g in plan["Groups"] for i in g["Packages"] for p in i["Packages"]]
    assert len(installed) == len(set(installed)), "every installed package's fix has exactly one owner"


def test_unparsable_version_is_residue_with_its_reason(work: Path):
    plan = plan_of(work)
    (bogus,) = [r for r in plan["Residue"] if r["PkgName"] == BOGUS[0]]
    assert bogus["InstalledVersion"] == BOGUS[1]
    assert bogus["Status"] == "unknown" and "not a valid" in bogus["Reason"] and bogus["Layer"] == 2
    assert BOGUS[0] not in {i["Name"] for g in plan["Groups"] for i in g["Packages"]}


def test_without_a_named_base_the_base_packages_are_a_rebuild(work: Path):
    plan = plan_of(work)
    assert plan["BaseLevel"] == "heuristic"
    groups = groups_by(plan)
    assert ("base", None) not in groups
    rebuild = groups[("rebuild", None)]
    assert rebuild["Command"].startswith("docker build --pull")
    assert "expat" in {i["Name"] for i in rebuild["Packages"]}
    assert all("DockerfileLine" not in g for g in plan["Groups"])


def test_misaligned_dockerfile_emits_no_lines(work: Path):
    plan = plan_of(work, "--dockerfile", str(FIXTURE / "Dockerfile.misaligned"))
    assert "does not match" in plan["DockerfileNote"]
    assert all("DockerfileLine" not in g for g in plan["Groups"] if g["Owner"] != "base")


def test_table_section_fits_80_columns(work: Path):
    out = scan(work, "--fix-plan", "--dockerfile", str(FIXTURE / "Dockerfile")).stdout
    section = out[out.index("Fix plan\n"):]
    assert_fits(section)
    section = section.replace(" \\\n     ", " ")  # a long command is continued with " \\"
    assert "$ apt-get update && apt-get install -y --only-upgrade libssl-dev libssl1.1 openssl" in section
    assert "OS upgrade (apt) layer 1 (Dockerfile line" in section
    assert "Language upgrade (pip) layer 2" in section
    assert "Fix plan" not in scan(work).stdout


COPA_UPDATE_KEYS = {"name", "installedVersion", "fixedVersion", "vulnerabilityID", "type", "class"}


def test_copa_manifest(work: Path):
    doc = json.loads(scan(work, "-f", "copa").stdout)
    assert set(doc) == {"apiVersion", "metadata", "osupdates", "langupdates"}
    assert doc["apiVersion"] == "v1alpha2"
    assert doc["metadata"]["os"] == {"type": "debian", "version": "9"}
    assert doc["metadata"]["config"]["arch"] == "amd64"
    assert doc["langupdates"] == []
    assert doc["osupdates"] and all(set(u) == COPA_UPDATE_KEYS for u in doc["osupdates"])
    assert all(u["type"] == "deb" and u["class"] == "os-pkgs" for u in doc["osupdates"])
    assert "requests" not in {u["name"] for u in doc["osupdates"]}
    plan = plan_of(work)
    openssl = next(i for g in plan["Groups"] for i in g["Packages"] if i["Name"] == "openssl")
    expected = {(b, v) for b in OPENSSL_BINARIES for v in openssl["Fixes"]}
    got = {(u["name"], u["vulnerabilityID"]) for u in doc["osupdates"] if u["name"] in OPENSSL_BINARIES}
    assert got == expected
    assert {u["fixedVersion"] for u in doc["osupdates"] if u["name"] == "openssl"} == {openssl["TargetVersion"]}


def test_fix_plan_needs_the_vulnerability_scan(work: Path):
    proc = run_cli("image", "--input", "app.tar", "--fix-plan", "--scanners", "none", cwd=work)
    assert proc.returncode == 2 and "--fix-plan needs the vulnerability scan" in proc.stderr


# ---- commands --------------------------------------------------------------------------------------

def test_one_command_per_manager_names_every_package():
    from layerscan.model import OSInfo
    from layerscan.remediate.fixcommands import lang_command, os_command, os_manager

    assert os_manager("apk", OSInfo("wolfi", "20230201")) == "apk"
    assert os_manager("rpm", OSInfo("redhat", "9.4")) == "dnf"
    assert os_manager("rpm", OSInfo("centos", "7.9.2009")) == "yum"
    assert os_manager("rpm", OSInfo("amazon", "2 (Karoo)")) == "yum"
    assert os_manager("rpm", OSInfo("cbl-mariner", "2.0")) == "tdnf"
    assert os_command("apk", ["musl", "libcrypto3", "libssl3"]) == "apk upgrade libcrypto3 libssl3 musl"
    assert os_command("dnf", ["openssl-libs"]) == "dnf update -y openssl-libs"
    assert lang_command("npm", [("lodash", "4.17.21"), ("minimist", "1.2.6")]) == \
        "npm install lodash@4.17.21 minimist@1.2.6"
    assert lang_command("go", [("golang.org/x/net", "0.17.0"), ("stdlib", "1.21.3")]) == \
        "go get golang.org/x/net@v0.17.0 && build with Go 1.21.3"
    assert lang_command("maven", [(LOG4J, "2.16.0")]).startswith(f"set {LOG4J}:2.16.0 ")


def test_hostile_names_are_quoted_in_commands():
    from layerscan.remediate.fixcommands import lang_command, os_command

    assert os_command("apt", ["x;rm -rf /"]).endswith("--only-upgrade 'x;rm -rf /'")
    assert lang_command("pip", [("a'b", "1.0")]) == "pip install 'a'\"'\"'b==1.0'"
    assert lang_command("npm", [("$(id)", "1.0")]) == "npm install '$(id)@1.0'"
