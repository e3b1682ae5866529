"""Hypothesis properties for every version scheme.

Versions come from two sources: a small grammar of valid versions per
scheme (always available) and the real versions of the corpus vector files
(when the corpus is present). Properties: compare is a total order
(reflexive, antisymmetric, transitive, consistent with key), keys are
stable, in_range agrees with the order at introduced/fixed/last_affected
boundaries, and arbitrary text gives a key or InvalidVersion, nothing else.
"""

from __future__ import annotations

import gzip
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from layerscan.versions import InvalidVersion, VersionScheme, get_scheme, scheme_names

from conftest import CORPUS, corpus_available

GRAMMAR = {
    "deb": r"([0-9]:)?[0-9][0-9a-z.+~]{0,8}(-[0-9a-z.+~]{1,6})?",
    "apk": r"[0-9]{1,3}(\.[0-9]{1,3}){0,3}[a-z]?(_(alpha|beta|pre|rc|cvs|svn|git|hg|p)[0-9]{0,3}){0,2}"
           r"(~[0-9a-f]{1,6})?(-r[0-9]{1,2})?",
    "rpm": r"([0-9]{1,2}:)?[0-9a-zA-Z.~^_+]{1,10}(-[0-9a-zA-Z.~^_]{1,6})?",
    "pep440": r"([0-9]!)?[0-9]{1,3}(\.[0-9]{1,3}){0,3}((a|b|rc)[0-9]{1,2})?(\.post[0-9])?(\.dev[0-9])?"
              r"(\+[a-z0-9]{1,4}(\.[a-z0-9]{1,3})?)?",
    "semver": r"v?[0-9]{1,3}(\.[0-9]{1,3}){0,3}(-[0-9A-Za-z-]{1,5}(\.[0-9A-Za-z-]{1,5}){0,2})?(\+[0-9a-z]{1,4})?",
    "npm": r"v?[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}(-[0-9A-Za-z-]{1,5}(\.[0-9A-Za-z-]{1,5}){0,2})?(\+[0-9a-z]{1,4})?",
    "golang": r"v?[0-9]{1,2}\.[0-9]{1,2}\.[0-9]{1,2}(-(0\.)?20[0-9]{12}-[0-9a-f]{12}|-(rc|beta)\.[0-9])?"
              r"(\+incompatible)?|go1\.[0-9]{1,2}(\.[0-9]{1,2}|(rc|beta)[0-9])?",
    "maven": r"[0-9]{1,3}(\.[0-9]{1,3}){0,3}([.-]?(alpha|beta|milestone|rc|cr|snapshot|ga|final|sp|a|b|m|foo)"
             r"[0-9]{0,2})?(-[0-9]{1,2})?(-[a-z]{1,3})?",
    "gem": r"[0-9]{1,3}(\.[0-9a-z]{1,3}){0,3}(-[0-9a-z]{1,3})?",
    "nuget": r"[0-9]{1,3}(\.[0-9]{1,3}){0,3}(-[0-9A-Za-z]{1,4}(\.[0-9A-Za-z]{1,4}){0,2})?(\+[0-9a-z]{1,3})?",
    "composer": r"[vV]?[0-9]{1,3}(\.[0-9]{1,3}){0,3}([-.]?(dev|alpha|a|beta|b|RC|rc|pl|p|patch|stable)[0-9]{0,2})?"
                r"|dev-[a-z]{1,6}",
}
VECTOR_FILES = {
    "deb": ["debian-versions-generated.txt.gz"],
    "apk": ["alpine-versions-generated.txt.gz", "alpine-versions.txt"],
    "rpm": ["redhat-versions.txt"],
    "pep440": ["pypi-versions-generated.txt.gz"],
    "semver": ["semver-versions.txt"],
    "npm": ["semver-versions.txt"],
    "golang": ["semver-versions.txt"],
    "maven": ["maven-versions-generated.txt.gz", "maven-versions.txt"],
    "gem": ["rubygems-versions-generated.txt.gz"],
    "nuget": ["nuget-versions.txt"],
    "composer": ["packagist-versions-generated.txt.gz"],
}
SCHEMES = scheme_names()
PROFILE = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _corpus_versions(name: str) -> list[str]:
    if not corpus_available():
        return []
    scheme = get_scheme(name)
    found: set[str] = set()
    for file in VECTOR_FILES[name]:
        path = CORPUS / "fixtures" / "version-compare" / file
        opener: Any = gzip.open if file.endswith(".gz") else open
        with opener(path, "rt", encoding="utf-8") as f:
            for line in f:
                parts = line.split()
                if len(parts) == 3 and parts[1] in "<=>":
                    found.update(v for v in (parts[0], parts[2]) if scheme.valid(v))
    return sorted(found)


def _versions(name: str) -> st.SearchStrategy[str]:
    grammar = st.from_regex(GRAMMAR[name], fullmatch=True)
    real = _corpus_versions(name)
    return st.one_of(grammar, st.sampled_from(real)) if real else grammar


