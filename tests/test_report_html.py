"""The interactive HTML report: structure, data block, escaping (browser test:
test_report_html_browser.py)."""

from __future__ import annotations

import io
import json
import re
import zipfile
from dataclasses import replace
from pathlib import Path

import pytest
import yaml

from conftest import FIXTURES
from layerscan.db.feeds.osv import fixed_versions, record_to_advisory
from layerscan.model import Advisory, Finding, LayerInfo, MatchDetail, OSInfo, Package, Sbom, Unknown
from layerscan.report import get_writer
from layerscan.report.document import PolicySummary, ScanReport, build_report
from layerscan.report.html import DATA_ELEMENT_ID, UNATTRIBUTED, embed_json, render
from layerscan.source.sbom_input import load_sbom

HOSTILE = "</script><img src=x onerror=alert(1)>"
HOSTILE_TITLE = "<!-- <script>alert(2)</script> & </SCRIPT >"
PYPI_NAMES = ("requests", "urllib3", "jinja2")
GHSA = ("GHSA-jfh8-c2jp-5v3q", "GHSA-7rjr-3q55-vv33", "GHSA-xvch-5gv4-984h")


# ---------------------------------------------------------------- a realistic report

def _advisories(corpus: Path) -> list[Advisory]:
    out = []
    for name in GHSA:
        record = json.loads((corpus / "feeds/osv-ghsa-curated" / f"{name}.json").read_text())
        out.append(record_to_advisory(record, "ghsa"))
    with zipfile.ZipFile(corpus / "feeds/osv-pypi-pypa/pypa-advisory-database-vulns.zip") as zf:
        for pkg in PYPI_NAMES:
            members = sorted(m for m in zf.namelist() if m.startswith(f"vulns/{pkg}/") and m.endswith(".yaml"))
            for member in members[-2:]:
                out.append(record_to_advisory(yaml.safe_load(zf.read(member)), "osv"))
    return [a for a in out if a is not None]


def _affected_version(advisory: Advisory) -> tuple[str, str, str, str] | None:
    """(ecosystem, name, an affected version, fixed) taken from the record itself."""
    for aff in advisory.affected:
        if aff.versions:
            return aff.namespace, aff.package, aff.versions[-1], fixed_versions(aff.ranges)
        for rng in aff.ranges:
            introduced = [v for k, v in rng.events if k == "introduced" and v != "0"]
            if introduced:
                return aff.namespace, aff.package, introduced[0], fixed_versions([rng])
    return None


def _epss_row(corpus: Path) -> tuple[str, float, float]:
    """The first scored CVE of a real EPSS CSV sample (vulnerablecode's test data)."""
    zip_path = corpus / "feeds/upstream-samples/vulnerablecode-test-data.zip"
    with zipfile.ZipFile(zip_path) as zf:
        text = zf.read("vulnerabilities/tests/test_data/epss/epss_scores-2025-x-x.csv").decode()
    rows = [line.split(",") for line in text.splitlines() if line.startswith("CVE-")]
    cve, score, pct = rows[0]
    return cve, float(score), float(pct)


def _kev_ids(corpus: Path) -> set[str]:
    doc = json.loads((corpus / "feeds/cisa-kev/known_exploited_vulnerabilities.json").read_text())
    return {v["cveID"] for v in doc["vulnerabilities"]}


_TYPES = {"Maven": "maven", "npm": "npm", "PyPI": "pypi"}
_STEPS = {"maven": "/bin/sh -c #(nop) COPY file:3b1c2e in /app/app.jar ",
          "pypi": "RUN /bin/sh -c pip install --no-cache-dir -r requirements.txt # buildkit",
          "npm": "|1 NODE_ENV=production /bin/sh -c npm ci --omit=dev"}


