"""RubyGems ordering (Gem::Version).

Valid: ``digits(.alnum)*`` optionally followed by ``-`` prerelease parts
(``-`` reads as ``.pre.``). Segments are runs of digits (numbers) or
letters (strings); a version with any letter is a prerelease. Trailing
zeros of the release part and of the prerelease part are dropped, the
shorter side is padded with 0, and a string sorts before any number.
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

_VALID = re.compile(r"[0-9]+(?:\.[0-9a-zA-Z]+)*(?:-[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*)?\Z")
_SEGMENT = re.compile(r"[0-9]+|[a-zA-Z]+")
_ZERO = (1, 0)


def _segment(text: str) -> tuple[int, Any]:
    return (1, int(text)) if text.isdigit() else (0, text)


def _strip_zeros(segments: list[tuple[int, Any]]) -> list[tuple[int, Any]]:
    while segments and segments[-1] == _ZERO:
        segments.pop()
    return segments


def gem_segments(version: str) -> list[tuple[int, Any]]:
    """Canonical segments: (1, number) or (0, string)."""
    text = checked(version).strip() or "0"
    if not _VALID.match(text):
        raise InvalidVersion(f"invalid RubyGems version {version!r}")
    segments = [_segment(s) for s in _SEGMENT.findall(text.replace("-", ".pre."))]
    first_string = next((i for i, s in enumerate(segments) if s[0] == 0), len(segments))
    return _strip_zeros(segments[:first_string]) + _strip_zeros(segments[first_string:])


@cached_parser
def gem_key(version: str) -> tuple[Any, ...]:
    return padded_key(gem_segments(version), _ZERO)


class GemScheme(VersionScheme):
    name = "gem"

    def key(self, version: str) -> tuple[Any, ...]:
        return gem_key(version)
