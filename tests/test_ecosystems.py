"""The ecosystem records (layerscan.ecosystems) and the tables derived from them agree with
the code that uses those tables: namespaces, version schemes, OS types, report grouping."""

from __future__ import annotations

import stat

import pytest

from layerscan.analyzers import all_analyzers, analyzers_for
from layerscan.analyzers.base import INSTALLED
from layerscan.analyzers.index import AnalyzerIndex
from layerscan.db.feeds.osv import DEFAULT_ECOSYSTEMS
from layerscan.db.update import DEFAULT_ECOSYSTEMS as UPDATE_DEFAULT_ECOSYSTEMS
from layerscan.ecosystems import (BY_TYPE, DISTROS, ECOSYSTEMS, Distro, Ecosystem, Kind, PackageType, Severity, Status,
                                  distro_namespaces, distro_schemes, purl_namespace_ids, result_type_packages,
                                  source_named_namespaces)
from layerscan.match.ranges import UNFIXED_STATUSES
from layerscan.model.advisory import SEVERITIES, STATUSES
from layerscan.match.namespace import os_namespace, package_namespace
from layerscan.model import OSInfo, Package
from layerscan.model.image import OS_RELEASE_FAMILIES
from layerscan.model.package import OS_TYPES
from layerscan.report.document import LANG_CLASS, result_key
from layerscan.source.sbom.purls import package_type
from layerscan.versions import ECOSYSTEM_SCHEME, get_scheme, scheme_names

LANGUAGES = [e for e in ECOSYSTEMS if e.kind is Kind.LANGUAGE]


def _ids(e: Ecosystem) -> str:
    return str(e.type)


def test_one_record_per_package_type() -> None:
    assert sorted(BY_TYPE) == sorted(t.value for t in PackageType) == sorted(str(e.type) for e in ECOSYSTEMS)
    assert PackageType.PYPI == "pypi" and f"{PackageType.GOLANG}" == "golang"  # StrEnum: a str everywhere


def test_os_types_are_the_os_records() -> None:
    assert OS_TYPES == {str(e.type) for e in ECOSYSTEMS if e.kind is Kind.OS}
    assert all(not e.namespace for e in ECOSYSTEMS if e.kind is Kind.OS)  # the distro's, from os-release


@pytest.mark.parametrize("eco", [e for e in ECOSYSTEMS if e.kind is Kind.OS], ids=_ids)
def test_os_packages_match_in_the_distros_namespace_when_versions_compare(eco: Ecosystem) -> None:
    debian = OSInfo(family="debian", name="12.5")
    expected = "Debian:12" if eco.scheme else ""  # opkg: no scheme of ours, listed but not matched
    assert package_namespace(Package("x", "1.0", str(eco.type)), debian) == expected


@pytest.mark.parametrize("eco", [e for e in ECOSYSTEMS if e.scheme], ids=_ids)
def test_scheme_resolves_by_type_and_namespace(eco: Ecosystem) -> None:
    assert eco.scheme in scheme_names()
    assert get_scheme(str(eco.type)).name == eco.scheme
    if eco.namespace:
        assert get_scheme(f"{eco.namespace}:x").name == eco.scheme


@pytest.mark.parametrize("eco", LANGUAGES, ids=_ids)
def test_language_packages_match_in_their_namespace(eco: Ecosystem) -> None:
    assert package_namespace(Package("x", "1.0", str(eco.type)), None) == eco.namespace


@pytest.mark.parametrize("eco", [e for e in LANGUAGES if e.installed_result], ids=_ids)
def test_installed_packages_are_grouped_as_trivy_does(eco: Ecosystem) -> None:
    pkg = Package("x", "1.0", str(eco.type), file_path="usr/lib/app/x.bin")
    target, cls, rtype = result_key(pkg, "img:1", "container_image", None)
    assert cls == LANG_CLASS and rtype == eco.installed_result
    assert target == (eco.aggregated_target or "usr/lib/app/x.bin")
    assert result_type_packages()[rtype] == str(eco.type)  # and a Trivy report of that Type reads back


def test_every_result_type_names_one_package_type() -> None:
    seen = [rtype for e in ECOSYSTEMS for rtype in e.result_types]
    assert len(seen) == len(set(seen))


# ---- report results typed by the analyzer that found the packages (Analyzer.result_type) ----

FS_ANALYZERS = analyzers_for("fs")
FS_INDEX = AnalyzerIndex(FS_ANALYZERS)

# The lockfile names the report used to map to a result Type itself (and the patterns it
# knew): each is read by one analyzer, whose declared type gives the same result.
LOCKFILE_RESULTS = {
    "requirements.txt": "pip", "requirements-dev.txt": "pip", "Pipfile.lock": "pipenv", "poetry.lock": "poetry",
    "uv.lock": "uv", "pdm.lock": "pdm", "pylock.toml": "pylock", "pyproject.toml": "pyproject",
    "package-lock.json": "npm", "npm-shrinkwrap.json": "npm", "yarn.lock": "yarn", "pnpm-lock.yaml": "pnpm",
    "bun.lock": "bun", "deno.lock": "deno", "go.mod": "gomod", "vendor/modules.txt": "gomod-vendor",
    "Cargo.lock": "cargo", "composer.lock": "composer", "Gemfile.lock": "bundler", "pom.xml": "pom",
    "gradle.lockfile": "gradle", "buildscript-gradle.lockfile": "gradle", "settings-gradle.lockfile": "gradle",
    "gradle/dependency-locks/compileClasspath.lockfile": "gradle", "build.sbt.lock": "sbt",
    "packages.lock.json": "nuget", "project.assets.json": "nuget", "packages.config": "packages-props",
    "paket.lock": "paket", "environment.yml": "conda-environment",
}


