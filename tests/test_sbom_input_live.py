"""SBOM input end to end: our scan -> our CycloneDX -> load_sbom, and the SBOMs
Syft and Trivy write for the same test image (skipped when the tools are absent)."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from imagebuild import sample_image
from layerscan.model import Sbom
from layerscan.report.cyclonedx import bom
from layerscan.report.document import build_report
from layerscan.scan import ScanOptions, scan_image
from layerscan.source.open import open_image
from layerscan.source.sbom_input import load_sbom
from peers import trivy_binary as _trivy


@pytest.fixture(scope="module")
def image(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Sbom]:
    """The standard test image as a docker archive, and our own scan of it."""
    path = sample_image().write_docker_archive(tmp_path_factory.mktemp("img") / "img.tar", "layerscan/sample:1.0")
    with open_image(input_path=str(path)) as source:
        return path, scan_image(source, ScanOptions(mode="image"))


def _identity(sbom: Sbom) -> list[tuple[str, str, str, str]]:
    return sorted((p.name, p.version, p.src_name, p.src_version) for p in sbom.packages)


def test_our_cyclonedx_round_trip(image: tuple[Path, Sbom], tmp_path: Path) -> None:
    _, scanned = image
    assert scanned.packages
    out = tmp_path / "ours.cdx.json"
    out.write_text(json.dumps(bom(build_report(scanned, tool_version="t"))))
    loaded = load_sbom(out)
    assert _identity(loaded) == _identity(scanned)
    assert sorted((p.name, p.layer.index, p.layer.diff_id, p.layer.created_by) for p in loaded.packages) == \
        sorted((p.name, p.layer.index, p.layer.diff_id, p.layer.created_by) for p in scanned.packages)
    assert [(x.index, x.diff_id, x.created_by) for x in loaded.image.layers] == \
        [(x.index, x.diff_id, x.created_by) for x in scanned.image.layers]
    assert (loaded.os.family, loaded.os.name) == (scanned.os.family, scanned.os.name)
    assert loaded.artifact_name == scanned.artifact_name
    assert not loaded.unknowns


@pytest.mark.skipif(shutil.which("syft") is None, reason="syft is not installed")
def test_syft_sbom_of_the_same_image(image: tuple[Path, Sbom], tmp_path: Path) -> None:
    path, scanned = image
    out = tmp_path / "syft.cdx.json"
    subprocess.run(["syft", "scan", "-q", f"docker-archive:{path}", "-o", f"cyclonedx-json={out}"],
                   check=True, timeout=300, stdout=subprocess.DEVNULL)
    loaded = load_sbom(out)
    assert [p[:3] for p in _identity(loaded)] == [p[:3] for p in _identity(scanned)]
    assert loaded.os is not None and loaded.os.family == scanned.os.family
    # Syft credits the last layer that rewrote the dpkg database; we read its layer ids as given
    assert {p.layer.diff_id for p in loaded.packages} <= set(scanned.image.diff_ids)


@pytest.mark.skipif(_trivy() is None, reason="trivy is not installed")
@pytest.mark.parametrize("fmt", ["cyclonedx", "spdx-json", "spdx"])
def test_trivy_sbom_of_the_same_image(image: tuple[Path, Sbom], tmp_path: Path, fmt: str) -> None:
    path, scanned = image
    out = tmp_path / f"trivy.{fmt}"
    subprocess.run([_trivy(), "image", "-q", "--skip-db-update", "--skip-java-db-update", "--offline-scan",
                    "--cache-backend", "memory", "-f", fmt, "-o", str(out), "--input", str(path)],
                   check=True, timeout=300, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    loaded = load_sbom(out)
    assert [p[:3] for p in _identity(loaded)] == [p[:3] for p in _identity(scanned)]
    assert (loaded.os.family, loaded.os.name) == (scanned.os.family, scanned.os.name)
    if fmt != "spdx":  # tag-value carries no layer annotations
        assert {p.name: p.layer.diff_id for p in loaded.packages} == \
            {p.name: p.layer.diff_id for p in scanned.packages}


# ---------------------------------------------------------------- rescan through the CLI

def _metadata(name: str, version: str) -> str:
    return f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"


def _app_image(path: Path, corpus: Path) -> Path:
    """The sample base plus a pip layer and an npm layer holding packages the corpus
    advisories name (versions taken from those records' affected ranges)."""
    from imagebuild import LayerSpec, build_image, file, sample_layers

    minimist = json.loads((corpus / "feeds/osv-ghsa-curated/GHSA-xvch-5gv4-984h.json").read_text())
    introduced = next(e["introduced"] for a in minimist["affected"] for r in a["ranges"]
                      for e in r["events"] if e.get("introduced", "0") != "0")
    site = "usr/local/lib/python3.11/site-packages"
    layers = sample_layers()[:1] + [
        LayerSpec([file(f"{site}/Jinja2-2.10.dist-info/METADATA", _metadata("Jinja2", "2.10")),
                   file(f"{site}/urllib3-1.24.1.dist-info/METADATA", _metadata("urllib3", "1.24.1"))],
                  created_by="RUN /bin/sh -c pip install jinja2==2.10 urllib3==1.24.1"),
        LayerSpec([file("app/node_modules/minimist/package.json",
                        json.dumps({"name": "minimist", "version": introduced}))],
                  created_by="RUN /bin/sh -c npm ci"),
    ]
    return build_image(layers).write_docker_archive(path, "example/app:1.0")


def _cli(*argv: str) -> None:
    from layerscan.cli.main import main

    assert main(list(argv)) == 0


def _vulns(report: Path) -> set[tuple[str, str, str, str, str]]:
    doc = json.loads(report.read_text())
    return {(v["PkgName"].lower(), v["InstalledVersion"], v["VulnerabilityID"], v.get("FixedVersion", ""),
             v.get("Layer", {}).get("DiffID", ""))
            for r in doc["Results"] for v in r.get("Vulnerabilities", [])}


def test_sbom_rescan_finds_what_the_image_scan_finds(corpus: Path, tmp_path: Path) -> None:
    cache = str(tmp_path / "cache")
    feeds = corpus / "feeds"
    _cli("db", "import", "--cache-dir", cache, "-q", str(feeds / "osv-ghsa-curated"),
         str(feeds / "osv-pypi-pypa/pypa-advisory-database-vulns.zip"))
    image = _app_image(tmp_path / "app.tar", corpus)
    common = ("--cache-dir", cache, "-q")
    _cli("image", "--input", str(image), *common, "-f", "json", "-o", str(tmp_path / "image.json"))
    _cli("image", "--input", str(image), *common, "-f", "cyclonedx", "-o", str(tmp_path / "sbom.cdx.json"))
    _cli("sbom", str(tmp_path / "sbom.cdx.json"), *common, "-f", "json", "-o", str(tmp_path / "rescan.json"))
    expected = _vulns(tmp_path / "image.json")
    assert {v[0] for v in expected} >= {"jinja2", "urllib3", "minimist"}
    assert _vulns(tmp_path / "rescan.json") == expected
    trivy = _trivy()
    if trivy:  # Trivy's SBOM of the same image finds the same, in the same layers
        out = tmp_path / "trivy.cdx.json"
        subprocess.run([trivy, "image", "-q", "--skip-db-update", "--skip-java-db-update", "--offline-scan",
                        "--cache-backend", "memory", "-f", "cyclonedx", "-o", str(out), "--input", str(image)],
                       check=True, timeout=300, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        _cli("sbom", str(out), *common, "-f", "json", "-o", str(tmp_path / "trivy.json"))
        assert _vulns(tmp_path / "trivy.json") == expected
    # the HTML page of the rescan puts each finding in the layer the JSON names
    from test_report_html import data_block
    _cli("sbom", str(tmp_path / "sbom.cdx.json"), *common, "-f", "html", "-o", str(tmp_path / "r.html"))
    data = data_block((tmp_path / "r.html").read_text())
    diff_of = {layer["key"]: layer["diff_id"] for layer in data["layers"]}
    assert {(f["name"].lower(), f["version"], f["id"], f["fixed"], diff_of[f["layer"]])
            for f in data["findings"]} == expected


def test_cli_errors_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from layerscan.cli.main import main

    bad = tmp_path / "bad.json"
    bad.write_text('{"bomFormat": "CycloneDX", "components": [')
    assert main(["sbom", str(bad), "--sbom-only", "-q"]) == 3
    assert main(["sbom", str(tmp_path / "missing.json"), "--sbom-only", "-q"]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and "invalid JSON" in err and "no such file or directory" in err
