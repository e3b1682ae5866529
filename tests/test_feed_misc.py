"""NVD, nodejs security-wg, KEV, EPSS and endoflife.date importers."""

from __future__ import annotations

import gzip
import json
import zipfile
from pathlib import Path

import yaml

from layerscan.db.feeds.base import ParseStats
from layerscan.db.feeds.eol import EolFeed
from layerscan.db.feeds.epss import EpssFeed
from layerscan.db.feeds.kev import KevFeed
from layerscan.db.feeds.nodejs import NodejsFeed, npm_range_to_affected
from layerscan.db.feeds.nvd import NvdFeed

SAMPLES = "feeds/upstream-samples/vunnel-provider-fixtures.zip"


def test_nvd_page(corpus: Path, tmp_path: Path) -> None:
    with zipfile.ZipFile(corpus / SAMPLES) as zf:
        page = zf.read("tests/unit/providers/nvd/test-fixtures/full-page.json")
    (tmp_path / "page.json").write_bytes(page)
    doc = json.loads(page)
    stats = ParseStats()
    advs = {a.id: a for a in NvdFeed().parse(tmp_path, stats)}
    assert stats.records == len(doc["vulnerabilities"]) and stats.skipped == 0
    for item in doc["vulnerabilities"]:
        cve = item["cve"]
        adv = advs[cve["id"]]
        assert adv.affected == ()
        assert adv.published == cve["published"] and adv.modified == cve["lastModified"]
        metrics = [m for k in ("cvssMetricV31", "cvssMetricV30", "cvssMetricV40", "cvssMetricV2")
                   for m in cve.get("metrics", {}).get(k, [])]
        assert [c.vector for c in adv.cvss] == [m["cvssData"]["vectorString"] for m in metrics]
        assert [c.score for c in adv.cvss] == [m["cvssData"]["baseScore"] for m in metrics]
        cwes = {d["value"] for w in cve.get("weaknesses", []) for d in w["description"] if d["value"].startswith("CWE-")}
        assert set(adv.cwes) == cwes


def test_nodejs_corpus(corpus: Path) -> None:
    path = corpus / "feeds" / "npm-nodejs-security-wg" / "nodejs-security-wg-vuln.zip"
    with zipfile.ZipFile(path) as zf:
        # vuln/deps/ holds "not affected" assessments of bundled libraries: not advisories
        names = [n for n in zf.namelist() if n.split("/")[1] in ("npm", "core")
                 and n.endswith(".json") and n.rsplit("/", 1)[-1][:-5].isdigit()]
        sample = json.loads(zf.read("vuln/npm/1.json"))
    stats = ParseStats()
    advs = {a.id: a for a in NodejsFeed().parse(path, stats)}
    assert len(advs) == len(names) and stats.skipped == 0
    adv = advs["NSWG-ECO-1"]
    assert adv.affected[0].package == sample["module_name"]
    assert adv.aliases == tuple(sample["cves"])
    assert adv.cvss[0].vector == sample["cvss_vector"]
    assert {a.affected[0].namespace for a in advs.values()} == {"npm", "nodejs"}


def test_npm_range_conversion() -> None:
    ranges, versions = npm_range_to_affected("<0.2.2 || >=0.3.0 <0.3.2", ">=0.3.2")
    assert ranges[0].type == "SEMVER"
    assert ranges[0].events == (("introduced", "0"), ("fixed", "0.2.2"), ("introduced", "0.3.0"), ("fixed", "0.3.2"))
    ranges, versions = npm_range_to_affected("<=0.9.4 || 1.0.0", "")
    assert versions == ("1.0.0",)
    ranges, _ = npm_range_to_affected(">2.51.0 <=2.67.0", ">=2.67.1")
    assert ranges[0].type == "NPM_RANGE"
    assert ranges[0].events == (("vulnerable", ">2.51.0 <=2.67.0"), ("patched", ">=2.67.1"))


def test_kev_corpus(corpus: Path) -> None:
    path = corpus / "feeds" / "cisa-kev"
    doc = json.loads((path / "known_exploited_vulnerabilities.json").read_text())
    stats = ParseStats()
    entries = {e.cve: e for e in KevFeed().parse(path, stats)}
    assert stats.records == doc["count"] == len(doc["vulnerabilities"])
    first = doc["vulnerabilities"][0]
    assert entries[first["cveID"]].date_added == first["dateAdded"]
    assert entries[first["cveID"]].ransomware == first["knownRansomwareCampaignUse"]


def test_epss_gzip_and_malformed(tmp_path: Path) -> None:
    rows = "#model_version:v2025.03.14,score_date:2025-12-26T12:55:00Z\ncve,epss,percentile\n" \
           "CVE-1999-0001,0.01151,0.7802\nCVE-1999-0002,nan,0.5\nnot-a-cve,0.1,0.1\nCVE-1999-0003,0.89352,0.99521\n"
    (tmp_path / "epss_scores-current.csv.gz").write_bytes(gzip.compress(rows.encode()))
    stats = ParseStats()
    scores = list(EpssFeed().parse(tmp_path, stats))
    assert [(s.cve, s.score, s.percentile, s.date) for s in scores] == [
        ("CVE-1999-0001", 0.01151, 0.7802, "2025-12-26"), ("CVE-1999-0003", 0.89352, 0.99521, "2025-12-26")]
    assert stats.skipped == 2


def test_eol_corpus(corpus: Path) -> None:
    root = corpus / "feeds" / "endoflife-date"
    info = {(e.product, e.cycle): e for e in EolFeed().parse(root, ParseStats())}
    data = json.loads((root / "release-data" / "debian.json").read_text())
    page = (root / "products" / "debian.md").read_text().split("\n---", 1)[0][3:]
    listed = {r["releaseCycle"]: r for r in yaml.load(page, Loader=yaml.BaseLoader)["releases"]}
    for cycle, rel in data["releases"].items():  # product page first, release data fills the rest
        assert info[("debian", cycle)].eol == listed.get(cycle, rel).get("eol", "")
    text = (root / "products" / "python.md").read_text()
    assert 'releaseCycle: "3.12"' in text
    assert info[("python", "3.12")].is_eol("1970-01-01") is False
    assert info[("python", "2.7")].is_eol("2026-01-01") is True


def test_eol_api_list_form(tmp_path: Path) -> None:
    (tmp_path / "alpine-linux.json").write_text(json.dumps([
        {"cycle": "3.19", "releaseDate": "2023-12-07", "eol": "2025-11-01", "latest": "3.19.4", "lts": False},
        {"cycle": "edge", "eol": False}]))
    info = {e.cycle: e for e in EolFeed().parse(tmp_path, ParseStats())}
    assert info["3.19"].latest == "3.19.4" and info["edge"].eol == "false"
    assert info["edge"].is_eol("2030-01-01") is False
