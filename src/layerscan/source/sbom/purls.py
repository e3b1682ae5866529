"""Package URLs in SBOMs -> our Package fields and the OS they name.

The purl is the identity of a component in every SBOM format; our package
naming conventions are those of the analyzers:

    pkg:maven/org.apache/log4j-core@2.14.1   -> name "org.apache:log4j-core"
    pkg:npm/%40babel/core@7.0.0              -> name "@babel/core"
    pkg:golang/github.com/x/y@v1.2.3         -> name "github.com/x/y"
    pkg:composer/vendor/name@1.0             -> name "vendor/name"
    pkg:deb/debian/libc6@2.36-9?epoch=1      -> version "1:2.36-9"
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from packageurl import PackageURL

from layerscan.ecosystems import purl_namespace_ids
from layerscan.model import OSInfo
from layerscan.model.image import OS_RELEASE_FAMILIES

# purl types that name the scanned artifact itself, never a package in it.
ARTIFACT_TYPES = frozenset({"oci", "docker"})
# Types whose name carries the namespace, and the separator we use.
_QUALIFIED: Mapping[str, str] = {"maven": ":", "npm": "/", "golang": "/", "composer": "/",
                                 "swift": "/", "github": "/", "conan": "/"}
_EPOCH_TYPES = frozenset({"deb", "rpm"})
# purl namespace of an OS package -> os-release ID, where they differ (Distro.purl_namespaces).
_NAMESPACE_IDS: Mapping[str, str] = purl_namespace_ids()


@dataclass(frozen=True)
class PurlFacts:
    """What a purl says about a package (empty strings where it says nothing)."""

    type: str
    name: str
    version: str
    arch: str = ""
    src_name: str = ""
    src_version: str = ""
    distro: str = ""  # the distro qualifier ("debian-12", "alpine-3.19.1")
    namespace: str = ""


def parse_purl(text: str) -> PackageURL | None:
    """packageurl-python's parse, None for anything that is not a valid purl."""
    if not text or len(text) > 4096 or not text.startswith("pkg:"):
        return None
    try:
        return PackageURL.from_string(text)
    except (ValueError, TypeError):
        return None


def package_type(purl_type: str) -> str:
    """``Package.type`` of a purl type: the purl type itself, lower-cased (``PackageType`` values
    are purl types; others, "alpm", "cocoapods", pass through as they are)."""
    return purl_type.lower()


def qualified_name(purl: PackageURL) -> str:
    sep = _QUALIFIED.get(purl.type)
    if sep and purl.namespace:
        return f"{purl.namespace}{sep}{purl.name}"
    return purl.name


def _qualifiers(purl: PackageURL) -> dict[str, str]:
    quals = purl.qualifiers
    return {str(k): str(v) for k, v in quals.items()} if isinstance(quals, dict) else {}


def _with_epoch(version: str, epoch: str) -> str:
    if epoch and epoch != "0" and ":" not in version:
        return f"{epoch}:{version}"
    return version


def _upstream(value: str) -> tuple[str, str]:
    """Syft's ``upstream`` qualifier: "glibc" or "glibc@2.36-9"."""
    name, _, version = value.partition("@")
    return name.strip(), version.strip()


def purl_facts(purl: PackageURL) -> PurlFacts:
    quals = _qualifiers(purl)
    version = purl.version or ""
    if purl.type in _EPOCH_TYPES:
        version = _with_epoch(version, quals.get("epoch", ""))
    src_name, src_version = _upstream(quals.get("upstream", ""))
    return PurlFacts(type=package_type(purl.type), name=qualified_name(purl), version=version,
                     arch=quals.get("arch", ""), src_name=src_name, src_version=src_version,
                     distro=quals.get("distro", ""), namespace=purl.namespace or "")


def os_from_name(name: str, version: str, *, pretty_name: str = "", codename: str = "") -> OSInfo | None:
    """An OS component ("debian" "12.9", Syft's "rhel" "9.3") as our OSInfo family/name."""
    os_id = name.strip().lower()
    if not os_id or not version.strip():
        return None
    family = OS_RELEASE_FAMILIES.get(_NAMESPACE_IDS.get(os_id, os_id), os_id)
    return OSInfo(family=family, name=version.strip(), pretty_name=pretty_name, codename=codename)


def os_from_distro(distro: str, namespace: str = "") -> OSInfo | None:
    """The ``distro`` qualifier ("debian-12.9", "alpine-3.19.1", "opensuse-leap-15.5")."""
    head, dash, tail = distro.strip().rpartition("-")
    if dash and head and tail[:1].isdigit():
        return os_from_name(head, tail)
    if distro.strip()[:1].isdigit() and namespace:  # Trivy once wrote distro=<version> only
        return os_from_name(namespace, distro.strip())
    return None
