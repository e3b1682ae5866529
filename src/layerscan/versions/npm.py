"""npm's semver: version ordering plus node-semver range syntax.

Ranges: ``||``-separated sets of space-separated comparators
(``<``, ``<=``, ``>``, ``>=``, ``=``), hyphen ranges (``1.2 - 2.3.4``),
X-ranges (``1.x``, ``1.2.*``, ``*``, ``""``), tilde (``~1.2.3``, ``~>``) and
caret (``^0.2.3``) ranges, desugared as node-semver does. A prerelease
version satisfies a set only when some comparator in the set names a
prerelease of the same major.minor.patch (node-semver's default).
"""

from __future__ import annotations

import operator
import re
from dataclasses import dataclass
from typing import Any, Callable

from layerscan.versions.base import InvalidVersion, cached_parser, checked
from layerscan.versions.semver import SemVer, SemverScheme, parse_semver, semver_sort_key

MAX_RANGE_LENGTH = 2048

_OPS: dict[str, Callable[[Any, Any], bool]] = {
    "<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge, "=": operator.eq,
}
_WILD = {"x", "X", "*"}
_PARTIAL = re.compile(
    r"[vV=]*\s*(?P<major>[0-9]+|[xX*])(?:\.(?P<minor>[0-9]+|[xX*]))?(?:\.(?P<patch>[0-9]+|[xX*]))?"
    r"(?:-?(?P<pre>[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?(?:\+(?P<build>[0-9A-Za-z.-]+))?\Z"
)
_COMPARATOR = re.compile(r"(?P<op><=|>=|<|>|=|~>|~|\^)?\s*(?P<ver>\S*)\Z")
_HYPHEN = re.compile(r"(?P<lo>\S+)\s+-\s+(?P<hi>\S+)\Z")
_OP_SPACE = re.compile(r"(<=|>=|<|>|=|~>|~|\^)\s+")


@dataclass(frozen=True)
class Comparator:
    op: str  # one of _OPS
    release: tuple[int, int, int]
    prerelease: tuple[str, ...] = ()

    def key(self) -> tuple[Any, ...]:
        return semver_sort_key(self.release, self.prerelease)

    def test(self, version: SemVer) -> bool:
        return _OPS[self.op](version.sort_key(), self.key())

    def __str__(self) -> str:
        pre = "-" + ".".join(self.prerelease) if self.prerelease else ""
        return f"{self.op}{'.'.join(map(str, self.release))}{pre}"


@dataclass(frozen=True)
class Partial:
    """A possibly incomplete version: ``None`` components are wildcards."""

    major: int | None
    minor: int | None
    patch: int | None
    prerelease: tuple[str, ...] = ()

    def floor(self) -> tuple[int, int, int]:
        return (self.major or 0, self.minor or 0, self.patch or 0)


@dataclass(frozen=True)
class ComparatorSet:
    comparators: tuple[Comparator, ...]

    def test(self, version: SemVer) -> bool:
        if not all(c.test(version) for c in self.comparators):
            return False
        if not version.prerelease:
            return True
        return any(c.prerelease and c.release == version.triple for c in self.comparators)


@dataclass(frozen=True)
class Range:
    sets: tuple[ComparatorSet, ...]

    def test(self, version: SemVer) -> bool:
        return any(s.test(version) for s in self.sets)

    def __str__(self) -> str:
        return " || ".join(" ".join(map(str, s.comparators)) or "*" for s in self.sets)


def _component(text: str | None) -> int | None:
    return None if text is None or text in _WILD else int(text)


def parse_partial(text: str) -> Partial:
    m = _PARTIAL.match(text)
    if m is None:
        raise InvalidVersion(f"not an npm version or partial: {text!r}")
    major, minor, patch = (_component(m.group(g)) for g in ("major", "minor", "patch"))
    if major is None:
        minor = patch = None
    elif minor is None:
        patch = None
    pre = m.group("pre")
    return Partial(major, minor, patch, tuple(pre.split(".")) if pre and patch is not None else ())


