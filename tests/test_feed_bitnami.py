"""Bitnami's OSV records (corpus/feeds/osv-bitnami, bitnami/vulndb) rate each package by its
own CVSS (``affected[].severity``; ``database_specific.severity`` is Bitnami's word for the
same rating). A finding in a Bitnami package takes that rating (``SeveritySource: bitnami``)
ahead of GHSA and NVD, as a distro's rating is its own packages'. Every expected value is read
here from the record files."""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from layerscan.db.feeds.osv import record_to_advisory
from layerscan.db.feeds.common import normalise_severity
from layerscan.match.severity import choose, vendor_severities
from layerscan.model import CVSS, Advisory

ROOT = Path(__file__).resolve().parent.parent
CVSS_VERSION = {"CVSS_V3": ("3.0", "3.1"), "CVSS_V4": ("4.0",), "CVSS_V2": ("2.0",)}


def records(corpus: Path) -> list[dict]:
    with zipfile.ZipFile(corpus / "feeds/osv-bitnami/bitnami-osv.zip") as z:
        return [json.loads(z.read(n)) for n in z.namelist() if n.endswith(".json")]


@pytest.fixture(scope="module")
def bitnami(corpus: Path) -> list[dict]:
    return records(corpus)


def stated(record: dict) -> str:
    return normalise_severity((record.get("database_specific") or {}).get("severity"))


def package_vectors(item: dict) -> set[str]:
    return {s["score"] for s in item.get("severity") or [] if s["type"].startswith("CVSS")}


def test_every_package_row_carries_its_own_rating(bitnami: list[dict]) -> None:
    rated = unrated = 0
    for record in bitnami:
        advisory = record_to_advisory(record)
        assert advisory is not None
        for item, row in zip(record["affected"], advisory.affected):
            vectors = package_vectors(item)
            if vectors:
                rated += 1
                # the row's level is the package's rating (Bitnami states it in database_specific)
                assert row.severity == stated(record), record["id"]
                assert vectors <= {c.vector for c in advisory.cvss if c.source == "bitnami"}, record["id"]
            else:
                unrated += 1
                assert row.severity == "", record["id"]  # only the record-level word rates it
    assert rated > 7000 and unrated < 100  # the corpus: 7,433 of 7,444 packages carry a CVSS


def test_package_rating_wins_over_nvd_and_ghsa(bitnami: list[dict]) -> None:
    """The real record, with another source of the same CVE rating it differently."""
    record = next(r for r in bitnami if r["id"] == "BIT-php-2021-21703")
    advisory = record_to_advisory(record)
    own = stated(record)
    assert own == "HIGH"
    other = "LOW"
    group = Advisory(id="CVE-2021-21703", source="nvd",
                     cvss=(CVSS(source="nvd", version="3.1", vector="CVSS:3.1/AV:P/AC:H/PR:H/UI:R/S:U/C:L/I:N/A:N",
                                score=1.6),))
    merged = Advisory(id=advisory.id, source=advisory.source, severities=advisory.severities,
                      cvss=advisory.cvss + group.cvss)
    row = advisory.affected[0]
    assert choose(merged, row, "osv:Bitnami", False, group) == (own, "bitnami")
    assert {s.source: s.level for s in vendor_severities(merged, row, "osv:Bitnami", group)}["bitnami"] == own
    # a language row of another feed keeps NVD ahead of its own level (unchanged order)
    assert choose(merged, row, "osv:PyPI", False, group)[0] == other


def _version_in(item: dict) -> str:
    """A version inside the package's first affected range: its first non-zero introduced event."""
    return next((e["introduced"] for r in item["ranges"] for e in r["events"] if e.get("introduced", "0") != "0"), "")


def layerscan(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "layerscan.cli.main", *args], capture_output=True, text=True,
                          cwd=ROOT, timeout=300)


def test_bitnami_findings_take_the_package_cvss(bitnami: list[dict], corpus: Path, tmp_path: Path) -> None:
    """SBOM components with pkg:bitnami purls (as Trivy writes for Bitnami images), scanned with
    the CLI: each finding's severity, source and CVSS are those of its record's package."""
    v3 = next(r for r in bitnami if r["id"] == "BIT-php-2021-21703")
    v4 = next(r for r in bitnami if any(s["type"] == "CVSS_V4" for a in r["affected"] for s in a.get("severity", []))
              and _version_in(r["affected"][0]) and r["affected"][0]["package"]["name"] != "php")
    picks = {r["affected"][0]["package"]["name"]: _version_in(r["affected"][0]) for r in (v3, v4)}
    comps = [{"type": "library", "bom-ref": n, "name": n, "version": v, "purl": f"pkg:bitnami/{n}@{v}"}
             for n, v in picks.items()]
    sbom = tmp_path / "bitnami.cdx.json"
    sbom.write_text(json.dumps({"bomFormat": "CycloneDX", "specVersion": "1.6", "version": 1,
                                "metadata": {"component": {"type": "container", "name": "bitnami-app"}},
                                "components": comps}))
    cache = str(tmp_path / "cache")
    assert layerscan("db", "import", "-q", "--cache-dir", cache, str(corpus / "feeds/osv-bitnami")).returncode == 0
    out = layerscan("sbom", str(sbom), "--cache-dir", cache, "-f", "json", "-o", str(tmp_path / "r.json"))
    assert out.returncode == 0, out.stderr
    doc = json.loads((tmp_path / "r.json").read_text())
    by_cve: dict[tuple[str, str], dict] = {}
    for r in bitnami:
        item = r["affected"][0]
        if item["package"]["name"] in picks:
            for cve in r.get("aliases") or [r["id"]]:
                by_cve[(item["package"]["name"], cve)] = r
    findings = [v for res in doc["Results"] for v in res.get("Vulnerabilities") or []]
    assert {v["PkgName"] for v in findings} == set(picks)
    seen_versions = set()
    for v in findings:
        record = by_cve[(v["PkgName"], v["VulnerabilityID"])]
        item = record["affected"][0]
        if not package_vectors(item):
            continue
        assert (v["Severity"], v["SeveritySource"]) == (stated(record), "bitnami"), record["id"]
        cvss = v["CVSS"]["bitnami"]
        for s in item["severity"]:
            key = "V40Vector" if s["type"] == "CVSS_V4" else "V3Vector"
            assert cvss[key] == s["score"], record["id"]
            seen_versions.add(s["type"])
    assert seen_versions == {"CVSS_V3", "CVSS_V4"}
