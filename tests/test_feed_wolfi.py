"""Wolfi and Chainguard secdb on the real samples (vunnel, vuln-list-update): rows, namespaces,
``db update`` from a local mirror, and a CLI scan of a real apk database."""

from __future__ import annotations

import json
import shutil
import zipfile
from pathlib import Path
from typing import Iterator

import pytest

from layerscan.analyzers.os.release import parse_os_release
from layerscan.db.feeds.alpine import AlpineFeed
from layerscan.db.feeds.base import ParseStats
from layerscan.db.feeds.wolfi import ChainguardFeed, WolfiFeed
from layerscan.db.store import Store
from layerscan.match.namespace import os_namespace
from layerscan.model import OSInfo
from layerscan.versions import compare
from feedsamples import SAMPLES, sample, serve_directory
from test_cli_main import run_cli

DOCS = {  # (zip, member) -> the feed it belongs to
    ("vunnel-provider-fixtures.zip", "tests/unit/providers/wolfi/test-fixtures/input/secdb/security.json"): "wolfi",
    ("vunnel-provider-fixtures.zip", "tests/unit/providers/chainguard/test-fixtures/input/secdb/security.json"):
        "chainguard",
    ("vuln-list-update-testdata.zip", "wolfi/testdata/security.json"): "wolfi",
    ("vuln-list-update-testdata.zip", "chainguard/testdata/security.json"): "chainguard",
}
FEEDS = {"wolfi": WolfiFeed, "chainguard": ChainguardFeed}
NAMESPACES = {"wolfi": "Wolfi", "chainguard": "Chainguard"}
WOLFI_OS_RELEASE = 'ID=wolfi\nNAME="Wolfi"\nPRETTY_NAME="Wolfi"\nVERSION_ID="20230201"\n'  # as Wolfi images write it



def expected_rows(doc: dict, namespace: str) -> set[tuple[str, str, str, str, str]]:
    """(id, namespace, package, status, fixed) as the secfixes state them; "0" = never affected."""
    out = set()
    for entry in doc["packages"]:
        for fixed, ids in entry["pkg"]["secfixes"].items():
            for line in ids:
                status, version = ("not_affected", "") if fixed == "0" else ("fixed", fixed)
                out.add((line.split()[0], namespace, entry["pkg"]["name"], status, version))
    return out


@pytest.mark.parametrize("archive, member", sorted(DOCS))
def test_secdb_sample_rows(corpus: Path, tmp_path: Path, archive: str, member: str) -> None:
    feed_name = DOCS[(archive, member)]
    path = sample(corpus, archive, member, tmp_path / "security.json")
    doc = json.loads(path.read_text())
    assert "distroversion" not in doc  # rolling: no release
    stats = ParseStats()
    advisories = list(FEEDS[feed_name]().parse(path, stats))
    assert stats.skipped == 0 and stats.records == len(doc["packages"])
    got = {(a.id, r.namespace, r.package, r.status, r.fixed_version) for a in advisories for r in a.affected}
    assert got == expected_rows(doc, NAMESPACES[feed_name])
    assert {a.source for a in advisories} == {feed_name}
    other = "chainguard" if feed_name == "wolfi" else "wolfi"
    assert list(FEEDS[other]().parse(path, ParseStats())) == []  # each feed takes only its own document
    assert list(AlpineFeed().parse(path, ParseStats())) == []  # and Alpine's feed none of them


def test_alpine_documents_stay_alpine(corpus: Path, tmp_path: Path) -> None:
    with zipfile.ZipFile(corpus / SAMPLES / "vuln-list-update-testdata.zip") as zf:
        member = next(n for n in zf.namelist() if n.startswith("alpine/") and n.endswith(".json")
                      and b"distroversion" in zf.read(n))
    path = sample(corpus, "vuln-list-update-testdata.zip", member, tmp_path / "alpine.json")
    assert list(WolfiFeed().parse(path, ParseStats())) == list(ChainguardFeed().parse(path, ParseStats())) == []
    assert all(r.namespace.startswith("Alpine:") for a in AlpineFeed().parse(path, ParseStats()) for r in a.affected)


def test_secfixes_key_that_is_not_a_version_is_counted(corpus: Path, tmp_path: Path) -> None:
    path = sample(corpus, "vuln-list-update-testdata.zip", "wolfi/testdata/security.json", tmp_path / "s.json")
    doc = json.loads(path.read_text())
    doc["packages"][0]["pkg"]["secfixes"]["not a version!"] = ["CVE-2022-38126"]
    path.write_text(json.dumps(doc))
    stats = ParseStats()
    got = {(a.id, r.fixed_version) for a in WolfiFeed().parse(path, stats) for r in a.affected}
    assert stats.skipped == 1 and ("CVE-2022-38126", "not a version!") not in got


