"""npm range syntax: node-semver's documented desugarings, properties, and the real feed."""

from __future__ import annotations

import json
import re
import zipfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from layerscan.versions import InvalidVersion, get_scheme
from layerscan.versions.npm import NpmScheme, parse_range, satisfies

# node-semver README, "Advanced Range Syntax": range -> its primitive comparators
DOCUMENTED = [
    ("1.2.3 - 2.3.4", ">=1.2.3 <=2.3.4"),
    ("1.2 - 2.3.4", ">=1.2.0 <=2.3.4"),
    ("1.2.3 - 2.3", ">=1.2.3 <2.4.0-0"),
    ("1.2.3 - 2", ">=1.2.3 <3.0.0-0"),
    ("*", "*"),
    ("", "*"),
    ("1.x", ">=1.0.0 <2.0.0-0"),
    ("1.2.x", ">=1.2.0 <1.3.0-0"),
    ("1", ">=1.0.0 <2.0.0-0"),
    ("1.2", ">=1.2.0 <1.3.0-0"),
    ("~1.2.3", ">=1.2.3 <1.3.0-0"),
    ("~1.2", ">=1.2.0 <1.3.0-0"),
    ("~1", ">=1.0.0 <2.0.0-0"),
    ("~0.2.3", ">=0.2.3 <0.3.0-0"),
    ("~0.2", ">=0.2.0 <0.3.0-0"),
    ("~0", ">=0.0.0 <1.0.0-0"),
    ("~1.2.3-beta.2", ">=1.2.3-beta.2 <1.3.0-0"),
    ("^1.2.3", ">=1.2.3 <2.0.0-0"),
    ("^0.2.3", ">=0.2.3 <0.3.0-0"),
    ("^0.0.3", ">=0.0.3 <0.0.4-0"),
    ("^1.2.3-beta.2", ">=1.2.3-beta.2 <2.0.0-0"),
    ("^0.0.3-beta", ">=0.0.3-beta <0.0.4-0"),
    ("^1.2.x", ">=1.2.0 <2.0.0-0"),
    ("^0.0.x", ">=0.0.0 <0.1.0-0"),
    ("^0.0", ">=0.0.0 <0.1.0-0"),
    ("^1.x", ">=1.0.0 <2.0.0-0"),
    ("^0.x", ">=0.0.0 <1.0.0-0"),
    (">1.2", ">=1.3.0"),
    ("<=1.2", "<1.3.0-0"),
    ("<1.2", "<1.2.0-0"),
    (">= 1.2.3 < 2", ">=1.2.3 <2.0.0-0"),
    ("<1.0.0 || >=2.0.0", "<1.0.0 || >=2.0.0"),
]

# node-semver README, "Prerelease Tags"
PRERELEASE = [
    ("1.2.3-alpha.7", ">1.2.3-alpha.3", True),
    ("3.4.5-alpha.9", ">1.2.3-alpha.3", False),
    ("3.4.5", ">1.2.3-alpha.3", True),
    ("1.2.3-alpha.4", ">=1.2.3-alpha.3 <1.2.3", True),
    ("1.2.4-beta", "^1.2.3", False),
]


@pytest.mark.parametrize(("range_str", "desugared"), DOCUMENTED)
def test_documented_desugaring(range_str: str, desugared: str) -> None:
    assert str(parse_range(range_str)) == desugared


@pytest.mark.parametrize(("version", "range_str", "expected"), PRERELEASE)
def test_prerelease_rule(version: str, range_str: str, expected: bool) -> None:
    assert satisfies(version, range_str) is expected


@pytest.mark.parametrize("bad", ["1.2.3 ||| 4", ">=foo", "~>", "1.2.3.4.5.x-", "<=>1", "1.2.3 - ", "\x00"])
def test_bad_ranges_raise_invalid_version(bad: str) -> None:
    with pytest.raises(InvalidVersion):
        satisfies("1.2.3", bad)


def test_huge_range_rejected() -> None:
    with pytest.raises(InvalidVersion):
        parse_range(" || ".join(["1.2.3"] * 1000))


