"""dpkg/opkg analyzer: every deb case of the corpus, the whole Debian 9 status, bad input."""

from __future__ import annotations

import random
import re
from pathlib import Path

import pytest

from layerscan.analyzers.base import AnalysisResult
from layerscan.analyzers.os.dpkg import STATUS_D, DpkgAnalyzer, drop_directories, parse_file_list
from layerscan.model import Package
from os_analyzer_helpers import assert_package, case_files, corpus_cases, find, load_case, run_analyzer


def _analyze(data: bytes) -> AnalysisResult:
    return DpkgAnalyzer().analyze("var/lib/dpkg/status", data)


def _inputs(case_dir: Path, expected: dict) -> list[tuple[str, Path]]:
    """Input files at the path a scanner finds them. One scalibr case stores a
    distroless ``status.d/<pkg>`` file as ``var/lib/dpkg/status`` (its peer
    fixture path says so); it is analysed where it lives in an image."""
    files = case_files(case_dir)
    peer_fixture = expected["peer"].get("fixture", "")
    if "/status.d/" in peer_fixture:
        name = expected["peer"]["original_name"]
        files = [(STATUS_D + name if rel.endswith("/status") else rel, f) for rel, f in files]
    return files


@pytest.mark.parametrize("case", [c for c in corpus_cases("deb") if c != "real-debian9-stretch-image"])
def test_corpus_deb(corpus: Path, case: str) -> None:
    case_dir, expected = load_case(corpus, "deb", case)
    results = run_analyzer(DpkgAnalyzer(), _inputs(case_dir, expected))
    packages = [p for r in results for p in r.packages]
    for want in expected["packages"]:
        pkg = assert_package(find(packages, want["name"]), want)
        assert pkg.purl.startswith(f"pkg:{pkg.type}/")
    # No extra packages: deinstalled / half-installed / nameless / versionless stanzas are skipped.
    assert sorted(p.name for p in packages) == sorted(w["name"] for w in expected["packages"])


def test_md5sums_give_owned_files(corpus: Path) -> None:
    case_dir, _ = load_case(corpus, "deb", "trivy-dpkg-md5sums")
    md5sums = case_dir / "var/lib/dpkg/info/tar.md5sums"
    listed = [line.split()[1] for line in md5sums.read_text().splitlines() if line.strip()]
    results = run_analyzer(DpkgAnalyzer(), case_files(case_dir))
    owned = dict(o for r in results for o in r.owned_files)
    assert owned == {"deb:tar": tuple(listed)}


def test_debian9_stretch_whole_status(corpus: Path) -> None:
    status = corpus / "fixtures/deb/real-debian9-stretch-image/var/lib/dpkg/status"
    data = status.read_bytes()
    result = _analyze(data)
    installed = len(re.findall(rb"^Status: \S+ \S+ installed$", data, flags=re.M))
    assert installed == 492
    assert len(result.packages) == installed
    assert not result.unknowns
    by_name = {p.name: p for p in result.packages}
    assert len(by_name) == installed
    # Source fields as written in the stanza ("Source: name (version)" or just "name").
    for match in re.finditer(rb"^Package: (\S+)\n(?:(?!\n\n).)*?^Source: (\S+)(?: \((\S+)\))?$", data, re.M | re.S):
        pkg = by_name.get(match[1].decode())
        if pkg is not None:
            assert pkg.src_name == match[2].decode()
            if match[3]:
                assert pkg.src_version == match[3].decode()
            else:
                assert pkg.src_version == pkg.version


STATUS = b"""Package: libc6
Status: install ok installed
Architecture: amd64
Multi-Arch: same
Source: glibc
Version: 2.36-9+deb12u4
Description: GNU C Library
 multi-line
 .
 description

Package: bsdutils\r
Status: install ok installed\r
Architecture: amd64\r
Source: util-linux (2.38.1-5)\r
Version: 1:2.38.1-5+b1\r
\r
Package: gone
Status: deinstall ok config-files
Version: 1.0

Package: broken
Status: install ok installed
this line is garbage
Version: 3.0

Package: invalidpkg
Status: install ok installed
Source: invalidpkg-5 (5.#)
Version: 1:5.#
"""


