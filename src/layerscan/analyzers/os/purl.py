"""Package URLs for OS packages.

Analyzers do not know the OS, so they build the purl with a provisional
namespace and no ``distro`` qualifier (:func:`os_purl`). Once the image's OS is
known (after squash) the pipeline calls :func:`with_distro`, which sets the
namespace to the distribution and adds ``distro=<family>-<release>``:

    pkg:deb/debian/libc6@2.36-9+deb12u4?arch=amd64&distro=debian-12.5
    pkg:apk/alpine/musl@1.2.4-r2?arch=x86_64&distro=alpine-3.19.1
    pkg:rpm/redhat/openssl-libs@1.1.1k-5.el8?arch=x86_64&epoch=1&distro=redhat-8.9

deb purls carry the full version (epoch included, as dpkg writes it); rpm purls
carry ``version-release`` with the epoch as a qualifier (purl-spec's rpm type).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

from packageurl import PackageURL

from layerscan.model import OSInfo, Package

# Provisional namespaces, used until the OS is known.
DEFAULT_NAMESPACE: Mapping[str, str] = {"deb": "debian", "apk": "alpine", "rpm": "redhat", "opkg": "openwrt"}

# OS family -> purl namespace where they differ.
_FAMILY_NAMESPACE: Mapping[str, str] = {
    "alma": "almalinux",
    "cbl-mariner": "mariner",
    "suse linux enterprise server": "suse",
    "slem": "suse",
    "opensuse-leap": "opensuse",
    "opensuse-tumbleweed": "opensuse",
    "centos-stream": "centos",
}


def os_purl(pkg_type: str, name: str, version: str, arch: str = "", epoch: str = "") -> str:
    """purl without the distro qualifier; '' when name or version is missing."""
    if not name or not version:
        return ""
    qualifiers = {"arch": arch} if arch else {}
    if epoch and epoch != "0":
        qualifiers["epoch"] = epoch
    return PackageURL(
        type=pkg_type,
        namespace=DEFAULT_NAMESPACE.get(pkg_type),
        name=name,
        version=version,
        qualifiers=qualifiers or None,
    ).to_string()


def namespace_for(os_info: OSInfo) -> str:
    family = os_info.family.lower()
    return _FAMILY_NAMESPACE.get(family, family.replace(" ", "-"))


def with_distro(pkg: Package, os_info: OSInfo | None) -> Package:
    """The package with its purl's namespace and ``distro`` qualifier set from the OS.

    Non-OS packages, packages without a purl and an unknown OS are returned unchanged.
    """
    if os_info is None or not os_info.family or not pkg.purl or pkg.type not in DEFAULT_NAMESPACE:
        return pkg
    try:
        parsed = PackageURL.from_string(pkg.purl)
    except ValueError:
        return pkg
    qualifiers = dict(parsed.qualifiers) if isinstance(parsed.qualifiers, dict) else {}
    family = namespace_for(os_info)
    qualifiers["distro"] = f"{family}-{os_info.name}" if os_info.name else family
    purl = parsed._replace(namespace=family, qualifiers=qualifiers).to_string()
    return replace(pkg, purl=purl)