_release = st.tuples(*[st.integers(0, 4)] * 3).map(lambda t: ".".join(map(str, t)))


@settings(max_examples=200, deadline=None)
@given(_release, _release, _release)
def test_bounded_range_matches_order(v: str, a: str, b: str) -> None:
    npm = get_scheme("npm")
    assert isinstance(npm, NpmScheme)
    ge_a, lt_b, le_b = npm.compare(v, a) >= 0, npm.compare(v, b) < 0, npm.compare(v, b) <= 0
    assert satisfies(v, f">={a} <{b}") == (ge_a and lt_b)
    assert satisfies(v, f"{a} - {b}") == (ge_a and le_b)
    assert satisfies(v, f"<{a} || >={b}") == (not ge_a or not lt_b)
    assert npm.satisfies(v, f"={a}") == (npm.compare(v, a) == 0)


@settings(max_examples=200, deadline=None)
@given(_release, _release)
def test_caret_and_tilde_match_component_rules(v: str, a: str) -> None:
    (vM, vm, vp), (aM, am, ap) = (tuple(map(int, x.split("."))) for x in (v, a))
    at_least = (vM, vm, vp) >= (aM, am, ap)
    first_nonzero = next((i for i, x in enumerate((aM, am, ap)) if x), 2)
    same_prefix = (vM, vm, vp)[: first_nonzero + 1] == (aM, am, ap)[: first_nonzero + 1]
    assert satisfies(v, f"^{a}") == (at_least and same_prefix)
    assert satisfies(v, f"~{a}") == (at_least and (vM, vm) == (aM, am))


def _feed_advisories(corpus: Path) -> list[dict]:
    path = corpus / "feeds" / "npm-nodejs-security-wg" / "nodejs-security-wg-vuln.zip"
    out = []
    with zipfile.ZipFile(path) as z:
        for name in z.namelist():
            if name.startswith("vuln/npm/") and name.endswith(".json"):
                out.append(json.loads(z.read(name)))
    return out


def test_every_feed_range_parses(corpus: Path) -> None:
    ranges = [a[k] for a in _feed_advisories(corpus)
              for k in ("vulnerable_versions", "patched_versions") if a.get(k)]
    assert len(ranges) > 400
    failures = []
    for r in ranges:
        try:
            parse_range(r)
        except InvalidVersion as exc:
            failures.append((r, str(exc)))
    assert failures == []


def test_feed_split_ranges_are_complementary(corpus: Path) -> None:
    """Advisories of the form vulnerable '<X', patched '>=X': X and its neighbours fall on one side."""
    pairs = []
    for adv in _feed_advisories(corpus):
        m = re.fullmatch(r"<\s*(\d+)\.(\d+)\.(\d+)", (adv.get("vulnerable_versions") or "").strip())
        if m and re.fullmatch(r">=\s*" + re.escape(".".join(m.groups())), (adv.get("patched_versions") or "").strip()):
            pairs.append((adv["vulnerable_versions"], adv["patched_versions"], tuple(map(int, m.groups()))))
    assert len(pairs) > 50
    for vuln, patched, (major, minor, patch) in pairs:
        fixed = f"{major}.{minor}.{patch}"
        below = [f"{major}.{minor}.{patch - 1}" if patch else None, f"{fixed}-rc.1" if (major, minor, patch) != (0, 0, 0) else None]
        for v in [fixed, f"{major}.{minor}.{patch + 1}", f"{major + 1}.0.0"]:
            assert satisfies(v, patched) and not satisfies(v, vuln), (v, vuln, patched)
        for v in filter(None, below):
            assert not satisfies(v, patched), (v, patched)
        if patch:
            assert satisfies(f"{major}.{minor}.{patch - 1}", vuln)


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.text(max_size=60), st.from_regex(r"[<>=~^ |x*.0-9a-z-]{0,40}", fullmatch=True)))
def test_garbage_ranges_give_invalid_version_only(text: str) -> None:
    try:
        satisfies("1.2.3", text)
    except InvalidVersion:
        pass