def sample_report(corpus: Path) -> ScanReport:
    """Debian packages and layers from Trivy's SBOM of the benchmark image, then one
    layer per ecosystem holding the packages the corpus advisories name, with findings
    built from those advisory records (KEV flag from the CISA catalogue)."""
    base = load_sbom(FIXTURES / "sbom/small-trivy.cdx.json")
    assert base.image is not None
    created = ("/bin/sh -c #(nop) ADD file:0b6c3 in / ", "RUN /bin/sh -c apt-get update && apt-get install -y curl")
    layers = [replace(layer, created_by=created[i % 2], size=31_000_000 + i) for i, layer in enumerate(base.image.layers)]
    by_diff = {layer.diff_id: layer for layer in layers}
    packages = [p.with_layer(by_diff[p.layer.diff_id]) for p in base.packages]
    kev = _kev_ids(corpus)
    findings: list[Finding] = []
    app_layers: dict[str, LayerInfo] = {}
    seen: dict[tuple[str, str], Package] = {}
    for adv in _advisories(corpus):
        hit = _affected_version(adv)
        if hit is None or hit[0] not in _TYPES:
            continue
        ecosystem, name, version, fixed = hit
        ptype = _TYPES[ecosystem]
        layer = app_layers.setdefault(ptype, LayerInfo(index=len(layers) + len(app_layers),
                                                       diff_id=f"sha256:{len(app_layers) + 1:064x}",
                                                       created_by=_STEPS[ptype], size=1_200_000))
        pkg = seen.setdefault((name, version), Package(name=name, version=version, type=ptype,
                                                       purl=f"pkg:{ptype}/{name}@{version}", layer=layer))
        cve = next((a for a in adv.aliases if a.startswith("CVE-")), adv.id)
        severity = next((s.level for s in adv.severities), "UNKNOWN")
        findings.append(Finding(package=pkg, vulnerability_id=cve, aliases=(adv.id,), fixed_version=fixed,
                                status="fixed" if fixed else "affected", severity=severity,
                                title=adv.summary, match=MatchDetail(ecosystem, adv.id, name, fixed, adv.source),
                                kev=cve in kev))
    hostile_layer = LayerInfo(index=len(layers) + len(app_layers), diff_id="sha256:" + "e" * 64,
                              created_by=f"RUN /bin/sh -c echo '{HOSTILE}'")
    evil = Package(name=HOSTILE, version="1.0.0<b>", type="npm", file_path="app/<!--x-->/package.json",
                   layer=hostile_layer)
    epss_cve, epss, epss_pct = _epss_row(corpus)  # a synthetic finding carrying a real EPSS row
    findings.append(Finding(package=evil, vulnerability_id=epss_cve, title=HOSTILE_TITLE, severity="LOW",
                            epss=epss, epss_percentile=epss_pct, primary_url="javascript:alert(3)",
                            match=MatchDetail("npm", "x", "x", "x", "osv")))
    all_layers = (*layers, *app_layers.values(), hostile_layer)
    sbom = Sbom(artifact_name="registry.example/team/app:1.0", artifact_type="container_image",
                os=replace(base.os, eosl=True), image=replace(base.image, layers=all_layers,
                                                             diff_ids=tuple(x.diff_id for x in all_layers)),
                packages=(*packages, *seen.values(), evil),
                unknowns=(Unknown(path="app/broken.jar", reason=f"corrupt zip {HOSTILE}", analyzer="java"),))
    failing = sum(f.severity == "CRITICAL" for f in findings)  # as `--fail-on CRITICAL --exit-code 1` would
    policy = PolicySummary(exit_code=1 if failing else 0, failing=failing, expired_ignores=(".layerscanignore:3",))
    return build_report(sbom, findings, created_at="2026-01-01T00:00:00Z", tool_version="0.1.0",
                        vulnerabilities_scanned=True, policy=policy)


def data_block(page: str) -> dict:
    m = re.search(r'<script type="application/json" id="%s">(.*?)</script>' % DATA_ELEMENT_ID, page, re.S)
    assert m, "data block missing"
    return json.loads(m.group(1))


@pytest.fixture(scope="module")
def report(corpus: Path) -> ScanReport:
    return sample_report(corpus)


@pytest.fixture(scope="module")
def page(report: ScanReport) -> str:
    out = io.StringIO()
    get_writer("html")(report, out)
    return out.getvalue()


# ---------------------------------------------------------------- structure

def test_layers_packages_and_findings_round_trip(report: ScanReport, page: str) -> None:
    data = data_block(page)
    assert [layer["diff_id"] for layer in data["layers"]] == [x.diff_id for x in report.layers]
    assert [layer["index"] for layer in data["layers"]] == sorted(x.index for x in report.layers)
    key_of = {layer["diff_id"]: layer["key"] for layer in data["layers"]}
    for layer in report.layers:
        want = sorted((p.name, p.version, p.type) for p in report.packages if p.layer == layer)
        got = sorted((p["name"], p["version"], p["type"]) for p in data["packages"] if p["layer"] == key_of[layer.diff_id])
        assert got == want
        want_f = sorted((f.vulnerability_id, f.package.name, f.fixed_version, f.severity, f.kev)
                        for f in report.findings if f.package.layer == layer)
        got_f = sorted((f["id"], f["name"], f["fixed"], f["severity"], f["kev"])
                       for f in data["findings"] if f["layer"] == key_of[layer.diff_id])
        assert got_f == want_f
    assert len(data["findings"]) == len(report.findings)
    assert data["artifact"]["os"]["eosl"] is True
    assert data["notes"] == [{"path": "app/broken.jar", "reason": f"corrupt zip {HOSTILE}"}]
    assert data["artifact"]["policy"] == {"exit_code": report.policy.exit_code, "failing": report.policy.failing,
                                          "eol": report.policy.eol,
                                          "expired_ignores": list(report.policy.expired_ignores)}


