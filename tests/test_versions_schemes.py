"""Scheme registry and behaviour the vector files do not cover (Go forms, OSV events)."""

from __future__ import annotations

import pytest

from layerscan.versions import ECOSYSTEM_SCHEME, InvalidVersion, compare, get_scheme, scheme_names
from layerscan.versions.golang import pseudo_version, toolchain_to_semver


@pytest.mark.parametrize("ecosystem", sorted(ECOSYSTEM_SCHEME))
def test_every_ecosystem_resolves(ecosystem: str) -> None:
    assert get_scheme(f"{ecosystem}:1").name == ECOSYSTEM_SCHEME[ecosystem]


def test_schemes_are_singletons_and_named() -> None:
    for name in scheme_names():
        assert get_scheme(name) is get_scheme(name)
        assert get_scheme(name).name == name


def test_unknown_ecosystem_is_keyerror() -> None:
    with pytest.raises(KeyError):
        get_scheme("NoSuchEcosystem:1")


def test_compare_helper_uses_ecosystem_release_prefix() -> None:
    assert compare("Debian:12", "1:1.0", "2.0") == 1
    assert compare("Alpine:v3.19", "1.2_rc1", "1.2") == -1
    assert compare("crates.io", "1.0.0-alpha", "1.0.0") == -1
    assert compare("PyPI", "1.0.post1", "1.0") == 1
    with pytest.raises(InvalidVersion):
        compare("PyPI", "not a version", "1.0")


# Go: module versions with and without "v", +incompatible, pseudo-versions, toolchain names
GO_ORDER = [
    "v0.0.0-20180101000000-aaaaaaaaaaaa",
    "v0.0.0-20191109021931-daa7c04131f5",
    "v0.1.0",
    "v1.2.3",
    "v1.2.4-0.20191109021931-daa7c04131f5",
    "v1.2.4",
    "2.0.0+incompatible",
]


def test_go_module_order() -> None:
    go = get_scheme("Go")
    for lo, hi in zip(GO_ORDER, GO_ORDER[1:]):
        assert go.compare(lo, hi) == -1, (lo, hi)
    assert go.compare("v2.0.0+incompatible", "2.0.0") == 0
    assert go.compare("v1.2.3", "1.2.3") == 0


@pytest.mark.parametrize(("toolchain", "semver"), [
    ("go1.21", "1.21.0"), ("go1.21.5", "1.21.5"), ("go1.21rc2", "1.21.0-rc.2"), ("go1.9beta1", "1.9.0-beta.1"),
    ("1.21.5", "1.21.5"),
])
def test_go_toolchain_names(toolchain: str, semver: str) -> None:
    assert toolchain_to_semver(toolchain) == semver
    assert get_scheme("golang").compare(toolchain, semver) == 0


def test_go_stdlib_ranges() -> None:
    go = get_scheme("Go")
    events = [("introduced", "0"), ("fixed", "1.20.12"), ("introduced", "1.21.0-0"), ("fixed", "1.21.5")]
    assert go.in_range("go1.20.11", events)
    assert not go.in_range("go1.20.12", events)
    assert go.in_range("go1.21rc2", events)
    assert go.in_range("go1.21.4", events)
    assert not go.in_range("go1.21.5", events)


def test_go_pseudo_version_commit() -> None:
    p = pseudo_version("v1.2.4-0.20191109021931-daa7c04131f5")
    assert p is not None and (p.timestamp, p.revision) == ("20191109021931", "daa7c04131f5")
    assert pseudo_version("v1.2.4") is None
    with pytest.raises(InvalidVersion):
        get_scheme("Go").key("v1.2.3.4")


