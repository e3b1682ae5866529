"""Ruby analyzers: installed specifications/*.gemspec and Gemfile.lock, on the corpus cases."""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import CORPUS, corpus_available
from fixtures.lang1.harness import case_dirs, expected_set, missing_unversioned, params, run_case, versioned
from layerscan.analyzers.ruby import gemfile_lock, gemspec
from layerscan.analyzers.ruby.gemfile_lock import GemfileLockAnalyzer
from layerscan.analyzers.ruby.gemspec import GemspecAnalyzer

ANALYZERS = [GemspecAnalyzer(), GemfileLockAnalyzer()]
SPECS = "usr/local/lib/ruby/gems/3.2.0/specifications/"

ALL_CASES = case_dirs(CORPUS if corpus_available() else None, "gem")
_CONSTANT = ("the version is a constant defined in a required Ruby file that the peer reads and the corpus does "
             "not carry; we list the gem with an empty version and that reason")
XFAIL = {case: _CONSTANT for case in ALL_CASES if "version-constant" in case}
SKIP: dict[str, str] = {}


def _rename(case: Path) -> dict[str, str]:
    return {p.name: SPECS + p.name for p in case.glob("*.gemspec")}


@pytest.mark.parametrize("case", params(ALL_CASES, XFAIL, SKIP))
def test_corpus_case_packages(corpus: Path, case: str) -> None:
    folder = corpus / "fixtures" / "gem" / case
    run = run_case(folder, ANALYZERS, _rename(folder))
    assert versioned(run) == expected_set(run)
    assert missing_unversioned(run) == set()


def test_gemspec_literal_expression_and_path_rules() -> None:
    analyzer = GemspecAnalyzer()
    assert analyzer.wants("usr/lib/ruby/gems/3.0.0/specifications/rake-13.0.3.gemspec", 0o644, 1)
    assert not analyzer.wants("app/rake.gemspec", 0o644, 1)
    spec = b'Gem::Specification.new do |s|\n  s.name = "rake".freeze\n  s.version = "13.0.3"\n  s.licenses = ["MIT".freeze]\nend\n'
    (package,) = analyzer.analyze(SPECS + "rake-13.0.3.gemspec", spec).packages
    assert (package.version, package.purl, package.licenses) == ("13.0.3", "pkg:gem/rake@13.0.3", ("MIT",))
    (dynamic,) = gemspec.parse(b"s.name = 'x'\ns.version = X::VERSION\n").packages
    assert dynamic.version == "" and "expression" in dynamic.version_unknown_reason
    assert analyzer.analyze(SPECS + "bad.gemspec", b"\x00garbage").unknowns


def test_gemfile_lock_sections_platform_and_direct() -> None:
    lock = (b"PATH\n  remote: .\n  specs:\n    app (0.1.0)\n      rack\n\nGEM\n  remote: https://rubygems.org/\n"
            b"  specs:\n    nokogiri (1.13.0-x86_64-linux)\n      racc (~> 1.4)\n    racc (1.6.0)\n\n"
            b"DEPENDENCIES\n  app!\n  nokogiri (~> 1.13)\n")
    result = GemfileLockAnalyzer().analyze("Gemfile.lock", lock)
    flags = {p.name: (p.version, p.indirect, p.is_application, p.extra) for p in result.packages}
    assert flags == {"app": ("0.1.0", False, True, ()), "nokogiri": ("1.13.0", False, False, (("platform", "x86_64-linux"),)),
                     "racc": ("1.6.0", True, False, ())}
    assert gemfile_lock.parse(b"").packages == ()
