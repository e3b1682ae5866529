"""The table writer: widths, hostile text, SBOM-only mode."""

from __future__ import annotations

import io

import pytest

from fixtures.report.sample import FINDINGS, SBOM, sample_report
from layerscan.model import LayerInfo, Package, Sbom
from layerscan.report.document import build_report
from layerscan.report.table import ELLIPSIS, render, terminal_width, use_color


@pytest.mark.parametrize("width", [80, 100, 120, 160, 200, 300])
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


def _long_version_report():
    version = "2.2.0-2+deb9u1~really.a.very.long.backport.version.string.1"
    pkg = Package(name="libexpat1-with-a-rather-long-package-name", version=version, type="deb",
                  layer=LayerInfo(0, "sha256:x", created_by="RUN apt-get install -y libexpat1"))
    return version, build_report(Sbom("img", "container_image", packages=(pkg,)), created_at="x")


@pytest.mark.parametrize("width", [80, 120])
def test_narrow_columns_wrap_instead_of_clipping_what_users_act_on(width: int):
    version, report = _long_version_report()
    text = render(report, width)
    assert max(len(line) for line in text.splitlines()) <= width
    cells = [line.split("│")[2].strip() for line in text.splitlines() if line.startswith("│ ")]
    assert version in "".join(cells[1:])  # the version column, wrapped over several lines
    assert ELLIPSIS not in "".join(cells)


def test_width_follows_columns_without_a_cap(monkeypatch):
    monkeypatch.setenv("COLUMNS", "240")
    assert terminal_width(io.StringIO()) == 240
    monkeypatch.delenv("COLUMNS")
    assert terminal_width(io.StringIO()) == 120  # not a terminal: pipes and -o files


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_severities_are_coloured_on_a_terminal_unless_no_color(monkeypatch):
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.delenv("FORCE_COLOR", raising=False)
    monkeypatch.setenv("TERM", "xterm")
    assert use_color(_Tty()) and not use_color(io.StringIO())
    monkeypatch.setenv("NO_COLOR", "1")
    assert not use_color(_Tty())
    coloured = render(sample_report(list_all_pkgs=False), 160, color=True)
    assert "\x1b[31mHIGH\x1b[0m" in coloured and "\x1b[33mMEDIUM\x1b[0m" in coloured
    assert "\x1b" not in render(sample_report(list_all_pkgs=False), 160)


def test_colour_never_lets_hostile_text_through():
    evil = Package(name="HIGH\x1b[2J", version="1.0", type="pypi", layer=LayerInfo(0, "sha256:x"))
    text = render(build_report(Sbom("img", "container_image", packages=(evil,)), created_at="x"), 120, color=True)
    assert "\x1b[2J" not in text


def test_no_warnings_in_the_report():
    """End-of-life and expired ignore entries are the CLI's warnings (stderr), not table lines."""
    import dataclasses

    report = sample_report()
    report = dataclasses.replace(
        report, os=dataclasses.replace(report.os, eosl=True),
        policy=dataclasses.replace(report.policy, expired_ignores=(".trivyignore:3",)))
    assert report.os.eosl and report.policy.expired_ignores
    text = render(report, 160)
    assert "WARNING" not in text and "no longer" not in text and ".trivyignore:3" not in text
