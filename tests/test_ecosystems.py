"""The ecosystem records (layerscan.ecosystems) and the tables derived from them agree with
the code that uses those tables: namespaces, version schemes, OS types, report grouping."""

from __future__ import annotations

import pytest

from layerscan.ecosystems import BY_TYPE, ECOSYSTEMS, Ecosystem, Kind, PackageType, result_type_packages
from layerscan.match.namespace import package_namespace
from layerscan.model import OSInfo, Package
from layerscan.model.package import OS_TYPES
from layerscan.report.document import LANG_CLASS, result_key
from layerscan.versions import get_scheme, scheme_names

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
