"""One record per package ecosystem: what the rest of the code knows about a package type.

The tables that used to be written out in several modules are derived from
:data:`ECOSYSTEMS` (each keeps its public name where it lives):

- ``model.package.OS_TYPES``: the types of kind ``OS``;
- ``match.namespace.LANGUAGE_NAMESPACES``: a language type -> the OSV ecosystem its
  advisories are filed under; OS packages are matched in their distribution's namespace
  when their type has a version scheme (``matched_os_types``);
- ``versions.ECOSYSTEM_SCHEME``: a language type and its OSV ecosystem -> version scheme
  (the distributions' entries are listed there);
- ``report.document``: Trivy's result grouping of installed packages (one aggregated
  result per ecosystem, or one per file) and ``report.json_input``: Trivy result types ->
  package type; an analyzer's ``result_type`` is one of a record's ``result_types``.

The vocabularies the model's string fields take are here too, as ``StrEnum``s:
``PackageType`` (``Package.type``), ``Severity`` (levels; ``model.advisory.SEVERITIES``)
and ``Status`` (``Affected.status``/``Finding.status``; ``model.advisory.STATUSES``).

Adding an ecosystem = one record here + its modules (analyzers, a version scheme if
none fits; CONTRIBUTING.md). This module imports nothing from layerscan: it sits
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


_PEP503_SEPARATORS = re.compile(r"[-_.]+")


def pep503(name: str) -> str:
    """A PyPI project name normalised as PEP 503 says ("Foo_Bar.baz" -> "foo-bar-baz"): how
    PyPI names are compared (analyzers, purls, database keys, matching)."""
    return _PEP503_SEPARATORS.sub("-", name).lower()


def result_type_packages() -> dict[str, str]:
    """Trivy result Type -> package type ("poetry" -> "pypi"), for language results."""
    return {rtype: str(e.type) for e in _languages() for rtype in e.result_types}


__all__ = ["BY_TYPE", "ECOSYSTEMS", "Ecosystem", "Kind", "PackageType", "Severity", "Status", "aggregated_results",
           "language_namespaces", "language_schemes", "matched_os_types", "os_types", "pep503", "per_file_results",
           "result_type_packages"]
