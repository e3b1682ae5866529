"""OS detection: every os-release case of the corpus, precedence rules, bad input."""

from __future__ import annotations

from pathlib import Path

import pytest

from layerscan.analyzers.os.release import OSReleaseAnalyzer, infer_os, parse_os_release, pick_os
from layerscan.model import OSInfo
from os_analyzer_helpers import case_files, corpus_cases, load_case


def detect(files: dict[str, bytes]) -> OSInfo | None:
    analyzer = OSReleaseAnalyzer()
    found = []
    for path, data in files.items():
        if analyzer.wants(path, 0o100644, len(data)):
            result = analyzer.analyze(path, data)
            if result.os is not None:
                found.append((path, result.os))
    return pick_os(found)


@pytest.mark.parametrize("case", corpus_cases("os-release"))
def test_corpus_os_release(corpus: Path, case: str) -> None:
    case_dir, expected = load_case(corpus, "os-release", case)
    files = {rel: path.read_bytes() for rel, path in case_files(case_dir)}
    assert set(expected["inputs"]) <= set(files)
    results = [OSReleaseAnalyzer().analyze(rel, data) for rel, data in files.items()]
    assert not [u for r in results for u in r.unknowns]
    picked = detect(files)
    assert picked is not None
    assert (picked.family, picked.name) == (expected["os"]["family"], expected["os"]["name"])


UBUNTU_OS_RELEASE = b'NAME="Ubuntu"\nVERSION_ID="22.04"\nID=ubuntu\nID_LIKE=debian\nVERSION_CODENAME=jammy\n'
UBUNTU_LSB = b"DISTRIB_ID=Ubuntu\nDISTRIB_RELEASE=22.04\nDISTRIB_CODENAME=jammy\n"
DEBIAN_OS_RELEASE = b'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nVERSION_ID="12"\nID=debian\nVERSION_CODENAME=bookworm\n'


def test_ubuntu_beats_its_debian_version() -> None:
    os_info = detect(
        {"etc/os-release": UBUNTU_OS_RELEASE, "etc/lsb-release": UBUNTU_LSB, "etc/debian_version": b"bookworm/sid\n"}
    )
    assert os_info is not None
    assert (os_info.family, os_info.name, os_info.codename) == ("ubuntu", "22.04", "jammy")


def test_debian_point_release_from_debian_version() -> None:
    os_info = detect({"etc/os-release": DEBIAN_OS_RELEASE, "etc/debian_version": b"12.5\n"})
    assert os_info is not None
    assert (os_info.family, os_info.name) == ("debian", "12.5")
    assert os_info.pretty_name == "Debian GNU/Linux 12 (bookworm)"


def test_debian_version_alone_suffices() -> None:
    os_info = detect({"etc/debian_version": b"11.9\n"})
    assert os_info == OSInfo(family="debian", name="11.9")


def test_distroless_without_release_files_is_debian_with_unknown_release() -> None:
    assert detect({}) is None
    assert infer_os(["deb", "pypi"]) == OSInfo(family="debian", name="")
    assert infer_os(["pypi"]) is None


@pytest.mark.parametrize(
    ("files", "family", "name"),
    [
        (
            {"etc/redhat-release": b"Oracle Linux Server release 8.10\n", "etc/oracle-release": b"Oracle Linux Server release 8.10\n"},
            "oracle",
            "8.10",
        ),
        (
            {"etc/redhat-release": b"CentOS Linux release 7.9.2009 (Core)\n", "etc/os-release": b'ID="centos"\nVERSION_ID="7"\n'},
            "centos",
            "7.9.2009",
        ),
        ({"etc/redhat-release": b"Red Hat Enterprise Linux release 8.9 (Ootpa)\n"}, "redhat", "8.9"),
        # Amazon names as Trivy reports them (its amazon detector reads these forms).
        ({"etc/system-release": b"Amazon Linux release 2 (Karoo)\n"}, "amazon", "2 (Karoo)"),
        ({"etc/system-release": b"Amazon Linux AMI release 2018.03\n"}, "amazon", "AMI release 2018.03"),
        (
            {"usr/lib/system-release": b"Amazon Linux release 2023 (Amazon Linux)\n", "etc/os-release": b'ID="amzn"\nVERSION_ID="2023"\n'},
            "amazon",
            "2023 (Amazon Linux)",
        ),
        ({"x86_64-bottlerocket-linux-gnu/sys-root/usr/lib/os-release": b"ID=bottlerocket\nVERSION_ID=1.34.0\n"}, "bottlerocket", "1.34.0"),
        ({"etc/alpine-release": b"3.19.1\n"}, "alpine", "3.19.1"),
        ({"etc/photon-release": b"VMware Photon OS 4.0\nPHOTON_BUILD_NUMBER=1526e30ba\n"}, "photon", "4.0"),
        ({"etc/SuSE-release": b"SUSE Linux Enterprise Server 12 (x86_64)\nVERSION = 12\nPATCHLEVEL = 3\n"}, "suse linux enterprise server", "12.3"),
        ({"usr/lib/os-release": b"ID=wolfi\nVERSION_ID=20230201\n"}, "wolfi", "20230201"),
        ({"etc/os-release": b"ID=alpine\r\nVERSION_ID=3.18.4\r\n", "usr/lib/os-release": b"ID=alpine\nVERSION_ID=3.0\n"}, "alpine", "3.18.4"),
    ],
)
def test_release_files(files: dict[str, bytes], family: str, name: str) -> None:
    os_info = detect(files)
    assert os_info is not None
    assert (os_info.family, os_info.name) == (family, name)


def test_unknown_os_release_id_is_not_an_os() -> None:
    assert parse_os_release(b"ID=plan9\nVERSION_ID=4\n") is None
    assert parse_os_release(b"VERSION_ID=4\n") is None  # no ID
    assert parse_os_release(b"ID=alpine\n") is None  # no VERSION_ID
    assert OSReleaseAnalyzer().analyze("etc/os-release", b"ID=plan9\n").empty


def test_lsb_release_of_a_non_ubuntu_derivative_is_ignored() -> None:
    assert detect({"etc/lsb-release": b"DISTRIB_ID=LinuxMint\nDISTRIB_RELEASE=21\n"}) is None


@pytest.mark.parametrize(
    ("path", "data"),
    [
        ("etc/os-release", b"\x7fELF\x00\x00\x01garbage"),
        ("etc/redhat-release", b"not a release line at all"),
        ("etc/system-release", b"Amazon Linux release 2"),  # AL2 without its code name
        ("etc/debian_version", b""),
        ("etc/alpine-release", b"x" * 5000),
    ],
)
def test_bad_release_files_become_unknowns(path: str, data: bytes) -> None:
    result = OSReleaseAnalyzer().analyze(path, data)
    assert result.os is None
    assert [u.path for u in result.unknowns] == [path]


def test_only_release_paths_are_wanted() -> None:
    analyzer = OSReleaseAnalyzer()
    assert analyzer.wants("etc/os-release", 0o100644, 10)
    assert not analyzer.wants("etc/os-release.bak", 0o100644, 10)
    assert not analyzer.wants("home/u/etc/os-release", 0o100644, 10)