def test_os_release_of_wolfi_and_chainguard_builds_the_namespace() -> None:
    wolfi = parse_os_release(WOLFI_OS_RELEASE.encode())
    chainguard = parse_os_release(WOLFI_OS_RELEASE.replace("wolfi", "chainguard").replace("Wolfi", "Chainguard").encode())
    assert wolfi is not None and chainguard is not None
    assert (os_namespace(wolfi), os_namespace(chainguard)) == ("Wolfi", "Chainguard")
    assert os_namespace(OSInfo("wolfi", "20240101")) == "Wolfi"  # rolling: the date does not matter


# ---- db update from a local mirror ---------------------------------------------------------------

@pytest.fixture()
def mirror(corpus: Path, tmp_path: Path) -> Iterator[str]:
    """The upstream layout: /os/security.json (Wolfi) and /chainguard/security.json (Chainguard)."""
    root = tmp_path / "mirror"
    sample(corpus, "vunnel-provider-fixtures.zip",
           "tests/unit/providers/wolfi/test-fixtures/input/secdb/security.json", root / "os/security.json")
    sample(corpus, "vunnel-provider-fixtures.zip",
           "tests/unit/providers/chainguard/test-fixtures/input/secdb/security.json", root / "chainguard/security.json")
    with serve_directory(root) as url:
        yield url


def test_db_update_wolfi_and_chainguard(mirror: str, corpus: Path, tmp_path: Path) -> None:
    env = {"LAYERSCAN_DB_WOLFI_URL": f"{mirror}/os/security.json",
           "LAYERSCAN_DB_CHAINGUARD_URL": f"{mirror}/chainguard/security.json"}
    proc = run_cli("db", "update", "--sources", "wolfi,chainguard", cwd=tmp_path, env=env)
    assert proc.returncode == 0, proc.stderr
    with Store.open(tmp_path / "cache" / "db" / "layerscan.db") as store:
        for name, path in (("wolfi", "os"), ("chainguard", "chainguard")):
            doc = json.loads((tmp_path / "mirror" / path / "security.json").read_text())
            want = expected_rows(doc, NAMESPACES[name])
            got = {(r.vuln_id, r.affected.namespace, r.affected.package, r.affected.status, r.affected.fixed_version)
                   for pkg in {w[2] for w in want} for r in store.affected(NAMESPACES[name], pkg)}
            assert got == want
            assert store.metadata()["sources"][name]["status"] == "updated"


# ---- end to end: CLI scan of a real apk database --------------------------------------------------

def test_cli_wolfi_rootfs(corpus: Path, tmp_path: Path) -> None:
    """The corpus' real apk database (trivy-apk-happy-path; the corpus has no Wolfi image, so its
    os-release is Wolfi's) scanned against a database imported from vunnel's Wolfi secdb: every
    secfix newer than an installed origin package is found, under the CVE, fixed in that version."""
    root = tmp_path / "root"
    shutil.copytree(corpus / "fixtures/apk/trivy-apk-happy-path", root, ignore=shutil.ignore_patterns("expected.json"))
    (root / "etc").mkdir(exist_ok=True)
    (root / "etc/os-release").write_text(WOLFI_OS_RELEASE)
    feed = sample(corpus, "vunnel-provider-fixtures.zip",
                  "tests/unit/providers/wolfi/test-fixtures/input/secdb/security.json", tmp_path / "feeds/security.json")
    installed = json.loads((corpus / "fixtures/apk/trivy-apk-happy-path/expected.json").read_text())["packages"]
    doc = json.loads(feed.read_text())
    secfixes = {e["pkg"]["name"]: e["pkg"]["secfixes"] for e in doc["packages"]}
    wanted = set()
    for pkg in installed:
        origin = pkg.get("source_name") or pkg["name"]
        for fixed, ids in secfixes.get(origin, {}).items():
            if fixed != "0" and compare("apk", pkg["version"], fixed) < 0:
                wanted |= {(line.split()[0], pkg["name"], fixed) for line in ids}
    assert wanted, "the apk database shares no package with the Wolfi sample"
    assert run_cli("db", "import", str(tmp_path / "feeds"), cwd=tmp_path).returncode == 0
    proc = run_cli("rootfs", str(root), "--skip-db-update", "-f", "json", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["Metadata"]["OS"]["Family"] == "wolfi"
    got = {(v["VulnerabilityID"], v["PkgName"], v["FixedVersion"]) for r in report["Results"]
           for v in r.get("Vulnerabilities") or []}
    assert got == wanted
