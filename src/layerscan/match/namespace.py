"""Which advisory namespace (OSV ecosystem + release) a package is matched in.

OS packages are matched only against their distro's own advisories for the
detected release (DESIGN.md §3); language packages against their ecosystem.
"""

from __future__ import annotations

from typing import Callable, Iterable

from layerscan.ecosystems import (distro_namespaces, language_namespaces, matched_os_types, pep503,
                                  source_named_namespaces)
from layerscan.model import OSInfo, Package
from layerscan.model.package import OS_TYPES

# language package type -> OSV ecosystem ("pypi" -> "PyPI"), from the ecosystem records
LANGUAGE_NAMESPACES: dict[str, str] = language_namespaces()
_DISTRO_MATCHED = matched_os_types()  # deb, apk, rpm: OS types with a version scheme

# OS family -> (advisory namespace prefix, how many release components identify the stream),
# from the distribution records (layerscan.ecosystems.DISTROS)
_OS_ECOSYSTEMS = distro_namespaces()


# ecosystems whose OS advisories name the source package (spec), not the binary rpm (Photon OS)
_SOURCE_NAMED_RPM = source_named_namespaces("rpm")
_AMAZON_STREAMS = ("2", "2022", "2023")


def amazon_release(name: str) -> str:
    """The Amazon Linux advisory stream of an OS name: "2 (Karoo)" -> "2",
    "2023.6.20241111 (Amazon Linux)" -> "2023"; Amazon Linux 1 ("AMI release 2018.03",
    os-release's "2018.03") -> "1"; "" without a name."""
    fields = name.split()
    if not fields:
        return ""
    major = fields[0].split(".")[0]
    return major if major in _AMAZON_STREAMS else "1"


def os_namespace(os_info: OSInfo | None) -> str:
    """"Debian:12", "Alpine:v3.19", "Ubuntu:22.04", "AlmaLinux:8", "Amazon Linux:2"; "" if unknown."""
    if os_info is None:
        return ""
    entry = _OS_ECOSYSTEMS.get(os_info.family.lower())
    if entry is None:
        return ""
    eco, parts = entry
    if parts == 0:
        return eco
    if eco == "Amazon Linux":
        stream = amazon_release(os_info.name)
        return f"{eco}:{stream}" if stream else ""
    release = os_info.name.split()[0] if os_info.name else ""
    comps = release.split(".")
    if not release or not comps[0].isdigit():
        return ""
    stream = ".".join(comps[:parts])
    if eco == "Alpine":
        stream = "v" + stream
    return f"{eco}:{stream}"


def package_namespace(pkg: Package, os_info: OSInfo | None) -> str:
    if pkg.type in _DISTRO_MATCHED:
        return os_namespace(os_info)
    return LANGUAGE_NAMESPACES.get(pkg.type, "")


def unchecked_os_packages(packages: Iterable[Package], os_info: OSInfo | None,
                          has_namespace: Callable[[str], bool]) -> int:
    """How many OS packages no advisory can check: their distribution has no namespace
    (OS not detected or not mapped) or ``has_namespace`` says the database has no rows
    for it. 0 when every OS package's namespace has data (or there are none)."""
    os_packages = [p for p in packages if p.type in OS_TYPES]
    if not os_packages:
        return 0
    namespace = os_namespace(os_info)
    return len(os_packages) if not namespace or not has_namespace(namespace) else 0


def lookup_name(pkg: Package, namespace: str = "") -> str:
    """The name advisories use: the source package for deb/apk (Debian Source:,
    Alpine origin), the binary name for rpm (as the RPM distros publish errata) except
    where the distro names specs (Photon OS: the source rpm's name), group:artifact for
    Maven, the normalised name for PyPI."""
    if pkg.type in ("deb", "apk"):
        return pkg.src_name or pkg.name
    if pkg.type == "rpm" and namespace.partition(":")[0] in _SOURCE_NAMED_RPM:
        return pkg.src_name or pkg.name
    if pkg.type == "pypi":
        return pep503(pkg.name)
    return pkg.name


def compared_version(pkg: Package) -> str:
    """The version advisories are written against: Debian's tracker states fixed versions
    of the source package; Go's toolchain "go1.21.1" is the stdlib version 1.21.1."""
    if pkg.type == "deb" and pkg.src_version:
        return pkg.src_version
    if pkg.type == "golang" and pkg.version.startswith("go"):
        return pkg.version[2:]
    return pkg.version
