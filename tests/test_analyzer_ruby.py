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
_CONSTANT = ("the version is a constant defined in a required lib/**/version.rb that the peer reads and the corpus "
             "does not carry (only the .gemspec is kept); we list the gem with an empty version and that reason, "
             "never a guess: we are right for the file alone, the peer for the whole gem directory (see "
             "test_gemspec_constant_from_version_rb)")
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
    assert dynamic.version == "" and "X::VERSION, defined outside the gemspec" in dynamic.version_unknown_reason
    (expression,) = gemspec.parse(b"s.name = 'x'\ns.version = File.read('VERSION').strip\n").packages
    assert expression.version == "" and "expression" in expression.version_unknown_reason
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


# ---------------------------------------------------------------- version constants (own fixtures)

GEM_DIR = Path(__file__).parent / "fixtures" / "lockfiles" / "gemspec-constant"


def test_gemspec_constant_from_version_rb() -> None:
    data = (GEM_DIR / "example_gem.gemspec").read_bytes()
    version_rb = {"lib/example_gem/version.rb": (GEM_DIR / "lib/example_gem/version.rb").read_bytes()}
    (resolved,) = gemspec.parse(data, version_rb).packages
    assert (resolved.name, resolved.version, resolved.purl) == ("example_gem", "2.4.1", "pkg:gem/example_gem@2.4.1")
    (alone,) = gemspec.parse(data).packages  # the version.rb not given: listed, not guessed
    assert alone.version == "" and "ExampleGem::VERSION" in alone.version_unknown_reason
    other_module = {"lib/other/version.rb": b"module Other\n  VERSION = '9.9.9'\nend\n"}
    assert gemspec.parse(data, other_module).packages[0].version == ""


def test_gemspec_constant_defined_in_the_gemspec_itself() -> None:
    analyzer = GemspecAnalyzer()
    (inline,) = analyzer.analyze(SPECS + "inline-0.7.0.gemspec", (GEM_DIR / "inline.gemspec").read_bytes()).packages
    assert (inline.version, inline.licenses) == ("0.7.0", ("Apache-2.0",))
    forms = {b'VERSION = "1.2.3".freeze\ns.name = "a"\ns.version = VERSION\n': "1.2.3",
             b"module A; VERSION = '2.0'; end\ns.name = 'a'\ns.version = A::VERSION.freeze\n": "2.0",
             b"version = '3.1.4'\ns.name = 'a'\ns.version = version\n": "3.1.4"}
    for text, version in forms.items():
        assert gemspec.parse(text).packages[0].version == version, text
    (elsewhere,) = gemspec.parse(b"module B; VERSION = '1.0'; end\ns.name = 'a'\ns.version = A::VERSION\n").packages
    assert elsewhere.version == ""  # another module's constant is not A::VERSION
    (twice,) = gemspec.parse(b"V = '1'\nV = '2'\ns.name = 'a'\ns.version = V\n").packages
    assert twice.version == "" and "different literals" in twice.version_unknown_reason


@pytest.mark.parametrize("data", [
    b"s.name = 'a'\ns.version = " + b"A::" * 100_000 + b"VERSION\n",  # a pathological expression
    b"s.name = 'a'\n" + b"VERSION = '1'\n" * 50_000 + b"s.version = VERSION\n",  # long, one literal repeated
    b"s.name = 'a'\ns.version = VERSION\n" + b"\xff\xfe" * 1000,  # broken bytes
])
def test_gemspec_constant_hostile_input_is_bounded(data: bytes) -> None:
    result = GemspecAnalyzer().analyze(SPECS + "a-1.gemspec", data)
    assert len(result.packages) == 1 and not result.unknowns
    huge = GemspecAnalyzer().analyze(SPECS + "a-1.gemspec", b"#" * (5 * 1024 * 1024))
    assert not huge.packages and "limit" in huge.unknowns[0].reason