def test_in_range_multiple_intervals_and_limit() -> None:
    deb = get_scheme("deb")
    events = [("introduced", "1.0-1"), ("fixed", "1.2-1"), ("introduced", "2.0-1"), ("last_affected", "2.3-1")]
    assert [deb.in_range(v, events) for v in ("0.9-1", "1.0-1", "1.1-3", "1.2-1", "1.9", "2.0-1", "2.3-1", "2.3-2")] \
        == [False, True, True, False, False, True, True, False]
    assert deb.in_range("5.0", [("introduced", "0")])
    assert not deb.in_range("5.0", [("introduced", "0"), ("limit", "4.0")])
    with pytest.raises(InvalidVersion):
        deb.in_range("1.0", [("introduced", "0"), ("fixed", "not valid!")])


def test_keys_are_cached() -> None:
    from layerscan.versions.deb import deb_key
    deb_key.cache_clear()
    scheme = get_scheme("deb")
    for _ in range(3):
        scheme.compare("1.2.3-1", "1.2.3-2")
    assert deb_key.cache_info().hits >= 4


@pytest.mark.parametrize(("name", "version"), [
    ("apk", "1.2.3_foo"), ("deb", "a1.0"), ("deb", "1:"), ("rpm", ""), ("pep440", "1.0-bulbasaur"),
    ("semver", "1.2.x"), ("maven", "1.0 beta"), ("gem", "1..0"), ("nuget", "1.2.3.4.5"),
    ("composer", "..."), ("golang", "latest"), ("npm", "^1.2.3"),
])
def test_invalid_versions(name: str, version: str) -> None:
    assert not get_scheme(name).valid(version)


def test_in_range_overlapping_pairs_are_a_union() -> None:
    """PYSEC-2021-114 (wagtail) writes its ranges as overlapping pairs; its
    enumerated versions list 2.11.6 as affected."""
    pypi = get_scheme("PyPI")
    events = [("introduced", "2.11"), ("fixed", "2.11.7"), ("introduced", "0"), ("fixed", "2.11.6"),
              ("introduced", "2.12"), ("fixed", "2.12.4")]
    assert [pypi.in_range(v, events) for v in ("1.0", "2.11.6", "2.11.7", "2.12.3", "2.12.4")] \
        == [True, True, False, True, False]


def test_in_range_unpaired_events_are_sorted() -> None:
    pypi = get_scheme("PyPI")
    ordered = [("introduced", "0"), ("fixed", "1.2"), ("introduced", "2.0"), ("fixed", "2.0.3")]
    shuffled = [ordered[3], ordered[1], ordered[2], ordered[0]]
    for v in ("0.1", "1.1.9", "1.2", "1.9", "2.0", "2.0.2", "2.0.3", "3.0"):
        assert pypi.in_range(v, shuffled) == pypi.in_range(v, ordered), v
    assert [pypi.in_range(v, shuffled) for v in ("1.1.9", "1.2", "2.0.2", "2.0.3")] == [True, False, True, False]


def test_in_range_ignores_unknown_event_kinds_and_maven_keys_sort() -> None:
    maven = get_scheme("Maven")
    events = [("introduced", "2.13.0"), ("fixed", "2.15.0"), ("introduced", "2.0-beta9"), ("fixed", "2.3.1"),
              ("note", "x")]
    assert [maven.in_range(v, events) for v in ("2.0-beta8", "2.0-rc1", "2.3.1", "2.14.1", "2.15.0")] \
        == [False, True, False, True, False]


def test_in_range_two_introduced_in_a_row_use_version_order() -> None:
    semver = get_scheme("semver")
    events = [("introduced", "1.0.0"), ("introduced", "1.5.0"), ("fixed", "2.0.0")]
    assert [semver.in_range(v, events) for v in ("0.9.0", "1.2.0", "1.9.9", "2.0.0")] == [False, True, True, False]


def test_sort_orders_real_alpine_fix_versions() -> None:
    apk = get_scheme("apk")
    assert apk.sort(["1.2.3-r1", "1.2.3_rc1-r0", "1.2.3-r0", "1.2.3_p1-r0", "1.2.2b-r9"]) == [
        "1.2.2b-r9", "1.2.3_rc1-r0", "1.2.3-r0", "1.2.3-r1", "1.2.3_p1-r0"]
    with pytest.raises(InvalidVersion):
        apk.sort(["1.0", "1.0-1"])
