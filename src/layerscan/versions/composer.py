"""Composer / Packagist ordering: PHP's ``version_compare`` with a ``v`` prefix dropped.

The version is split into parts at ``.``, ``-``, ``_``, ``+`` and at every
switch between digits and non-digits. Numbers compare by value. Words are
"special forms" matched by prefix: ``dev`` < ``alpha``/``a`` < ``beta``/``b``
< ``RC``/``rc`` < (a number, or ``#``) < ``pl``/``p``; any other word sorts
first. When one side runs out, a further number makes the other side
greater, and a further word is compared as if the shorter side had a
number there (``1.0 < 1.0pl1``, ``1.0 > 1.0rc1``, ``1.0 < 1.0.0``); ``#``
stands for that missing number (``1.2.3.# = 1.2.3``).
Composer branch names (``dev-main``) sort before every release.
"""

from __future__ import annotations

import re
from typing import Any

from layerscan.versions.base import (
    InvalidVersion,
    VersionScheme,
    cached_parser,
    checked,
    padded_key,
)

_ALLOWED = re.compile(r"[0-9A-Za-z.+_#/-]+\Z")
_PARTS = re.compile(r"[0-9]+|#|[^0-9.+_#-]+")
# (prefix, order); the first match wins, as in PHP
_SPECIAL_FORMS = (("dev", 0), ("alpha", 1), ("a", 1), ("beta", 2), ("b", 2), ("RC", 3), ("rc", 3),
                  ("#", 4), ("pl", 5), ("p", 5))
_NUMBER_ORDER = 4
_END = (_NUMBER_ORDER, 0)  # the end of a version: a word compares to it as to a number


def _special_order(word: str) -> int:
    for prefix, order in _SPECIAL_FORMS:
        if word.startswith(prefix):
            return order
    return -1


def _part_key(part: str) -> tuple[Any, ...]:
    if part.isdigit():
        return (_NUMBER_ORDER, 1, int(part))
    order = _special_order(part)
    return _END if order == _NUMBER_ORDER else (order, 0)


@cached_parser
def composer_key(version: str) -> tuple[Any, ...]:
    text = checked(version).strip()
    if text[:1] in ("v", "V") and text[1:2].isdigit():
        text = text[1:]
    if not _ALLOWED.match(text) or not any(c.isalnum() for c in text):
        raise InvalidVersion(f"invalid Composer version {version!r}")
    return padded_key([_part_key(p) for p in _PARTS.findall(text)], _END)


class ComposerScheme(VersionScheme):
    name = "composer"

    def key(self, version: str) -> tuple[Any, ...]:
        return composer_key(version)
