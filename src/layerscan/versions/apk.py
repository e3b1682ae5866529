"""Alpine apk version ordering, following apk-tools' tokenizer rules.

Grammar: ``digits{.digits}[letter]{_suffix[digits]}[~hash][-rN]``, e.g.
``1.2.3b_rc1_p2~1a2b-r4``. A letter may follow any numeric component
(``6.6.2p1``) and digits may follow a letter. A dotted letter followed by
digits (``0.8.21.r2``, seen in real Alpine data) is accepted as a letter
that sorts just before the same letter without the dot. Suffixes are ``alpha``,
``beta``, ``pre``, ``rc`` (pre-releases, before the plain version) and
``cvs``, ``svn``, ``git``, ``hg``, ``p`` (after it). Numbers after a dot
with a leading zero compare as strings (``1.02`` < ``1.1``). Anything else
(``1.0-1``, ``1.2_foo``, ``1..2``, upper-case letters) is invalid.

Comparison walks both token lists; the first differing position decides.
Where the token *types* differ, a pre-release suffix is lowest, otherwise
the token type that comes later in the grammar (the end of the string
counting as the latest) sorts lower: ``1.2 < 1.2.1`` and ``1.2_p1 < 1.2p1``
but ``1.2_rc1 < 1.2``.
"""

from __future__ import annotations

import re
from typing import Any

from layerscan.versions.base import InvalidVersion, VersionScheme, cached_parser, checked

# token types, in grammar order
FIRST, DIGIT, LETTER, SUFFIX, SUFFIX_NO, HASH, REVISION, END = range(8)

PRE_SUFFIXES = ("alpha", "beta", "pre", "rc")
POST_SUFFIXES = ("cvs", "svn", "git", "hg", "p")
_SUFFIX_VALUE = {s: i - len(PRE_SUFFIXES) for i, s in enumerate(PRE_SUFFIXES)}
_SUFFIX_VALUE.update({s: i + 1 for i, s in enumerate(POST_SUFFIXES)})

_TOKEN = re.compile(
    r"(?P<dot>\.[0-9]+)|\.(?P<dotletter>[a-z])(?=[0-9])|(?P<digits>[0-9]+)|(?P<letter>[a-z])"
    r"|_(?P<suffix>[a-z]+)|~(?P<hash>[0-9a-f]+)|-r(?P<revision>[0-9]+)"
)
_LEADING = re.compile(r"[0-9]+")
_PRE_RANK = -100  # pre-release suffixes sort below every other token type


def _next_type(kind: str, previous: int) -> int:
    """The token type for a lexical ``kind`` after ``previous``; InvalidVersion if out of order."""
    if kind == "dot" and previous <= DIGIT:
        return DIGIT
    if kind == "digits" and previous == LETTER:
        return DIGIT
    if kind == "digits" and previous == SUFFIX:
        return SUFFIX_NO
    if kind in ("letter", "dotletter") and previous <= DIGIT:
        return LETTER
    if kind == "suffix" and previous <= SUFFIX_NO:
        return SUFFIX
    if kind == "hash" and previous < HASH:
        return HASH
    if kind == "revision" and previous < REVISION:
        return REVISION
    raise InvalidVersion(f"unexpected {kind} after {previous}")


def _digit_value(text: str) -> tuple[int, Any]:
    """Leading-zero components compare as strings, below all plain numbers."""
    return (0, text) if text.startswith("0") else (1, int(text))


def _element(kind: str, kind_type: int, text: str) -> tuple[int, Any]:
    if kind_type == DIGIT:
        return (-DIGIT, _digit_value(text.lstrip(".")))
    if kind_type == LETTER:
        return (-LETTER, (int(kind == "letter"), ord(text)))
    if kind_type == SUFFIX:
        value = _SUFFIX_VALUE.get(text)
        if value is None:
            raise InvalidVersion(f"unknown suffix _{text}")
        return (_PRE_RANK if value < 0 else -SUFFIX, value)
    if kind_type == HASH:
        return (-HASH, text)
    return (-kind_type, int(text))


@cached_parser
def apk_key(version: str) -> tuple[tuple[int, Any], ...]:
    text = checked(version)
    first = _LEADING.match(text)
    if first is None:
        raise InvalidVersion(f"Alpine version {version!r} must start with a digit")
    elements = [(-FIRST, int(first.group()))]
    previous, pos = FIRST, first.end()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None or m.lastgroup is None:
            raise InvalidVersion(f"invalid Alpine version {version!r} at offset {pos}")
        try:
            previous = _next_type(m.lastgroup, previous)
            value = m.group(m.lastgroup)
            elements.append(_element(m.lastgroup, previous, value))
        except InvalidVersion as exc:
            raise InvalidVersion(f"invalid Alpine version {version!r}: {exc}") from None
        pos = m.end()
    elements.append((-END, 0))
    return tuple(elements)


class ApkScheme(VersionScheme):
    name = "apk"

    def key(self, version: str) -> tuple[tuple[int, Any], ...]:
        return apk_key(version)