def test_findings_link_to_primary_url_and_severity_order(page: str, report: ScanReport) -> None:
    data = data_block(page)
    order = data["severities"]
    ranks = [order.index(f["severity"]) for f in data["findings"]]
    assert ranks == sorted(ranks)
    log4shell = [f for f in data["findings"] if f["id"] == "CVE-2021-44228"]
    assert log4shell and log4shell[0]["url"].startswith("https://")
    assert log4shell[0]["kev"] is True  # from the CISA catalogue in the corpus


def test_self_contained_offline(page: str) -> None:
    assert "<link" not in page
    assert not re.search(r"<script[^>]*\bsrc=", page)
    assert not re.search(r"url\(", page)
    assert "Content-Security-Policy" in page and "default-src 'none'" in page
    assert page.count("<script") == 2  # the data block and the inline script


# ---------------------------------------------------------------- escaping

def test_hostile_strings_stay_inert(page: str) -> None:
    block = re.search(r'id="%s">(.*?)</script>' % DATA_ELEMENT_ID, page, re.S).group(1)
    assert "<" not in block and ">" not in block and "&" not in block
    assert "<img" not in page and "onerror=alert(1)>" not in page
    assert "alert(2)</script>" not in page
    data = data_block(page)
    names = {p["name"] for p in data["packages"]}
    assert HOSTILE in names  # intact as data, rendered by textContent
    assert any(f["title"] == HOSTILE_TITLE for f in data["findings"])
    js = page[page.rindex("<script>"):]
    assert "innerHTML" not in js and "insertAdjacentHTML" not in js and "document.write" not in js


@pytest.mark.parametrize("value", [HOSTILE, HOSTILE_TITLE, "\u2028\u2029", "{{DATA}}", "a&amp;b"])
def test_embed_json_round_trips(value: str) -> None:
    text = embed_json({"v": value})
    assert not set(text) & {"<", ">", "&", "\u2028"}
    assert json.loads(text) == {"v": value}


def test_hostile_artifact_name_in_title() -> None:
    sbom = Sbom(artifact_name="{{DATA}}</title><script>alert(1)</script>", artifact_type="rootfs")
    page = render(build_report(sbom, created_at="2026-01-01T00:00:00Z", tool_version="t"))
    title = re.search(r"<title>(.*?)</title>", page, re.S).group(1)
    assert "<" not in title and "{{DATA}}" in title
    assert page.count('id="layerscan-data"') == 1
    assert data_block(page)["artifact"]["name"] == sbom.artifact_name


# ---------------------------------------------------------------- targets without layers, no findings

def test_rootfs_single_pseudo_layer_zero_findings() -> None:
    pkgs = (Package(name="musl", version="1.2.4-r2", type="apk"), Package(name="flask", version="0.12", type="pypi"))
    sbom = Sbom(artifact_name="/srv/root", artifact_type="rootfs", os=OSInfo("alpine", "3.19.1"), packages=pkgs)
    data = data_block(render(build_report(sbom, created_at="2026-01-01T00:00:00Z", tool_version="t")))
    assert [layer["key"] for layer in data["layers"]] == [UNATTRIBUTED]
    assert data["layers"][0]["pseudo"] is True and "/srv/root" in data["layers"][0]["step"]
    assert sorted(p["name"] for p in data["packages"] if p["layer"] == UNATTRIBUTED) == ["flask", "musl"]
    assert data["findings"] == [] and data["artifact"]["scanned"] is False


def test_sbom_input_layers_render(tmp_path: Path) -> None:
    sbom = load_sbom(FIXTURES / "sbom/small-syft.cdx.json")
    data = data_block(render(build_report(sbom, created_at="2026-01-01T00:00:00Z", tool_version="t")))
    layer_ids = {p.layer.diff_id for p in sbom.packages if p.layer}
    assert {layer["diff_id"] for layer in data["layers"] if not layer["pseudo"]} == layer_ids
    assert len(data["packages"]) == len(sbom.packages)
    assert any("order" in n["reason"] for n in data["notes"])


def test_odd_layers_get_distinct_keys() -> None:
    """Layers without diff_id, repeated indexes, and packages without a layer next to layered ones."""
    odd = [LayerInfo(index=0, diff_id=""), LayerInfo(index=1, diff_id=""),
           LayerInfo(index=1, diff_id="sha256:" + "a" * 64)]
    pkgs = tuple(Package(name=f"p{i}", version="1", type="npm", layer=layer) for i, layer in enumerate(odd))
    pkgs += (Package(name="loose", version="1", type="npm"),)
    sbom = Sbom(artifact_name="odd", artifact_type="sbom", packages=pkgs)
    data = data_block(render(build_report(sbom, created_at="2026-01-01T00:00:00Z", tool_version="t")))
    keys = [layer["key"] for layer in data["layers"]]
    assert len(keys) == len(set(keys)) == 4 and keys[-1] == UNATTRIBUTED
    assert sorted(p["layer"] for p in data["packages"]) == sorted(keys)
