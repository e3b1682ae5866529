"""One record per package ecosystem: what the rest of the code knows about a package type.

The tables that used to be written out in several modules are derived from
:data:`ECOSYSTEMS` (each keeps its public name where it lives):

- ``model.package.OS_TYPES``: the types of kind ``OS``;
- ``match.namespace.LANGUAGE_NAMESPACES``: a language type -> the OSV ecosystem its
  advisories are filed under; OS packages are matched in their distribution's namespace
  when their type has a version scheme (``matched_os_types``);
- ``versions.ECOSYSTEM_SCHEME``: a package type and its OSV ecosystem -> version scheme
  (language records and :data:`DISTROS`);
- ``report.document``: Trivy's result grouping of installed packages (one aggregated
  result per ecosystem, or one per file) and ``report.json_input``: Trivy result types ->
  package type; an analyzer's ``result_type`` is one of a record's ``result_types``.

One :class:`Distro` per distribution (:data:`DISTROS`) gives ``model.image.OS_RELEASE_FAMILIES``
(os-release ID -> family), ``match.namespace``'s family -> (namespace, release parts) table and
its source-named rpm namespaces, the distro part of ``ECOSYSTEM_SCHEME``, the distributions in
``db.feeds.osv.DEFAULT_ECOSYSTEMS`` and ``source.sbom.purls``' purl namespace -> os-release ID.

The vocabularies the model's string fields take are here too, as ``StrEnum``s:
``PackageType`` (``Package.type``), ``Severity`` (levels; ``model.advisory.SEVERITIES``)
and ``Status`` (``Affected.status``/``Finding.status``; ``model.advisory.STATUSES``).

Adding an ecosystem or a distribution = one record here + its modules (analyzers, a version
scheme if none fits, a feed; CONTRIBUTING.md). This module imports nothing from layerscan: it sits
below the model in the import order.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum


class PackageType(StrEnum):
    """``Package.type`` values (purl types)."""

    DEB = "deb"
    APK = "apk"
    RPM = "rpm"
    OPKG = "opkg"
    PYPI = "pypi"
    NPM = "npm"
    MAVEN = "maven"
    GOLANG = "golang"
    CARGO = "cargo"
    GEM = "gem"
    COMPOSER = "composer"
    NUGET = "nuget"
    CONDA = "conda"
    HEX = "hex"
    PUB = "pub"
    SWIFT = "swift"
    BITNAMI = "bitnami"
    PEAR = "pear"  # PECL/PEAR registry entries: listed, not matched (no advisories of ours)
    GENERIC = "generic"  # binaries identified by version strings (python, nginx, openssl): listed, not matched


class Severity(StrEnum):
    """Severity levels, lowest first (the order ranks them); ``model.advisory.SEVERITIES``."""

    UNKNOWN = "UNKNOWN"
    LOW = "LOW"
    MEDIUM = "MEDIUM"
    HIGH = "HIGH"
    CRITICAL = "CRITICAL"


class Status(StrEnum):
    """A package's status for one advisory (Trivy's vocabulary); ``model.advisory.STATUSES``."""

    UNKNOWN = "unknown"
    NOT_AFFECTED = "not_affected"
    AFFECTED = "affected"
    FIXED = "fixed"
    UNDER_INVESTIGATION = "under_investigation"
    WILL_NOT_FIX = "will_not_fix"
    FIX_DEFERRED = "fix_deferred"
    END_OF_LIFE = "end_of_life"


class Kind(StrEnum):
    OS = "os"  # installed by the distribution's package manager; matched in the distro's namespace
    LANGUAGE = "language"  # a language package; matched in its OSV ecosystem


@dataclass(frozen=True)
class Ecosystem:
    type: PackageType
    kind: Kind
    scheme: str = ""  # version scheme name (versions._SCHEMES); "" = none of ours
    namespace: str = ""  # OSV ecosystem of its advisories (language packages only)
    installed_result: str = ""  # Trivy result Type of installed packages ("python-pkg", "gobinary")
    aggregated_target: str = ""  # Trivy gathers installed packages into one result with this Target
    result_types: tuple[str, ...] = ()  # every Trivy result Type whose packages are of this type


_L = Kind.LANGUAGE
ECOSYSTEMS: tuple[Ecosystem, ...] = (
    Ecosystem(PackageType.DEB, Kind.OS, "deb"),
    Ecosystem(PackageType.APK, Kind.OS, "apk"),
    Ecosystem(PackageType.RPM, Kind.OS, "rpm"),
    Ecosystem(PackageType.OPKG, Kind.OS),
    Ecosystem(PackageType.PYPI, _L, "pep440", "PyPI", "python-pkg", "Python",
              ("python-pkg", "pip", "pipenv", "poetry", "uv", "pdm", "pyproject", "pylock")),
    Ecosystem(PackageType.NPM, _L, "npm", "npm", "node-pkg", "Node.js",
              ("node-pkg", "npm", "yarn", "pnpm", "bun", "deno")),
    Ecosystem(PackageType.MAVEN, _L, "maven", "Maven", "jar", "Java", ("jar", "pom", "gradle", "sbt")),
    Ecosystem(PackageType.GOLANG, _L, "golang", "Go", "gobinary", "", ("gobinary", "gomod", "gomod-vendor")),
    Ecosystem(PackageType.CARGO, _L, "semver", "crates.io", "rustbinary", "", ("rustbinary", "cargo")),
    Ecosystem(PackageType.GEM, _L, "gem", "RubyGems", "gemspec", "Ruby", ("gemspec", "bundler")),
    Ecosystem(PackageType.COMPOSER, _L, "composer", "Packagist", "composer-vendor", "",
              ("composer", "composer-vendor")),
    Ecosystem(PackageType.NUGET, _L, "nuget", "NuGet", "dotnet-core", "", ("nuget", "dotnet-core", "packages-props",
                                                                                     "paket")),
    Ecosystem(PackageType.CONDA, _L, "", "", "conda-pkg", "Conda", ("conda-pkg", "conda-environment")),
    Ecosystem(PackageType.HEX, _L, "semver", "Hex"),
    Ecosystem(PackageType.PUB, _L, "", "Pub"),
    Ecosystem(PackageType.SWIFT, _L, "semver", "SwiftURL"),
    Ecosystem(PackageType.BITNAMI, _L, "semver", "Bitnami"),  # pkg:bitnami purls (Trivy's SBOMs of Bitnami images)
    Ecosystem(PackageType.PEAR, _L, result_types=("pear",)),
    Ecosystem(PackageType.GENERIC, _L, installed_result="binary", result_types=("binary",)),  # no feed covers it
)
BY_TYPE: dict[str, Ecosystem] = {str(e.type): e for e in ECOSYSTEMS}


def _languages() -> tuple[Ecosystem, ...]:
    return tuple(e for e in ECOSYSTEMS if e.kind is Kind.LANGUAGE)


def os_types() -> frozenset[str]:
    return frozenset(str(e.type) for e in ECOSYSTEMS if e.kind is Kind.OS)


def matched_os_types() -> frozenset[str]:
    """OS package types matched in their distribution's namespace: those with a version scheme
    (opkg has none of ours: its packages are listed, not matched)."""
    return frozenset(str(e.type) for e in ECOSYSTEMS if e.kind is Kind.OS and e.scheme)


def language_namespaces() -> dict[str, str]:
    """Language package type -> OSV ecosystem ("pypi" -> "PyPI")."""
    return {str(e.type): e.namespace for e in _languages() if e.namespace}


def language_schemes() -> dict[str, str]:
    """Language package type and OSV ecosystem -> version scheme name."""
    out: dict[str, str] = {}
    for e in _languages():
        if e.scheme:
            out[str(e.type)] = e.scheme
            if e.namespace:
                out[e.namespace] = e.scheme
    return out


def aggregated_results() -> dict[str, tuple[str, str]]:
    """Installed package type -> (Target, Type) of the one result Trivy gathers them in."""
    return {str(e.type): (e.aggregated_target, e.installed_result) for e in ECOSYSTEMS if e.aggregated_target}


def per_file_results() -> dict[str, str]:
    """Installed package type -> result Type, for types reported per file (binaries, vendor manifests)."""
    return {str(e.type): e.installed_result for e in ECOSYSTEMS if e.installed_result and not e.aggregated_target}


@dataclass(frozen=True)
class Distro:
    """A distribution: how its os-release IDs, advisory namespace and purls are read.

    ``family`` is ``OSInfo.family`` (what analyzers and SBOM readers make of ``os_ids``);
    "" for an OSV ecosystem whose versions we only compare (no OS maps to it)."""

    family: str
    type: PackageType | None  # purl type of its packages (deb, apk, rpm); None: not ours to say
    os_ids: tuple[str, ...] = ()  # os-release IDs mapped to ``family``
    namespace: str = ""  # advisory namespace prefix OS packages are matched in; "" = not matched
    parts: int = 1  # release components the namespace keeps ("Debian:12" 1, "Ubuntu:22.04" 2); 0 = rolling
    scheme: str = ""  # version scheme of its OSV ecosystems
    osv_names: tuple[str, ...] = ()  # further OSV ecosystem prefixes using ``scheme``
    aliases: tuple[str, ...] = ()  # other family spellings matched in ``namespace``
    purl_namespaces: tuple[str, ...] = ()  # purl namespaces naming it where they differ from ``os_ids[0]``
    source_named: bool = False  # its advisories name the source package, not the binary
    fetched: bool = False  # ``db update`` fetches its OSV ecosystem by default
    feeds: tuple[str, ...] = ()  # ``db update`` source keys of its own advisory feed (``db.needs``)


_DEB, _APK, _RPM = PackageType.DEB, PackageType.APK, PackageType.RPM
DISTROS: tuple[Distro, ...] = (
    Distro("debian", _DEB, ("debian",), "Debian", 1, "deb", source_named=True, fetched=True, feeds=("debian",)),
    Distro("ubuntu", _DEB, ("ubuntu",), "Ubuntu", 2, "deb", source_named=True, fetched=True),
    Distro("alpine", _APK, ("alpine",), "Alpine", 2, "apk", source_named=True, fetched=True, feeds=("alpine",)),
    Distro("alma", _RPM, ("almalinux",), "AlmaLinux", 1, "rpm", aliases=("almalinux",), purl_namespaces=("alma",),
           fetched=True),
    Distro("rocky", _RPM, ("rocky",), "Rocky Linux", 1, "rpm", fetched=True),
    Distro("redhat", _RPM, ("rhel",), "Red Hat", 1, "rpm", purl_namespaces=("redhat",), feeds=("redhat",)),
    Distro("centos", _RPM, ("centos",), "Red Hat", 1, "rpm", ("CentOS",), feeds=("redhat",)),
    Distro("oracle", _RPM, ("ol",), "Oracle Linux", 1, "rpm", purl_namespaces=("oracle",), feeds=("oracle",)),
    Distro("amazon", _RPM, ("amzn",), "Amazon Linux", 1, "rpm", purl_namespaces=("amazon",),
           feeds=("amazon",)),  # stream: namespace
    Distro("fedora", _RPM, ("fedora",), "Fedora", 1, "rpm"),
    Distro("photon", _RPM, ("photon",), "Photon OS", 1, "rpm", source_named=True, feeds=("photon",)),
    Distro("cbl-mariner", _RPM, ("mariner",), "Mariner", 2, "rpm", ("CBL-Mariner",), aliases=("mariner",),
           feeds=("mariner",)),
    Distro("azurelinux", _RPM, ("azurelinux",), "Azure Linux", 2, "rpm", feeds=("mariner",)),
    # major.minor = service pack: "SUSE:15.5" (db/suse_namespaces.py)
    Distro("suse linux enterprise server", _RPM, ("sles",), "SUSE", 2, "rpm", aliases=("sles",),
           purl_namespaces=("suse",), fetched=True),
    Distro("slem", _RPM, ("sle-micro", "sl-micro", "sle-micro-rancher"), "SUSE:Micro", 2, "rpm"),  # "SUSE:Micro:5.4"
    Distro("opensuse-leap", _RPM, ("opensuse-leap", "opensuse"), "openSUSE", 2, "rpm",  # Leap 42: bare "opensuse"
           aliases=("opensuse.leap",), fetched=True),
    Distro("opensuse-tumbleweed", _RPM, ("opensuse-tumbleweed",), "openSUSE:Tumbleweed", 0, "rpm"),
    Distro("wolfi", _APK, ("wolfi",), "Wolfi", 0, "apk", source_named=True, feeds=("wolfi",)),
    Distro("chainguard", _APK, ("chainguard",), "Chainguard", 0, "apk", source_named=True, feeds=("chainguard",)),
    Distro("minimos", _APK, ("minimos",), scheme="apk", osv_names=("MinimOS",)),  # detected, not matched
    Distro("echo", None, ("echo",)),
    Distro("coreos", None, ("coreos",)),
    Distro("activestate", None, ("activestate",)),
    Distro("bottlerocket", None, ("bottlerocket",)),  # detected only
    Distro("", _RPM, scheme="rpm", osv_names=("Mageia", "openEuler")),  # OSV ecosystems only
)


def _prefix(namespace: str) -> str:
    return namespace.partition(":")[0]


def os_release_families() -> dict[str, str]:
    """os-release ID -> ``OSInfo.family`` ("rhel" -> "redhat")."""
    return {os_id: d.family for d in DISTROS for os_id in d.os_ids}


def distro_namespaces() -> dict[str, tuple[str, int]]:
    """``OSInfo.family`` (and its aliases) -> (advisory namespace prefix, release parts it keeps)."""
    return {family: (d.namespace, d.parts) for d in DISTROS if d.namespace for family in (d.family, *d.aliases)}


def distro_schemes() -> dict[str, str]:
    """OS package type and distro OSV ecosystem prefix -> version scheme name."""
    out = {str(e.type): e.scheme for e in ECOSYSTEMS if e.kind is Kind.OS and e.scheme}
    for d in DISTROS:
        for name in (_prefix(d.namespace), *d.osv_names):
            if name and d.scheme:
                out[name] = d.scheme
    return out


def source_named_namespaces(package_type: str) -> frozenset[str]:
    """Namespace prefixes whose advisories name the source package of ``package_type``."""
    return frozenset(_prefix(d.namespace) for d in DISTROS if d.source_named and d.type == package_type)


def fetched_distros() -> tuple[str, ...]:
    """The distro OSV ecosystems ``db update`` fetches by default, in record order."""
    return tuple(d.namespace for d in DISTROS if d.fetched)


def purl_namespace_ids() -> dict[str, str]:
    """OS purl namespace -> os-release ID, where they differ ("redhat" -> "rhel")."""
    return {ns: d.os_ids[0] for d in DISTROS for ns in d.purl_namespaces}


_PEP503_SEPARATORS = re.compile(r"[-_.]+")


def pep503(name: str) -> str:
    """A PyPI project name normalised as PEP 503 says ("Foo_Bar.baz" -> "foo-bar-baz"): how
    PyPI names are compared (analyzers, purls, database keys, matching)."""
    return _PEP503_SEPARATORS.sub("-", name).lower()


def result_type_packages() -> dict[str, str]:
    """Trivy result Type -> package type ("poetry" -> "pypi"), for language results."""
    return {rtype: str(e.type) for e in _languages() for rtype in e.result_types}


__all__ = ["BY_TYPE", "DISTROS", "ECOSYSTEMS", "Distro", "Ecosystem", "Kind", "PackageType", "Severity", "Status",
           "aggregated_results", "distro_namespaces", "distro_schemes", "fetched_distros", "language_namespaces",
           "language_schemes", "matched_os_types", "os_release_families", "os_types", "pep503", "per_file_results",
           "purl_namespace_ids", "result_type_packages", "source_named_namespaces"]
