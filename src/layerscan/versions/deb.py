"""Debian version ordering (Debian Policy §5.6.12, dpkg's verrevcmp).

``[epoch:]upstream[-revision]``: the epoch is numeric; upstream and revision
are compared as alternating non-digit and digit runs. In non-digit runs
letters sort before non-letters, and ``~`` sorts before everything, even
the end of the string. A missing revision equals ``0``.
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

_UPSTREAM = re.compile(r"[0-9][A-Za-z0-9.+~:-]*\Z")
_REVISION = re.compile(r"[A-Za-z0-9.+~]+\Z")
_RUNS = re.compile(r"([^0-9]*)([0-9]*)")


def _char_weight(c: str) -> int:
    if c == "~":
        return -1
    if c.isalpha():
        return ord(c)
    return ord(c) + 256




_PAD_RUN = (padded_key((), 0), 0)  # an empty non-digit run, then the number 0


def _part_key(text: str) -> tuple[Any, ...]:
    runs = []
    for letters, digits in _RUNS.findall(text):
        if not letters and not digits:
            continue
        runs.append((padded_key([_char_weight(c) for c in letters], 0), int(digits or 0)))
    return padded_key(runs, _PAD_RUN)


@cached_parser
def deb_key(version: str) -> tuple[Any, ...]:
    text = checked(version).strip()
    epoch_text, colon, rest = text.partition(":")
    if not colon:
        epoch_text, rest = "0", text
    if not epoch_text.isdigit() or not epoch_text.isascii():
        raise InvalidVersion(f"invalid Debian epoch in {version!r}")
    upstream, dash, revision = rest.rpartition("-")
    if not dash:
        upstream, revision = rest, "0"
    if not _UPSTREAM.match(upstream):
        raise InvalidVersion(f"invalid Debian upstream version in {version!r}")
    if not _REVISION.match(revision):
        raise InvalidVersion(f"invalid Debian revision in {version!r}")
    return (int(epoch_text), _part_key(upstream), _part_key(revision))


class DebScheme(VersionScheme):
    name = "deb"

    def key(self, version: str) -> tuple[Any, ...]:
        return deb_key(version)