STRATEGIES = {name: _versions(name) for name in SCHEMES}


def test_every_scheme_has_a_grammar() -> None:
    assert set(GRAMMAR) == set(SCHEMES) == set(VECTOR_FILES)


@pytest.mark.parametrize("name", SCHEMES)
def test_grammar_versions_are_valid(name: str) -> None:
    scheme = get_scheme(name)

    @PROFILE
    @given(STRATEGIES[name])
    def check(v: str) -> None:
        assert scheme.valid(v), v

    check()


@pytest.mark.parametrize("name", SCHEMES)
def test_total_order(name: str) -> None:
    scheme = get_scheme(name)

    @PROFILE
    @given(STRATEGIES[name], STRATEGIES[name], STRATEGIES[name])
    def check(a: str, b: str, c: str) -> None:
        assert scheme.compare(a, a) == 0
        ab, bc, ac = scheme.compare(a, b), scheme.compare(b, c), scheme.compare(a, c)
        assert scheme.compare(b, a) == -ab
        if ab <= 0 and bc <= 0:
            assert ac <= 0, (a, b, c)
        if ab == 0 and bc == 0:
            assert ac == 0, (a, b, c)
        ka, kb = scheme.key(a), scheme.key(b)
        assert (ka < kb, ka == kb, ka > kb) == (ab < 0, ab == 0, ab > 0)
        if ab == 0:
            assert hash(ka) == hash(kb), (a, b)

    check()


@pytest.mark.parametrize("name", SCHEMES)
def test_key_stable(name: str) -> None:
    """Keys computed from scratch equal cached keys (no state leaks between parses)."""
    scheme = get_scheme(name)
    caches = _caches(scheme)
    assert caches, f"{name}: key() is not cached"

    @PROFILE
    @given(st.lists(STRATEGIES[name], min_size=2, max_size=5))
    def check(vs: list[str]) -> None:
        before = [scheme.key(v) for v in vs]
        for cache in caches:
            cache.cache_clear()
        after = [scheme.key(v) for v in reversed(vs)][::-1]
        assert before == after

    check()


def _caches(scheme: VersionScheme) -> list[Any]:
    import sys
    module = sys.modules[type(scheme).__module__]
    modules = [module] + [sys.modules[base.__module__] for base in type(scheme).__mro__[1:]]
    return [f for m in modules for f in vars(m).values()
            if hasattr(f, "cache_clear") and not isinstance(f, type)]


def _sorted3(scheme: VersionScheme, vs: list[str]) -> list[str]:
    import functools
    return sorted(vs, key=functools.cmp_to_key(scheme.compare))


@pytest.mark.parametrize("name", SCHEMES)
def test_in_range_boundaries(name: str) -> None:
    scheme = get_scheme(name)

    @PROFILE
    @given(STRATEGIES[name], STRATEGIES[name], STRATEGIES[name])
    def check(x: str, y: str, v: str) -> None:
        lo, hi = _sorted3(scheme, [x, y])
        after_lo = lo == "0" or scheme.compare(v, lo) >= 0  # OSV: introduced "0" is the beginning
        before_hi = scheme.compare(v, hi) < 0
        assert scheme.in_range(v, [("introduced", lo), ("fixed", hi)]) == (after_lo and before_hi)
        assert scheme.in_range(v, [("introduced", lo), ("last_affected", hi)]) == (
            after_lo and scheme.compare(v, hi) <= 0)
        assert scheme.in_range(v, [("introduced", "0"), ("fixed", hi)]) == before_hi
        assert scheme.in_range(v, [("introduced", lo)]) == after_lo
        # the boundaries themselves
        assert scheme.in_range(lo, [("introduced", lo), ("fixed", hi)]) == (scheme.compare(lo, hi) < 0)
        assert not scheme.in_range(v, [("introduced", lo), ("fixed", lo)]) or lo == "0"
        assert not scheme.in_range(hi, [("introduced", lo), ("fixed", hi)])
        assert scheme.in_range(hi, [("introduced", lo), ("last_affected", hi)])

    check()


@pytest.mark.parametrize("name", SCHEMES)
def test_garbage_gives_invalid_version_only(name: str) -> None:
    scheme = get_scheme(name)

    @PROFILE
    @given(st.one_of(st.text(max_size=40), st.binary(max_size=20).map(lambda b: b.decode("latin-1")),
                     st.from_regex(r"[0-9.:~^_+a-z-]{0,12}", fullmatch=True)))
    def check(text: str) -> None:
        try:
            scheme.key(text)
        except InvalidVersion:
            return
        assert scheme.compare(text, text) == 0

    check()


@pytest.mark.parametrize("name", SCHEMES)
@pytest.mark.parametrize("bad", ["", "x" * 100_000, "1.0\x00", "1.0\n1.1", None, 3, ["1.0"], {"v": 1}, b"1.0"])
def test_hostile_inputs_rejected(name: str, bad: Any) -> None:
    with pytest.raises(InvalidVersion):
        get_scheme(name).key(bad)
