"""`layerscan image --input` end to end on the standard test image (tests/imagebuild.py):
JSON metadata and layer attribution, the same results from docker-archive and OCI
layout, and every SBOM format validated on real pipeline output."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from test_cli_main import run_cli

imagebuild = pytest.importorskip("imagebuild")


def _stanzas(status: str) -> dict[str, dict[str, str]]:
    out = {}
    for block in status.strip().split("\n\n"):
        fields = dict(re.findall(r"^([A-Za-z-]+): (.*)$", block, re.M))
        out[fields["Package"]] = fields
    return out


@pytest.fixture(scope="module")
def images(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, object]:
    work = tmp_path_factory.mktemp("cli-image")
    img = imagebuild.sample_image()
    img.write_docker_archive(work / "app.tar", "team/app:1.0")
    img.write_oci_dir(work / "oci", tag="1.0")
    return work, img


def _scan(work: Path, *args: str) -> dict:
    proc = run_cli("image", *args, "-f", "json", "--list-all-pkgs", "--scanners", "none", "--no-cache", cwd=work)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def test_json_metadata_and_layer_attribution(images):
    work, img = images
    doc = _scan(work, "--input", "app.tar")
    assert doc["ArtifactType"] == "container_image"
    md = doc["Metadata"]
    assert md["ImageID"] == img.config_digest
    assert md["DiffIDs"] == img.diff_ids
    assert md["OS"]["Family"] == "debian"
    os_result = doc["Results"][0]
    assert (os_result["Class"], os_result["Type"]) == ("os-pkgs", "debian")
    layers = imagebuild.sample_layers()
    base = _stanzas(imagebuild.DPKG_STATUS_BASE)
    upgraded_layer = len(layers) - 1
    pkgs = {p["Name"]: p for p in os_result["Packages"]}
    assert set(pkgs) == set(base)
    for name, pkg in pkgs.items():
        changed = name == "zlib1g"  # the last layer upgrades zlib1g (see sample_layers)
        index = upgraded_layer if changed else 0
        assert pkg["Layer"]["Index"] == index, name
        assert pkg["Layer"]["DiffID"] == img.diff_ids[index]
        assert pkg["Layer"]["CreatedBy"] == layers[index].created_by
        full = (pkg.get("Epoch") and f"{pkg['Epoch']}:" or "") + pkg["Version"] + (
            f"-{pkg['Release']}" if pkg.get("Release") else "")
        assert pkg["ID"] == f"{name}@{full}"
        if not changed:
            assert full == base[name]["Version"]


def test_docker_archive_and_oci_layout_agree(images):
    work, _ = images
    a = _scan(work, "--input", "app.tar")
    b = _scan(work, "--input", "oci:1.0")

    def packages(doc):
        return sorted((p["Name"], p["Version"], p["Layer"]["DiffID"]) for r in doc["Results"] for p in r["Packages"])

    assert packages(a) == packages(b)


def test_cyclonedx_of_a_real_image_validates(images):
    from test_report_schema import _cdx_validator, _errors

    work, img = images
    proc = run_cli("image", "--input", "app.tar", "-f", "cyclonedx", "-o", "sbom.cdx.json", "--no-cache", cwd=work)
    assert proc.returncode == 0, proc.stderr
    bom = json.loads((work / "sbom.cdx.json").read_text())
    assert _errors(_cdx_validator(), bom) == []
    diff_ids = {p["value"] for c in bom["components"] for p in c.get("properties", [])
                if p["name"] == "layerscan:layer:diff_id"}
    assert diff_ids <= set(img.diff_ids) and diff_ids
    assert "vulnerabilities" not in bom  # SBOM format: no database consulted by default


def test_spdx_of_a_real_image_validates(images):
    pytest.importorskip("spdx_tools")
    from spdx_tools.spdx.parser.jsonlikedict.json_like_dict_parser import JsonLikeDictParser
    from spdx_tools.spdx.validation.document_validator import validate_full_spdx_document

    work, _ = images
    proc = run_cli("image", "--input", "app.tar", "-f", "spdx-json", "--no-cache", cwd=work)
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert [m.validation_message for m in validate_full_spdx_document(JsonLikeDictParser().parse(doc))] == []


def test_table_shows_the_layer_step(images):
    work, _ = images
    proc = run_cli("image", "--input", "app.tar", "--no-cache", "-q", "--scanners", "none", cwd=work,
                   env={"COLUMNS": "120"})
    assert proc.returncode == 0, proc.stderr
    assert "#3 RUN apt-get install" in proc.stdout
    assert max(len(line) for line in proc.stdout.splitlines()) <= 120


def test_layer_cache_rescan_gives_the_same_sbom(images):
    work, _ = images
    args = ("image", "--input", "app.tar", "-f", "json", "--list-all-pkgs", "--scanners", "none")
    first = run_cli(*args, cwd=work)
    second = run_cli(*args, cwd=work)
    assert first.returncode == second.returncode == 0

    def strip(text: str) -> dict:
        doc = json.loads(text)
        doc.pop("CreatedAt")
        return doc

    assert strip(first.stdout) == strip(second.stdout)
