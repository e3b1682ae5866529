"""RPM version ordering (rpmvercmp, as in rpm >= 4.15) over ``[epoch:]version[-release]``.

Each part is split into runs of ASCII digits and ASCII letters; everything
else separates runs. Per position: ``~`` < end of string < ``^`` < letters
< digits (numbers compare by value). The epoch is compared with the same
rules and defaults to 0; a missing release sorts before any release.
"""

from __future__ import annotations

import re
from typing import Any

from layerscan.versions.base import InvalidVersion, VersionScheme, cached_parser, checked

_TOKENS = re.compile(r"~|\^|[0-9]+|[A-Za-z]+")

_TILDE, _END, _CARET, _ALPHA, _NUM = -2, -1, 0, 1, 2
_END_TOKEN = (_END, 0)


def _token(text: str) -> tuple[int, Any]:
    if text == "~":
        return (_TILDE, 0)
    if text == "^":
        return (_CARET, 0)
    if text.isdigit():
        return (_NUM, int(text))
    return (_ALPHA, text)


def vercmp_key(text: str) -> tuple[tuple[int, Any], ...]:
    """Sort key of one EVR field under rpmvercmp."""
    return tuple(_token(t) for t in _TOKENS.findall(text)) + (_END_TOKEN,)


@cached_parser
def rpm_key(version: str) -> tuple[Any, ...]:
    text = checked(version).strip()
    if not text:
        raise InvalidVersion("empty RPM version")
    epoch, colon, rest = text.partition(":")
    if not colon:
        epoch, rest = "0", text
    elif not epoch:
        epoch = "0"
    ver, dash, release = rest.rpartition("-")
    if not dash:
        return (vercmp_key(epoch), vercmp_key(rest), (0,))
    return (vercmp_key(epoch), vercmp_key(ver), (1, vercmp_key(release)))


class RpmScheme(VersionScheme):
    name = "rpm"

    def key(self, version: str) -> tuple[Any, ...]:
        return rpm_key(version)
