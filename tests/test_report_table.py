"""The table writer: widths, hostile text, SBOM-only mode."""

from __future__ import annotations

import pytest

from fixtures.report.sample import FINDINGS, SBOM, sample_report
from layerscan.model import LayerInfo, Package, Sbom
from layerscan.report.document import build_report
from layerscan.report.table import render


@pytest.mark.parametrize("width", [80, 100, 120, 160])
def test_fits_the_terminal(width: int):
    text = render(sample_report(), width)
    assert max(len(line) for line in text.splitlines()) <= width


def test_every_finding_and_severity_total_is_shown():
    text = render(sample_report(list_all_pkgs=False), 160)
    for f in FINDINGS:
        assert f.vulnerability_id in text
    assert "Total: 2 (UNKNOWN: 0, LOW: 0, MEDIUM: 1, HIGH: 1, CRITICAL: 0)" in text  # the two Debian findings


def test_sbom_only_lists_packages_with_layers():
    text = render(sample_report(scanned=False), 160)
    assert "Total:" not in text
    for p in SBOM.packages:
        assert p.name in text
    assert "#2 RUN pip install" in text


def test_hostile_names_cannot_drive_the_terminal():
    evil = Package(name="pkg\x1b[2J\x1b]0;pwned\x07", version="1.0\u202e", type="pypi",
                   file_path="a\r\nb", layer=LayerInfo(0, "sha256:x", created_by="RUN \x9b31m"))
    text = render(build_report(Sbom("img\x1b[31m", "container_image", packages=(evil,)), created_at="x"), 120)
    for bad in ("\x1b", "\x07", "\r", "\x9b", "\u202e"):
        assert bad not in text
