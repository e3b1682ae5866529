"""Every ordering vector in corpus/fixtures/version-compare, per scheme.

Each line is ``A < B``, ``A = B`` or ``A > B``. All lines must hold except
the ones listed in KNOWN below, each with the reason it cannot hold for a
correct implementation; those are strict xfails, so fixing the scheme (or
the reason going away) is noticed.
"""

from __future__ import annotations

import gzip
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from packaging.version import VERSION_PATTERN

from layerscan.versions import InvalidVersion, get_scheme

from conftest import CORPUS

VECTORS = "fixtures/version-compare"
_OPS = {"<": -1, "=": 0, ">": 1}

# file -> schemes that must satisfy it
FILES: dict[str, tuple[str, ...]] = {
    "debian-versions.txt": ("deb",),
    "debian-versions-generated.txt.gz": ("deb",),
    "alpine-versions.txt": ("apk",),
    "alpine-versions-generated.txt.gz": ("apk",),
    "redhat-versions.txt": ("rpm",),
    "pypi-versions.txt": ("pep440",),
    "pypi-versions-generated.txt.gz": ("pep440",),
    "maven-versions.txt": ("maven",),
    "maven-versions-generated.txt.gz": ("maven",),
    "semver-versions.txt": ("semver", "npm", "golang"),
    "nuget-versions.txt": ("nuget",),
    "packagist-versions.txt": ("composer",),
    "packagist-versions-generated.txt.gz": ("composer",),
    "rubygems-versions.txt": ("gem",),
    "rubygems-versions-generated.txt.gz": ("gem",),
}
# ecosystems we have no scheme for (not OSV ecosystems layerscan matches)
NOT_APPLICABLE = {
    "cran-versions.txt": "CRAN (R packages) is not a layerscan ecosystem",
    "cran-versions-generated.txt.gz": "CRAN (R packages) is not a layerscan ecosystem",
    "hackage-versions.txt": "Hackage (Haskell) is not a layerscan ecosystem",
    "pub-versions.txt": "Pub (Dart) is not a layerscan ecosystem; its build-metadata ordering differs from SemVer",
}

_APK_EMPTY_REV = "'-r' must be followed by a number and appear once (apk-tools rejects it)"
_APK_EMPTY_PART = "empty version component '..' (apk-tools rejects it)"
_APK_UPPER = "upper-case letter (apk-tools accepts only a-z)"
_APK_SUFFIX = "unknown suffix (apk-tools accepts alpha/beta/pre/rc/cvs/svn/git/hg/p only)"
_APK_START = "does not start with a digit (apk-tools rejects it)"
_APK_LETTERS = "two letters in a row (apk-tools allows one letter after a number)"

# (file, scheme, line) -> reason
KNOWN: dict[tuple[str, str, str], str] = {
    ("alpine-versions.txt", "apk", line): reason
    for reason, lines in {
        _APK_EMPTY_REV: [
            "1-r = 1-r0", "1-r-0 < 1-r0", "1-r-1 < 1-r0", "1-r2 > 1-r-1", "1 > 1-ruff",
            "1-r0-1 = 1-r-2", "1-r0-1 = 1-r0-2", "1-ruff2 = 1-ruff1", "1-ruff2 = 1--ruff1",
            "1-r0-ruff2 = 1-r0-ruff1",
        ],
        _APK_EMPTY_PART: [
            "0..1..0 < 0..1..1", "0...1...0 < 0...1...1", "0...1...0.r1 < 0...1...0.r2",
            "0...1...0r1 < 0...1...0r2", "0..8 = 0..8", "0..8 > 0...8",
        ],
        _APK_UPPER: ["1.2.0A < 1.2.0d", "1.2.0D < 1.2.0d"],
        _APK_SUFFIX: ["1.2 > 1.2_blah", "1.2_svn1 > 1.2_csv2", "1.2_cvs1 > 1.2_blah", "23_foo > 4_beta"],
        _APK_START: [".1 < 1", "1 > .1", ".2 > .1", "a < b", "c > b", "c = c"],
        _APK_LETTERS: ["1.0 < 1.0bc"],
    }.items()
    for line in lines
}
KNOWN.update({
    ("maven-versions.txt", "maven", "1-1 = 1-ga-1"):
        "the Maven docs' example; ComparableVersion keeps 'ga' when a numeric sublist "
        "follows it, so 1-ga-1 < 1-1 (the 14,752 generated Maven vectors follow the same rules)",
    ("packagist-versions.txt", "composer", "1.2.3.# = 1.2.3.1"):
        "PHP treats '#' as equal to any number but also as equal to a missing part, "
        "which is not transitive (1.2.3.1 > 1.2.3); we keep a total order with '#' = missing",
    ("rubygems-versions.txt", "gem", "1 > 1beta"):
        "'1beta' is not a valid Gem::Version (letters need a dot after the first segment)",
    ("rubygems-versions.txt", "gem", "1 > 1gamma"):
        "'1gamma' is not a valid Gem::Version (letters need a dot after the first segment)",
    ("semver-versions.txt", "golang", "1.1.3.4.5 = 1.1.3.4.5"):
        "Go module versions have exactly three numeric components",
})
_LEGACY_REASON = "legacy (non-PEP 440) version: invalid by design, as in pip >= 22"
_PEP440 = re.compile(r"^\s*" + VERSION_PATTERN + r"\s*$", re.VERBOSE | re.IGNORECASE)