def _reader(path: str):
    found = [a for a in FS_INDEX.candidates(path, stat.S_IFREG | 0o644) if a.wants(path, stat.S_IFREG | 0o644, 100)]
    assert len(found) == 1, (path, [a.name for a in found])
    return found[0]


@pytest.mark.parametrize("name", sorted(LOCKFILE_RESULTS))
def test_lockfile_results_keep_their_type(name: str) -> None:
    analyzer = _reader(f"app/{name}")
    pkg = Package("x", "1.0", result_type_packages()[analyzer.result_type], file_path=f"app/{name}",
                  found_by=analyzer.name)
    assert result_key(pkg, "app", "filesystem", None) == (f"app/{name}", LANG_CLASS, LOCKFILE_RESULTS[name])


@pytest.mark.parametrize("analyzer", [a for a in all_analyzers() if a.result_type], ids=lambda a: a.name)
def test_results_are_typed_by_the_analyzer(analyzer) -> None:
    pkg_type = result_type_packages()[analyzer.result_type]
    pkg = Package("x", "1.0", pkg_type, file_path="srv/app/some-file", found_by=analyzer.name)
    if "fs" in analyzer.modes:
        assert result_key(pkg, "srv", "filesystem", None) == ("srv/app/some-file", LANG_CLASS, analyzer.result_type)
    if analyzer.modes & INSTALLED:
        eco = BY_TYPE[pkg_type]
        target, _, rtype = result_key(pkg, "img:1", "container_image", None)
        assert rtype == analyzer.result_type
        assert target == (eco.aggregated_target or "srv/app/some-file")


# Packages read from an SBOM (found_by "sbom") of the types Trivy reports one result per file
# for: typed by the analyzer that declares the file's name, else the ecosystem's installed type.
SBOM_RESULTS = [("golang", "src/go.mod", "gomod"), ("golang", "vendor/modules.txt", "gomod-vendor"),
                ("golang", "usr/bin/app", "gobinary"), ("cargo", "Cargo.lock", "cargo"),
                ("cargo", "usr/bin/tool", "rustbinary"), ("composer", "composer.lock", "composer"),
                ("composer", "vendor/composer/installed.json", "composer-vendor"),
                ("nuget", "packages.lock.json", "nuget"), ("nuget", "obj/project.assets.json", "nuget"),
                ("nuget", "packages.config", "packages-props"), ("nuget", "paket.lock", "paket"),
                ("nuget", "app/app.deps.json", "dotnet-core")]


@pytest.mark.parametrize(("pkg_type", "path", "expected"), SBOM_RESULTS)
def test_sbom_packages_are_typed_by_the_declared_file_names(pkg_type: str, path: str, expected: str) -> None:
    pkg = Package("x", "1.0", pkg_type, file_path=path, found_by="sbom")
    assert result_key(pkg, "sbom.json", "sbom", None) == (path, LANG_CLASS, expected)


def test_severity_and_status_vocabularies() -> None:
    assert SEVERITIES == tuple(Severity) == ("UNKNOWN", "LOW", "MEDIUM", "HIGH", "CRITICAL")  # lowest first
    assert STATUSES == tuple(Status) and Status.WILL_NOT_FIX == "will_not_fix"
    assert all(type(s) is str for s in SEVERITIES + STATUSES)  # the model's constants stay plain strings
    assert UNFIXED_STATUSES <= set(Status)


# ---- the distribution tables, derived from ecosystems.DISTROS: each equals the literal it replaced ----

