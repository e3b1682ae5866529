"""VersionScheme contract (DESIGN.md §2).

``parse`` returns a comparable key or raises InvalidVersion; ``compare`` is a
total order on valid versions. ``in_range`` evaluates OSV events. Invalid
versions must surface as an explicit unknown (the matcher records it), never a
silent match or non-match.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from functools import lru_cache
from typing import Any, Callable, ClassVar, Generic, Iterable, Sequence, TypeVar


class InvalidVersion(ValueError):
    pass


class VersionScheme(ABC):
    name: ClassVar[str]  # "deb", "apk", "rpm", "pep440", "semver", "npm", "maven", "golang", ...

    @abstractmethod
    def key(self, version: str) -> Any:
        """A sort key; raises InvalidVersion."""

    def compare(self, a: str, b: str) -> int:
        ka, kb = self.key(a), self.key(b)
        return int(ka > kb) - int(ka < kb)

    def valid(self, version: str) -> bool:
        try:
            self.key(version)
        except InvalidVersion:
            return False
        return True

    def sort(self, versions: Iterable[str]) -> list[str]:
        """The versions in ascending order (stable for equal ones); raises InvalidVersion."""
        return sorted(versions, key=lambda v: _Sortable(self.key(v)))

    def in_range(self, version: str, events: Sequence[tuple[str, str]]) -> bool:
        """OSV semantics: 'introduced' opens, 'fixed' (exclusive) / 'last_affected'
        (inclusive) close; 'limit' caps. introduced "0" means from the beginning.

        Events given as alternating introduced/closing pairs are read as those
        intervals (their union), which is how producers write overlapping
        ranges. Events that do not alternate in the given order are evaluated
        in version order, as in the OSV schema's evaluation algorithm.
        Raises InvalidVersion.
        """
        v = self.key(version)
        limits = [self.key(value) for kind, value in events if kind == "limit"]
        if limits and not any(v < lim for lim in limits):
            return False
        intervals = self._paired_intervals(events)
        if intervals is None:
            return self._sorted_walk(v, events)
        return any((lo is None or v >= lo) and (hi is None or v < hi or (incl and v == hi))
                   for lo, hi, incl in intervals)

    def _paired_intervals(self, events: Sequence[tuple[str, str]]) -> list[tuple[Any, Any, bool]] | None:
        """(start or None, end or None, end inclusive) per introduced/closing pair;
        None when the events do not alternate (a closing event with no open
        'introduced', or two 'introduced' in a row)."""
        intervals: list[tuple[Any, Any, bool]] = []
        start: Any = None
        opened = False
        for kind, value in events:
            if kind == "introduced":
                if opened:
                    return None
                start, opened = (None if value == "0" else self.key(value)), True
            elif kind in ("fixed", "last_affected"):
                if not opened:
                    return None
                intervals.append((start, self.key(value), kind == "last_affected"))
                opened = False
        if opened:
            intervals.append((start, None, False))
        return intervals

    def _sorted_walk(self, v: Any, events: Sequence[tuple[str, str]]) -> bool:
        affected = False
        for _, kind, bound in sorted(self._ordered_events(events), key=lambda e: e[0]):
            if kind == "introduced":
                affected = affected or bound is None or v >= bound
            elif kind == "fixed" and v >= bound:
                affected = False
            elif kind == "last_affected" and v > bound:
                affected = False
        return affected

    def _ordered_events(self, events: Sequence[tuple[str, str]]) -> list[tuple[Any, str, Any]]:
        """(sort position, kind, bound key); introduced "0" sorts first, and at equal
        versions events keep their given order."""
        out: list[tuple[Any, str, Any]] = []
        for index, (kind, value) in enumerate(events):
            if kind not in ("introduced", "fixed", "last_affected"):
                continue
            if kind == "introduced" and value == "0":
                out.append(((0, index), kind, None))
            else:
                out.append(((1, _Sortable(self.key(value)), index), kind, self.key(value)))
        return out


class _Sortable:
    """Wraps a version key so it sorts with ``<`` only (keys need not be hashable)."""

    __slots__ = ("key",)

    def __init__(self, key: Any) -> None:
        self.key = key

    def __lt__(self, other: _Sortable) -> bool:
        return bool(self.key < other.key)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Sortable) and bool(self.key == other.key)

    __hash__ = None  # type: ignore[assignment]


MAX_VERSION_LENGTH = 256


def checked(version: object, limit: int = MAX_VERSION_LENGTH) -> str:
    """The version text if it is a bounded, printable string; else InvalidVersion.

    Every scheme calls this first, so hostile input (huge strings, control
    characters, non-strings) is rejected before any parsing work is done.
    """
    if not isinstance(version, str):
        raise InvalidVersion(f"version must be a string, not {type(version).__name__}")
    if not version:
        raise InvalidVersion("empty version")
    if len(version) > limit:
        raise InvalidVersion(f"version longer than {limit} characters")
    if not version.isprintable():
        raise InvalidVersion(f"version {version!r} contains control characters")
    return version


def padded_key(elements: Sequence[Any], pad: Any) -> tuple[Any, ...]:
    """A tuple key for sequences compared element-wise with implicit padding.

    Many schemes compare two sequences as if the shorter one were extended
    with ``pad`` forever ("1.0" == "1.0.0"; "1.0" > "1.0~rc1" when a
    missing character weighs more than "~"). Plain tuple order gets this
    wrong (a prefix always sorts first), so each non-pad element ``x`` is
    encoded with the number ``k`` of pad elements before it, and the end is
    a terminator that sits between elements below and above ``pad``.
    Elements must be mutually comparable with ``pad``.
    """
    out: list[tuple[Any, ...]] = []
    run = 0
    for x in elements:
        if x == pad:
            run += 1
            continue
        if x > pad:
            out.append((1, -run, x))
        else:
            out.append((-1, run, x))
        run = 0
    out.append((0,))
    return tuple(out)


_T = TypeVar("_T")


class CachedParser(Generic[_T]):
    """An LRU-cached ``str -> key`` parser that rejects non-strings before
    hashing them (so a list or dict gives InvalidVersion, not TypeError)."""

    def __init__(self, parse: Callable[[str], _T], maxsize: int = 65536) -> None:
        self._cached = lru_cache(maxsize=maxsize)(parse)
        self.__wrapped__ = parse
        self.__doc__ = parse.__doc__
        self.__name__ = getattr(parse, "__name__", "parser")

    def __call__(self, version: str) -> _T:
        if not isinstance(version, str):
            raise InvalidVersion(f"version must be a string, not {type(version).__name__}")
        return self._cached(version)

    def cache_clear(self) -> None:
        self._cached.cache_clear()

    def cache_info(self) -> Any:
        return self._cached.cache_info()


def cached_parser(parse: Callable[[str], _T]) -> CachedParser[_T]:
    """Decorator: see CachedParser. Every scheme's key function uses it."""
    return CachedParser(parse)