def _read(name: str) -> Iterator[str]:
    path = CORPUS / VECTORS / name
    opener = gzip.open if name.endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8") as f:  # type: ignore[operator]
        for raw in f:
            line = raw.strip()
            if line and not line.startswith(("#", "//")):
                yield line


def _split(line: str) -> tuple[str, int, str]:
    a, op, b = line.split(" ")
    return a, _OPS[op], b


def _holds(scheme_name: str, line: str) -> bool:
    """The comparison holds, both ways, and equal versions have equal key hashes."""
    a, expected, b = _split(line)
    scheme = get_scheme(scheme_name)
    if scheme.compare(a, b) != expected or scheme.compare(b, a) != -expected:
        return False
    return expected != 0 or hash(scheme.key(a)) == hash(scheme.key(b))


def _is_legacy_pypi(line: str) -> bool:
    a, _, b = _split(line)
    return not (_PEP440.match(a) and _PEP440.match(b))


def _excluded(name: str, scheme: str, line: str) -> bool:
    return (name, scheme, line) in KNOWN or (scheme == "pep440" and _is_legacy_pypi(line))


def _cases() -> list[tuple[str, str]]:
    return [(name, scheme) for name, schemes in FILES.items() for scheme in schemes]


@pytest.mark.parametrize(("name", "scheme"), _cases())
def test_vector_file(corpus: Path, name: str, scheme: str) -> None:
    failures, checked = [], 0
    for line in _read(name):
        if _excluded(name, scheme, line):
            continue
        checked += 1
        try:
            if not _holds(scheme, line):
                failures.append(line)
        except InvalidVersion as exc:
            failures.append(f"{line}  ({exc})")
    assert checked > 0
    assert failures == [], f"{len(failures)}/{checked} lines fail in {name} for {scheme}"


@pytest.mark.parametrize(
    ("name", "scheme", "line"),
    [pytest.param(*key, marks=pytest.mark.xfail(strict=True, reason=reason), id=f"{key[1]}:{key[2]}")
     for key, reason in KNOWN.items()],
)
def test_known_exception(corpus: Path, name: str, scheme: str, line: str) -> None:
    assert line in set(_read(name)), "stale KNOWN entry"
    assert _holds(scheme, line)


@pytest.mark.parametrize("name", ["pypi-versions.txt", "pypi-versions-generated.txt.gz"])
@pytest.mark.xfail(strict=True, reason=_LEGACY_REASON, raises=InvalidVersion)
def test_pypi_legacy_lines(corpus: Path, name: str) -> None:
    legacy = [line for line in _read(name) if _is_legacy_pypi(line)]
    assert legacy
    assert all(_holds("pep440", line) for line in legacy)


def test_invalid_sides_of_known_lines_raise(corpus: Path) -> None:
    """The apk exceptions are all about versions apk-tools rejects; we reject them too."""
    scheme = get_scheme("apk")
    for (_name, scheme_name, line), reason in KNOWN.items():
        if scheme_name != "apk":
            continue
        a, _, b = _split(line)
        assert not (scheme.valid(a) and scheme.valid(b)), (line, reason)


@pytest.mark.parametrize(("name", "expected"), [
    ("alpine-valid-versions.osvdev.txt", True),
    ("alpine-invalid-versions.osvdev.txt", False),
])
def test_alpine_validity_lists(corpus: Path, name: str, expected: bool) -> None:
    scheme = get_scheme("Alpine:v3.19")
    versions = list(_read(name))
    assert versions
    assert [v for v in versions if scheme.valid(v) is not expected] == []


def test_every_vector_file_is_covered(corpus: Path) -> None:
    present = {p.name for p in (corpus / VECTORS).iterdir() if "versions" in p.name}
    covered = set(FILES) | set(NOT_APPLICABLE) | {
        "alpine-valid-versions.osvdev.txt", "alpine-invalid-versions.osvdev.txt"}
    assert present <= covered, sorted(present - covered)
