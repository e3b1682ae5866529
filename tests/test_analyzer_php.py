"""PHP analyzers: composer.lock, vendor/composer/installed.json and PEAR/PECL registry files, on the corpus
cases."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import CORPUS, corpus_available
from fixtures.lang1.harness import (case_dirs, cases_with_flags, expected_set, flag_mismatches, missing_unversioned,
                                    params, run_case, versioned)
from layerscan.analyzers.php import serialized
from layerscan.analyzers.php.composer import ComposerInstalledAnalyzer, ComposerLockAnalyzer
from layerscan.analyzers.php.pecl_reg import PeclRegistryAnalyzer

ANALYZERS = [ComposerLockAnalyzer(), ComposerInstalledAnalyzer(), PeclRegistryAnalyzer()]
ALL_CASES = case_dirs(CORPUS if corpus_available() else None, "composer")
XFAIL: dict[str, str] = {}
SKIP: dict[str, str] = {}
# Corpus inputs kept under the peer's test-file name: the path a scanner would see instead.
RENAME = {"syft-php-v6-format": {
    "memcached-v6-format.reg": "usr/local/lib/php/.registry/.channel.pecl.php.net/memcached.reg"}}
FLAG_XFAIL: dict[str, str] = {}


@pytest.mark.parametrize("case", params(ALL_CASES, XFAIL, SKIP))
def test_corpus_case_packages(corpus: Path, case: str) -> None:
    run = run_case(corpus / "fixtures" / "composer" / case, ANALYZERS, RENAME.get(case))
    assert versioned(run) == expected_set(run)
    assert missing_unversioned(run) == set()


@pytest.mark.parametrize("case", params(cases_with_flags(CORPUS if corpus_available() else None, "composer"),
                                        FLAG_XFAIL, SKIP))
def test_corpus_case_flags(corpus: Path, case: str) -> None:
    run = run_case(corpus / "fixtures" / "composer" / case, ANALYZERS)
    assert flag_mismatches(run, "dev") + flag_mismatches(run, "indirect") == []


def test_installed_json_v1_and_v2_and_lock_dev() -> None:
    v2 = {"packages": [{"name": "symfony/console", "version": "v5.4.0", "license": ["MIT"]},
                       {"name": "phpunit/phpunit", "version": "9.5.0"}], "dev-package-names": ["phpunit/phpunit"]}
    analyzer = ComposerInstalledAnalyzer()
    assert analyzer.wants("srv/www/vendor/composer/installed.json", 0o644, 10)
    result = analyzer.analyze("srv/www/vendor/composer/installed.json", json.dumps(v2).encode())
    flags = {p.name: (p.version, p.dev, p.purl) for p in result.packages}
    assert flags == {"symfony/console": ("v5.4.0", False, "pkg:composer/symfony/console@v5.4.0"),
                     "phpunit/phpunit": ("9.5.0", True, "pkg:composer/phpunit/phpunit@9.5.0")}
    v1 = analyzer.analyze("vendor/composer/installed.json", json.dumps(v2["packages"]).encode())
    assert {p.name for p in v1.packages} == set(flags)
    lock = ComposerLockAnalyzer().analyze("composer.lock", b'{"packages": [{"name": "a/b", "version": "dev-main"}],'
                                                           b' "packages-dev": [{"name": "c/d", "version": "1.0"}]}')
    assert [(p.name, p.version, p.dev, bool(p.version_unknown_reason)) for p in lock.packages] == [
        ("a/b", "", False, True), ("c/d", "1.0", True, False)]
    assert ComposerLockAnalyzer().analyze("composer.lock", b"[1,").unknowns[0].reason.startswith("invalid JSON")


def test_pecl_registry_file_and_hostile_serialized_data() -> None:
    record = (b'a:4:{s:4:"name";s:6:"xdebug";s:7:"channel";s:12:"pecl.php.net";'
              b's:7:"version";a:2:{s:7:"release";s:5:"3.1.2";s:3:"api";s:5:"3.1.0";}s:7:"license";s:3:"PHP";}')
    analyzer = PeclRegistryAnalyzer()
    path = "usr/local/lib/php/.registry/.channel.pecl.php.net/xdebug.reg"
    assert analyzer.wants(path, 0o644, len(record)) and not analyzer.wants("etc/win/settings.reg", 0o644, 1)
    found = analyzer.analyze(path, record).packages
    assert [(p.name, p.version, p.purl, p.licenses, p.matchable) for p in found] == [
        ("xdebug", "3.1.2", "pkg:pear/pecl.php.net/xdebug@3.1.2", ("PHP",), True)]
    old_pear = b'a:2:{s:4:"name";s:11:"Archive_Tar";s:7:"version";s:6:"1.4.14";}'
    assert analyzer.analyze("usr/share/php/.registry/archive_tar.reg", old_pear).packages[0].purl == (
        "pkg:pear/pear.php.net/Archive_Tar@1.4.14")
    deep = b"a:1:{i:0;" * 200 + b"N;" + b"}" * 200
    for bad in (deep, b'a:999999999:{s:1:"x";', b's:99999:"short";', b'O:8:"stdClass":0:{}', record + b"junk",
                b'a:1:{s:4:"name";s:0:"";}'):
        result = analyzer.analyze(path, bad)
        assert not result.packages and result.unknowns[0].reason, bad[:30]
    assert serialized.loads(b'a:3:{i:0;b:1;i:1;d:0.5;s:1:"k";N;}') == {0: True, 1: 0.5, "k": None}


# ---------------------------------------------------------------- own fixtures: installed.json v1/v2, PEAR registries

LOCKFILES = Path(__file__).parent / "fixtures" / "lockfiles"


@pytest.mark.parametrize(("layout", "expected"), [
    ("v1", {("psr/log", "1.1.4", False), ("monolog/monolog", "1.27.1", False), ("acme/internal", "", False)}),
    ("v2", {("symfony/polyfill-mbstring", "v1.28.0", False), ("guzzlehttp/guzzle", "7.8.1", False),
            ("phpunit/phpunit", "10.5.5", True)}),
])
def test_installed_json_fixture(layout: str, expected: set[tuple[str, str, bool]]) -> None:
    path = "srv/app/vendor/composer/installed.json"
    result = ComposerInstalledAnalyzer().analyze(path, (LOCKFILES / "composer-installed" / layout / "installed.json")
                                                 .read_bytes())
    assert {(p.name, p.version, p.dev) for p in result.packages} == expected
    assert [u.reason for u in result.unknowns] == (["1 package entries without a name skipped"] if layout == "v2" else [])


def test_pear_registry_fixtures_package_xml_2_and_1() -> None:
    analyzer = PeclRegistryAnalyzer()
    full = analyzer.analyze("usr/local/lib/php/.registry/.channel.pecl.php.net/memcached.reg",
                            (LOCKFILES / "pecl-v5" / "memcached.reg").read_bytes())
    assert [(p.name, p.version, p.purl, p.licenses) for p in full.packages] == [
        ("memcached", "3.2.0", "pkg:pear/pecl.php.net/memcached@3.2.0", ("PHP",))]
    old = analyzer.analyze("usr/share/php/.registry/archive_tar.reg", (LOCKFILES / "pecl-v5" / "archive_tar.reg")
                           .read_bytes())
    assert [(p.name, p.version, p.purl, p.licenses) for p in old.packages] == [
        ("Archive_Tar", "1.3.2", "pkg:pear/pear.php.net/Archive_Tar@1.3.2", ("PHP License",))]


@pytest.mark.parametrize("data", [
    b'{"packages": {"a/b": {}}}',  # v2 object whose packages is not a list
    b'{"dev": true}',
    b"[" * 100_000 + b"]" * 100_000,  # deep
    b'"just a string"',
    b"\xff\xfe\x00garbage",
])
def test_installed_json_hostile_input_is_an_unknown(data: bytes) -> None:
    result = ComposerInstalledAnalyzer().analyze("vendor/composer/installed.json", data)
    assert not result.packages and len(result.unknowns) == 1 and result.unknowns[0].reason


def test_pear_registry_hostile_sizes() -> None:
    analyzer = PeclRegistryAnalyzer()
    path = "usr/share/php/.registry/x.reg"
    huge = analyzer.analyze(path, b'a:1:{s:4:"name";s:1:"x";}' + b" " * (5 * 1024 * 1024))
    assert not huge.packages and "limit" in huge.unknowns[0].reason
    truncated = (LOCKFILES / "pecl-v5" / "memcached.reg").read_bytes()[:-40]
    assert not analyzer.analyze(path, truncated).packages and analyzer.analyze(path, truncated).unknowns
