"""PHP analyzers: composer.lock and vendor/composer/installed.json, on the corpus cases."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import CORPUS, corpus_available
from fixtures.lang1.harness import (case_dirs, cases_with_flags, expected_set, flag_mismatches, missing_unversioned,
                                    params, run_case, versioned)
from layerscan.analyzers.php.composer import ComposerInstalledAnalyzer, ComposerLockAnalyzer

ANALYZERS = [ComposerLockAnalyzer(), ComposerInstalledAnalyzer()]
ALL_CASES = case_dirs(CORPUS if corpus_available() else None, "composer")
XFAIL: dict[str, str] = {}
SKIP = {"syft-php-v6-format": "PECL registry (.reg) files are not implemented"}
FLAG_XFAIL = {case: "indirect needs the sibling composer.json (the peer reads it); our analyzer reads one file"
              for case in ("trivy-composer-happy-path-2", "trivy-composer-with-dev-dependencies")}


@pytest.mark.parametrize("case", params(ALL_CASES, XFAIL, SKIP))
def test_corpus_case_packages(corpus: Path, case: str) -> None:
    run = run_case(corpus / "fixtures" / "composer" / case, ANALYZERS)
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
