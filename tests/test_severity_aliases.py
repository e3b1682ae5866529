"""Severity carried across aliases (issue 15): a finding whose own records rate nothing takes
the rating another record of the same CVE states (GHSA, Bitnami, NVD, OSV), NVD first, then
GHSA, then the others (docs/cli.md "Severity: where it comes from").

The database is the corpus one (Debian DSA/DLA lists, which carry no urgency, next to
Bitnami, GHSA, Go, RustSec records); every expected level is read here from the record files.
"""

from __future__ import annotations

import json
import zipfile
from collections import defaultdict
from pathlib import Path

import pytest

from layerscan.analyzers.os.dpkg import parse as parse_dpkg
from layerscan.db.store import Store
from layerscan.match.matcher import match_sbom
from layerscan.model import Finding, OSInfo, Package, Sbom

LEVELS = ("LOW", "MEDIUM", "HIGH", "CRITICAL")
WORDS = {"low": "LOW", "medium": "MEDIUM", "moderate": "MEDIUM", "high": "HIGH", "critical": "CRITICAL"}
STRETCH = "fixtures/deb/real-debian9-stretch-image/var/lib/dpkg/status"
GHSA_X_NET = ("feeds/upstream-samples/trivy-db-vulnsrc-testdata.zip",
              "pkg/vulnsrc/ghsa/testdata/happy/ghsa/advisories/github-reviewed/2024/04/"
              "GHSA-4v7x-pqxf-cx7m/GHSA-4v7x-pqxf-cx7m.json")


def stated(record: dict) -> str:
    """The level word a record states in database_specific.severity ("" for none/unknown)."""
    return WORDS.get(str((record.get("database_specific") or {}).get("severity", "")).lower(), "")


def bitnami_levels(corpus: Path) -> dict[str, set[str]]:
    """CVE -> the levels Bitnami's records aliasing it state."""
    out: dict[str, set[str]] = defaultdict(set)
    with zipfile.ZipFile(next((corpus / "feeds/osv-bitnami").glob("*.zip"))) as z:
        for name in z.namelist():
            if not name.endswith(".json"):
                continue
            record = json.loads(z.read(name))
            if record.get("withdrawn") or not stated(record):
                continue
            for alias in record.get("aliases", []):
                if alias.startswith("CVE-"):
                    out[alias].add(stated(record))
    return out


def vendor(f: Finding) -> dict[str, str]:
    return {s.source: s.level for s in f.vendor_severity}


def scan(store_path: Path, sbom: Sbom) -> list[Finding]:
    with Store.open(store_path) as store:
        return list(match_sbom(sbom, store).findings)


@pytest.fixture(scope="module")
def stretch_findings(corpus: Path, corpus_db: Path) -> list[Finding]:
    pkgs = parse_dpkg((corpus / STRETCH).read_bytes()).packages
    return scan(corpus_db, Sbom("debian9", "rootfs", os=OSInfo("debian", "9.13"), packages=pkgs))


def test_debian_findings_take_the_level_bitnami_states_for_their_cve(corpus: Path, stretch_findings):
    """The DLA/DSA lists rate nothing; Bitnami's records of the same CVE (for its own php,
    openssl... builds) do, and no NVD or GHSA record of these CVEs is in the corpus."""
    levels = bitnami_levels(corpus)
    rated = [f for f in stretch_findings if f.vulnerability_id in levels]
    assert len(rated) > 300, "the Debian 9 image should share many CVEs with Bitnami"
    for f in rated:
        want = max(levels[f.vulnerability_id], key=LEVELS.index)  # the highest when its records differ
        assert (f.severity, f.severity_source) == (want, "bitnami"), (f.package.name, f.vulnerability_id)
        assert vendor(f)["bitnami"] == want
    php = next(f for f in rated if f.package.name == "php7.0" and f.vulnerability_id == "CVE-2021-21703")
    assert php.severity == "HIGH" and php.match.data_source == "debian"


def test_no_rating_anywhere_stays_unknown(corpus: Path, stretch_findings):
    """CVE-2021-3156 (sudo, Baron Samedit): the corpus has the DLA/DSA entries and KEV, but no
    record that rates it, so it stays UNKNOWN with no source."""
    sudo = [f for f in stretch_findings if f.vulnerability_id == "CVE-2021-3156"]
    assert sudo and all((f.severity, f.severity_source, f.vendor_severity) == ("UNKNOWN", "", ()) for f in sudo)
    for feed in corpus.glob("feeds/osv-*/*.zip"):  # no OSV record is, or aliases, that CVE
        with zipfile.ZipFile(feed) as z:
            for name in z.namelist():
                data = z.read(name) if name.endswith(".json") else b""
                if b"CVE-2021-3156" in data:  # ALSA-2022:0892 (libarchive) only mentions it
                    record = json.loads(data)
                    assert "CVE-2021-3156" not in [record.get("id"), *(record.get("aliases") or ())], name


def test_debian_log4shell_takes_the_ghsa_level(corpus: Path, corpus_db: Path):
    """Debian 9's apache-log4j2 before DLA-2842-1: the GHSA record for the Maven artifact
    (another product, the same CVE) states the level."""
    ghsa = json.loads((corpus / "feeds/osv-ghsa-curated/GHSA-jfh8-c2jp-5v3q.json").read_text())
    assert "CVE-2021-44228" in ghsa["aliases"] and stated(ghsa)
    pkg = Package("liblog4j2-java", "2.7-2", "deb", src_name="apache-log4j2", src_version="2.7-2")
    found = [f for f in scan(corpus_db, Sbom("t", "rootfs", os=OSInfo("debian", "9.13"), packages=(pkg,)))
             if f.vulnerability_id == "CVE-2021-44228"]
    assert [(f.severity, f.severity_source, f.match.data_source) for f in found] == [(stated(ghsa), "ghsa", "debian")]
    assert vendor(found[0])["ghsa"] == stated(ghsa)


def test_ghsa_is_preferred_to_bitnami_when_they_differ(corpus: Path, corpus_db: Path):
    """CVE-2023-45288 (HTTP/2 CONTINUATION flood): Go's GO-2024-2687 rates nothing, GitHub
    says MODERATE, Bitnami says High: the GHSA level wins, both are listed."""
    with zipfile.ZipFile(corpus / GHSA_X_NET[0]) as z:
        ghsa = json.loads(z.read(GHSA_X_NET[1]))
    bitnami = bitnami_levels(corpus)["CVE-2023-45288"]
    assert "CVE-2023-45288" in ghsa["aliases"] and bitnami and stated(ghsa) not in bitnami  # they differ
    pkg = Package("golang.org/x/net", "v0.22.0", "golang")
    found = [f for f in scan(corpus_db, Sbom("t", "filesystem", packages=(pkg,)))
             if f.vulnerability_id == "CVE-2023-45288"]
    assert [(f.severity, f.severity_source, f.match.advisory_id) for f in found] == [
        (stated(ghsa), "ghsa", "GO-2024-2687")]
    assert vendor(found[0])["bitnami"] == max(bitnami, key=LEVELS.index)