def test_status_fields_crlf_and_damage() -> None:
    result = _analyze(STATUS)
    by_name = {p.name: p for p in result.packages}
    assert set(by_name) == {"libc6", "bsdutils", "broken"}
    libc = by_name["libc6"]
    assert (libc.src_name, libc.src_version, libc.arch) == ("glibc", "2.36-9+deb12u4", "amd64")
    assert libc.purl == "pkg:deb/debian/libc6@2.36-9%2Bdeb12u4?arch=amd64"
    bsd = by_name["bsdutils"]
    assert (bsd.version, bsd.src_name, bsd.src_version) == ("1:2.38.1-5+b1", "util-linux", "2.38.1-5")
    # The damaged stanza keeps its valid fields and is reported.
    assert [u.reason for u in result.unknowns] == [
        "stanza at line 22: line 24: not a 'Field: value' line",
        "stanza at line 27: package 'invalidpkg' has an invalid Version '1:5.#'",
    ]


def test_multiarch_list_file_owner_and_directories() -> None:
    analyzer = DpkgAnalyzer()
    path = "var/lib/dpkg/info/libc6:amd64.list"
    assert analyzer.wants(path, 0o100644, 10)
    data = b"/.\n/lib\n/lib/x86_64-linux-gnu\n/lib/x86_64-linux-gnu/libc.so.6\n/usr/share/doc/libc6/copyright\n"
    result = analyzer.analyze(path, data)
    assert result.owned_files == (
        ("deb:libc6", ("lib/x86_64-linux-gnu/libc.so.6", "usr/share/doc/libc6/copyright")),
    )


def test_wanted_paths() -> None:
    analyzer = DpkgAnalyzer()
    wanted = [
        "var/lib/dpkg/status",
        "var/lib/dpkg/status.d/base-files",
        "var/lib/dpkg/status.d/libssl3.md5sums",
        "var/lib/dpkg/info/tar.md5sums",
        "var/lib/opkg/status",
        "usr/lib/opkg/info/busybox.list",
    ]
    unwanted = ["var/lib/dpkg/status-old", "var/lib/dpkg/available", "var/lib/dpkg/info/tar.postinst", "x/var/lib/dpkg/status"]
    assert all(analyzer.wants(p, 0o100644, 1) for p in wanted)
    assert not any(analyzer.wants(p, 0o100644, 1) for p in unwanted)


def test_opkg_packages_have_their_own_type() -> None:
    result = DpkgAnalyzer().analyze("usr/lib/opkg/status", b"Package: ubus\nVersion: 1-r1\nStatus: install ok installed\n")
    assert [(p.type, p.purl) for p in result.packages] == [("opkg", "pkg:opkg/openwrt/ubus@1-r1")]


def test_hostile_inputs_never_raise() -> None:
    rng = random.Random(1234)
    blobs = [
        bytes(rng.getrandbits(8) for _ in range(20000)),
        b"Package: x\n" * 5000,
        b" continuation without field\n" * 1000,
        b"\n" * 100000,
        b"Package: \x00\xff\nStatus: install ok installed\nVersion: 1\n",
        STATUS[: len(STATUS) // 2],
    ]
    for blob in blobs:
        result = _analyze(blob)
        assert len(result.unknowns) <= 50
        assert all(isinstance(p, Package) and p.name and p.version for p in result.packages)
    files = parse_file_list(bytes(rng.getrandbits(8) for _ in range(5000)))
    assert all(not f.startswith("/") for f in files)


def test_drop_directories_keeps_files_only() -> None:
    assert drop_directories(["etc", "etc/a", "etc/b", "etc/b/c", "usr/x"]) == ("etc/a", "etc/b/c", "usr/x")


def test_repo_fixture_status_d(tmp_path: Path) -> None:
    """A distroless layout written by the test: status.d entries without Status and their md5sums."""
    root = tmp_path / "var/lib/dpkg/status.d"
    root.mkdir(parents=True)
    (root / "base").write_bytes(b"Package: base-files\nVersion: 12.4+deb12u5\nArchitecture: amd64\n")
    (root / "libssl3").write_bytes(b"Package: libssl3\nSource: openssl\nVersion: 3.0.11-1~deb12u2\nArchitecture: amd64\n")
    (root / "libssl3.md5sums").write_bytes(b"0123  usr/lib/x86_64-linux-gnu/libssl.so.3\n")
    files = [(p.relative_to(tmp_path).as_posix(), p) for p in sorted(root.iterdir())]
    results = run_analyzer(DpkgAnalyzer(), files)
    packages = {p.name: p for r in results for p in r.packages}
    assert packages["libssl3"].src_name == "openssl"
    assert packages["base-files"].version == "12.4+deb12u5"
    assert [o for r in results for o in r.owned_files] == [("deb:libssl3", ("usr/lib/x86_64-linux-gnu/libssl.so.3",))]