def _bump(p: Partial, level: int) -> tuple[int, int, int]:
    """The first release above ``p`` at ``level`` (0 major, 1 minor, 2 patch)."""
    major, minor, patch = p.floor()
    if level == 0:
        return (major + 1, 0, 0)
    if level == 1:
        return (major, minor + 1, 0)
    return (major, minor, patch + 1)


def _below(release: tuple[int, int, int]) -> Comparator:
    """``<release-0``: excludes the release and all its prereleases."""
    return Comparator("<", release, ("0",))


def _precision(p: Partial) -> int:
    return 3 if p.patch is not None else 2 if p.minor is not None else 1 if p.major is not None else 0


def _xrange(op: str, p: Partial) -> list[Comparator]:
    n = _precision(p)
    if n == 3:
        return [Comparator(op, p.floor(), p.prerelease)]
    if n == 0:
        return [Comparator("<", (0, 0, 0), ("0",))] if op in ("<", ">") else []
    if op == "=":
        return [Comparator(">=", p.floor()), _below(_bump(p, n - 1))]
    if op == ">":
        return [Comparator(">=", _bump(p, n - 1))]
    if op == "<=":
        return [_below(_bump(p, n - 1))]
    if op == "<":
        return [_below(p.floor())]
    return [Comparator(">=", p.floor())]  # ">="


def _tilde(p: Partial) -> list[Comparator]:
    n = _precision(p)
    if n == 0:
        return []
    low = Comparator(">=", p.floor(), p.prerelease)
    return [low, _below(_bump(p, 0 if n == 1 else 1))]


def _caret(p: Partial) -> list[Comparator]:
    n = _precision(p)
    if n == 0:
        return []
    major, minor, patch = p.floor()
    low = Comparator(">=", p.floor(), p.prerelease)
    if major != 0 or n == 1:
        return [low, _below(_bump(p, 0))]
    if minor != 0 or n == 2:
        return [low, _below(_bump(p, 1))]
    return [low, _below((0, 0, patch + 1))]


def _hyphen(lo: Partial, hi: Partial) -> list[Comparator]:
    out = _xrange(">=", lo) if _precision(lo) else []
    n = _precision(hi)
    if n == 3:
        out.append(Comparator("<=", hi.floor(), hi.prerelease))
    elif n:
        out.append(_below(_bump(hi, n - 1)))
    return out


def _comparators(token: str) -> list[Comparator]:
    m = _COMPARATOR.match(token)
    if m is None or not m.group("ver"):
        raise InvalidVersion(f"invalid npm comparator {token!r}")
    op, partial = m.group("op") or "=", parse_partial(m.group("ver"))
    if op in ("~", "~>"):
        return _tilde(partial)
    if op == "^":
        return _caret(partial)
    return _xrange(op, partial)


def _parse_set(text: str) -> ComparatorSet:
    text = _OP_SPACE.sub(r"\1", text.strip())
    hyphen = _HYPHEN.match(text)
    if hyphen:
        lo, hi = parse_partial(hyphen.group("lo")), parse_partial(hyphen.group("hi"))
        return ComparatorSet(tuple(_hyphen(lo, hi)))
    comparators: list[Comparator] = []
    for token in text.split():
        comparators.extend(_comparators(token))
    return ComparatorSet(tuple(comparators))


@cached_parser
def parse_range(range_str: str) -> Range:
    """Parse an npm range; raises InvalidVersion on syntax errors."""
    text = checked(range_str, MAX_RANGE_LENGTH) if range_str else ""
    return Range(tuple(_parse_set(part) for part in text.split("||")))


def satisfies(version: str, range_str: str) -> bool:
    """Whether ``version`` is in the npm range; raises InvalidVersion on bad input."""
    return parse_range(range_str).test(parse_semver(version))


class NpmScheme(SemverScheme):
    name = "npm"

    def satisfies(self, version: str, range_str: str) -> bool:
        return satisfies(version, range_str)
