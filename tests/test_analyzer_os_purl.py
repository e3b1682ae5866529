"""OS package purls: provisional form from the analyzers, completed by with_distro."""

from __future__ import annotations

from dataclasses import replace

import pytest
from packageurl import PackageURL

from layerscan.analyzers.os.apk import parse as parse_apk
from layerscan.analyzers.os.dpkg import parse as parse_dpkg
from layerscan.analyzers.os.purl import os_purl, with_distro
from layerscan.model import OSInfo, Package

DEB = parse_dpkg(
    b"Package: bsdutils\nStatus: install ok installed\nArchitecture: amd64\n"
    b"Source: util-linux (2.31.1-0.4ubuntu3.1)\nVersion: 1:2.31.1-0.4ubuntu3.1\n"
).packages[0]
APK = parse_apk(b"P:musl\nV:1.2.4-r2\nA:x86_64\no:musl\n").packages[0]


def test_analyzers_emit_purls_without_distro() -> None:
    deb = PackageURL.from_string(DEB.purl)
    assert (deb.type, deb.namespace, deb.name, deb.version) == ("deb", "debian", "bsdutils", "1:2.31.1-0.4ubuntu3.1")
    assert deb.qualifiers == {"arch": "amd64"}
    assert APK.purl == "pkg:apk/alpine/musl@1.2.4-r2?arch=x86_64"


@pytest.mark.parametrize(
    ("pkg", "os_info", "namespace", "distro"),
    [
        (DEB, OSInfo("ubuntu", "18.04"), "ubuntu", "ubuntu-18.04"),
        (DEB, OSInfo("debian", "12"), "debian", "debian-12"),
        (DEB, OSInfo("debian", ""), "debian", "debian"),  # distroless: release unknown
        (APK, OSInfo("wolfi", "20230201"), "wolfi", "wolfi-20230201"),
        (APK, OSInfo("alpine", "3.19.1"), "alpine", "alpine-3.19.1"),
    ],
)
def test_with_distro(pkg: Package, os_info: OSInfo, namespace: str, distro: str) -> None:
    purl = PackageURL.from_string(with_distro(pkg, os_info).purl)
    assert (purl.namespace, purl.qualifiers["distro"]) == (namespace, distro)
    assert (purl.name, purl.version, purl.qualifiers["arch"]) == (pkg.name, pkg.version, pkg.arch)


def test_rpm_epoch_is_a_qualifier_and_namespace_follows_the_family() -> None:
    pkg = Package(
        name="openssl-libs",
        version="1:1.1.1k-5.el8",
        type="rpm",
        purl=os_purl("rpm", "openssl-libs", "1.1.1k-5.el8", "x86_64", "1"),
    )
    purl = PackageURL.from_string(with_distro(pkg, OSInfo("alma", "8.9")).purl)
    assert (purl.namespace, purl.version) == ("almalinux", "1.1.1k-5.el8")
    assert purl.qualifiers == {"arch": "x86_64", "epoch": "1", "distro": "almalinux-8.9"}


def test_unchanged_without_os_or_for_language_packages() -> None:
    assert with_distro(DEB, None) is DEB
    pypi = Package(name="requests", version="2.31.0", type="pypi", purl="pkg:pypi/requests@2.31.0")
    assert with_distro(pypi, OSInfo("debian", "12")) is pypi
    broken = replace(DEB, purl="not a purl")
    assert with_distro(broken, OSInfo("debian", "12")) is broken


def test_missing_name_or_version_gives_no_purl() -> None:
    assert os_purl("deb", "", "1.0") == ""
    assert os_purl("deb", "x", "") == ""
