"""Maven version ordering (ComparableVersion rules).

A version is split at ``.`` and ``-`` and at every switch between digits
and letters; ``-`` (and a letter/digit switch) opens a nested list. Items
are numbers, qualifiers, or lists. Qualifier order:
``alpha < beta < milestone < rc = cr < snapshot < "" = ga = final = release < sp``,
then unknown qualifiers in lexical order; ``a``/``b``/``m`` directly before a
digit mean alpha/beta/milestone. Trailing zero/empty items are dropped
(``1.0.0 = 1``); when one side runs out it is padded with "nothing", which
sorts after qualifiers below release, and below numbers. Case-insensitive.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from typing import Union

from layerscan.versions.base import InvalidVersion, VersionScheme, cached_parser, checked

QUALIFIERS = ("alpha", "beta", "milestone", "rc", "snapshot", "", "sp")
_ALIASES = {"ga": "", "final": "", "release": "", "cr": "rc"}
_SHORT = {"a": "alpha", "b": "beta", "m": "milestone"}
_RELEASE_RANK = (QUALIFIERS.index(""), "")
_ALLOWED = re.compile(r"[0-9A-Za-z._+~-]+\Z")

Item = Union[int, "Qualifier", "Items"]


@dataclass(frozen=True)
class Qualifier:
    rank: tuple[int, str]  # (index in QUALIFIERS, or len(QUALIFIERS) for unknown; text)

    @classmethod
    def of(cls, text: str, followed_by_digit: bool) -> Qualifier:
        if followed_by_digit and text in _SHORT:
            text = _SHORT[text]
        text = _ALIASES.get(text, text)
        if text in QUALIFIERS:
            return cls((QUALIFIERS.index(text), ""))
        return cls((len(QUALIFIERS), text))

    def is_null(self) -> bool:
        return self.rank == _RELEASE_RANK


@dataclass(frozen=True)
class Items:
    items: tuple[Item, ...]


def _sign(x: int) -> int:
    return (x > 0) - (x < 0)


def _is_null(item: Item) -> bool:
    if isinstance(item, int):
        return item == 0
    if isinstance(item, Qualifier):
        return item.is_null()
    return not item.items


def _compare_to_nothing(item: Item) -> int:
    if isinstance(item, int):
        return _sign(item)
    if isinstance(item, Qualifier):
        return _sign((item.rank > _RELEASE_RANK) - (item.rank < _RELEASE_RANK))
    # every item, not just the first (MNG-6964: 1-0.1 > 1)
    return next((r for r in map(_compare_to_nothing, item.items) if r), 0)


def compare_items(a: Item | None, b: Item | None) -> int:
    """ComparableVersion's Item.compareTo, with None for a missing item."""
    if a is None:
        return 0 if b is None else -compare_items(b, None)
    if b is None:
        return _compare_to_nothing(a)
    if isinstance(a, int):
        return _sign(a - b) if isinstance(b, int) else 1
    if isinstance(a, Qualifier):
        if isinstance(b, Qualifier):
            return (a.rank > b.rank) - (a.rank < b.rank)
        return -1
    if isinstance(b, int):
        return -1
    if isinstance(b, Qualifier):
        return 1
    for i in range(max(len(a.items), len(b.items))):
        left = a.items[i] if i < len(a.items) else None
        right = b.items[i] if i < len(b.items) else None
        result = compare_items(left, right)
        if result:
            return result
    return 0


def _normalize(items: list[Item]) -> Items:
    """Drop trailing null items (0, release qualifiers, empty lists)."""
    i = len(items) - 1
    while i >= 0:
        if _is_null(items[i]):
            del items[i]
        elif not isinstance(items[i], Items):
            break
        i -= 1
    return Items(tuple(items))


def _atom(text: str, followed_by_digit: bool) -> Item:
    return int(text) if text.isdigit() else Qualifier.of(text, followed_by_digit)


class _Builder:
    """Builds the nested item lists; one list per ``-`` or letter/digit switch."""

    def __init__(self) -> None:
        self.stack: list[list[Item]] = [[]]

    def add(self, item: Item) -> None:
        self.stack[-1].append(item)

    def open(self) -> None:
        self.stack.append([])

    def close_all(self) -> Items:
        while len(self.stack) > 1:
            done = _normalize(self.stack.pop())
            self.stack[-1].append(done)
        return _normalize(self.stack[0])


def parse_items(version: str) -> Items:
    text = version.lower()
    builder = _Builder()
    start, is_digit = 0, False
    for i, c in enumerate(text):
        if c in ".-":
            builder.add(_atom(text[start:i], False) if i > start else 0)
            start = i + 1
            if c == "-":
                builder.open()
        elif c.isdigit():
            if not is_digit and i > start:
                builder.add(Qualifier.of(text[start:i], True))
                start = i
                builder.open()
            is_digit = True
        else:
            if is_digit and i > start:
                builder.add(int(text[start:i]))
                start = i
                builder.open()
            is_digit = False
    if len(text) > start:
        builder.add(_atom(text[start:], False))
    return builder.close_all()


@functools.total_ordering
@dataclass(frozen=True, eq=False)
class MavenKey:
    items: Items

    def __eq__(self, other: object) -> bool:
        return isinstance(other, MavenKey) and compare_items(self.items, other.items) == 0

    def __lt__(self, other: MavenKey) -> bool:
        return compare_items(self.items, other.items) < 0

    def __hash__(self) -> int:
        # normalised lists that compare equal are structurally equal
        return hash(self.items)


@cached_parser
def maven_key(version: str) -> MavenKey:
    text = checked(version).strip()
    if not _ALLOWED.match(text):
        raise InvalidVersion(f"invalid Maven version {version!r}")
    return MavenKey(parse_items(text))


class MavenScheme(VersionScheme):
    name = "maven"

    def key(self, version: str) -> MavenKey:
        return maven_key(version)