OLD_OS_RELEASE_FAMILIES = {
    "alpine": "alpine", "debian": "debian", "ubuntu": "ubuntu", "rhel": "redhat", "centos": "centos",
    "rocky": "rocky", "almalinux": "alma", "ol": "oracle", "amzn": "amazon", "fedora": "fedora",
    "photon": "photon", "mariner": "cbl-mariner", "azurelinux": "azurelinux",
    "opensuse-tumbleweed": "opensuse-tumbleweed", "opensuse-leap": "opensuse-leap", "opensuse": "opensuse-leap",
    "sles": "suse linux enterprise server", "sle-micro": "slem", "sl-micro": "slem", "sle-micro-rancher": "slem",
    "wolfi": "wolfi", "chainguard": "chainguard", "echo": "echo", "minimos": "minimos", "coreos": "coreos",
    "activestate": "activestate", "bottlerocket": "bottlerocket",
}
OLD_OS_ECOSYSTEMS = {
    "debian": ("Debian", 1), "ubuntu": ("Ubuntu", 2), "alpine": ("Alpine", 2), "alma": ("AlmaLinux", 1),
    "almalinux": ("AlmaLinux", 1), "rocky": ("Rocky Linux", 1), "redhat": ("Red Hat", 1),
    "centos": ("Red Hat", 1), "oracle": ("Oracle Linux", 1), "amazon": ("Amazon Linux", 1),
    "fedora": ("Fedora", 1), "photon": ("Photon OS", 1), "cbl-mariner": ("Mariner", 2), "mariner": ("Mariner", 2),
    "azurelinux": ("Azure Linux", 2), "opensuse-leap": ("openSUSE", 2), "opensuse.leap": ("openSUSE", 2),
    "opensuse-tumbleweed": ("openSUSE:Tumbleweed", 0), "suse linux enterprise server": ("SUSE", 2),
    "sles": ("SUSE", 2), "slem": ("SUSE:Micro", 2), "wolfi": ("Wolfi", 0), "chainguard": ("Chainguard", 0),
}
OLD_DISTRO_SCHEMES = {
    "deb": "deb", "Debian": "deb", "Ubuntu": "deb",
    "apk": "apk", "Alpine": "apk", "Wolfi": "apk", "Chainguard": "apk",
    "rpm": "rpm", "AlmaLinux": "rpm", "Rocky Linux": "rpm", "Red Hat": "rpm", "openSUSE": "rpm", "SUSE": "rpm",
    "Mageia": "rpm", "Amazon Linux": "rpm", "Oracle Linux": "rpm", "Fedora": "rpm", "CentOS": "rpm",
    "Photon OS": "rpm", "Azure Linux": "rpm", "CBL-Mariner": "rpm", "Mariner": "rpm", "openEuler": "rpm",
    "MinimOS": "apk",
}
OLD_DEFAULT_ECOSYSTEMS = (
    "PyPI", "npm", "Maven", "Go", "crates.io", "RubyGems", "Packagist", "NuGet", "Pub", "Hex",
    "Debian", "Ubuntu", "Alpine", "AlmaLinux", "Rocky Linux", "SUSE", "openSUSE", "Bitnami", "GitHub Actions",
)
OLD_PURL_TYPES = {  # purls._TYPES: purl type -> Package.type, the identity
    "deb": "deb", "apk": "apk", "rpm": "rpm", "alpm": "alpm", "opkg": "opkg",
    "pypi": "pypi", "npm": "npm", "maven": "maven", "golang": "golang", "cargo": "cargo",
    "gem": "gem", "composer": "composer", "nuget": "nuget", "conda": "conda",
    "hex": "hex", "pub": "pub", "swift": "swift", "cocoapods": "cocoapods", "conan": "conan",
    "bitnami": "bitnami", "hackage": "hackage", "cran": "cran", "github": "github",
}
OLD_PURL_NAMESPACE_IDS = {"redhat": "rhel", "amazon": "amzn", "oracle": "ol", "suse": "sles", "alma": "almalinux"}


def test_os_release_families_equal_the_old_table() -> None:
    assert dict(OS_RELEASE_FAMILIES) == OLD_OS_RELEASE_FAMILIES


def test_distro_namespaces_equal_the_old_table() -> None:
    assert distro_namespaces() == OLD_OS_ECOSYSTEMS


def test_distro_schemes_equal_the_old_table() -> None:
    assert distro_schemes() == OLD_DISTRO_SCHEMES
    assert {k: v for k, v in ECOSYSTEM_SCHEME.items() if k in OLD_DISTRO_SCHEMES} == OLD_DISTRO_SCHEMES


def test_default_ecosystems_equal_the_old_tuple() -> None:
    assert DEFAULT_ECOSYSTEMS == UPDATE_DEFAULT_ECOSYSTEMS == OLD_DEFAULT_ECOSYSTEMS


def test_purl_tables_equal_the_old_ones() -> None:
    assert purl_namespace_ids() == OLD_PURL_NAMESPACE_IDS
    assert {t: package_type(t) for t in OLD_PURL_TYPES} == OLD_PURL_TYPES
    assert all(package_type(str(t).upper()) == t for t in PackageType)  # every record's type is its purl type
    assert source_named_namespaces("rpm") == {"Photon OS"}  # lookup_name's old _SOURCE_NAMED_RPM


@pytest.mark.parametrize("distro", [d for d in DISTROS if d.namespace], ids=lambda d: d.family)
def test_matched_distros_have_a_scheme_of_their_type(distro: Distro) -> None:
    assert distro.scheme in scheme_names() and distro.type is not None and distro.scheme == str(distro.type)
    assert all(os_id in OS_RELEASE_FAMILIES for os_id in distro.os_ids)
    if distro.parts:  # a release is kept: "Debian:12"
        release = "2" if distro.namespace == "Amazon Linux" else "12.5"
        namespace = os_namespace(OSInfo(family=distro.family, name=release))
        assert namespace.startswith(distro.namespace + ":")
    else:
        assert os_namespace(OSInfo(family=distro.family, name="20240101")) == distro.namespace
    assert get_scheme(distro.namespace).name == distro.scheme
