"""Semantic Versioning 2.0 ordering (also Cargo / crates.io).

Tolerant parsing, as real advisory data needs: a leading ``v``, fewer than
three numeric components (missing ones are 0) or more than three (compared
in turn), and numbers with leading zeros are accepted. Prerelease
identifiers follow SemVer §11: numeric ones compare numerically and sort
before alphanumeric ones (ASCII order); a shorter list of equal identifiers
sorts first; a release sorts after all its prereleases. Build metadata is
ignored.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from layerscan.versions.base import (
    InvalidVersion,
    VersionScheme,
    cached_parser,
    checked,
    padded_key,
)

_SEMVER = re.compile(
    r"[vV]?(?P<core>[0-9]+(?:\.[0-9]+)*)"
    r"(?:-(?P<pre>[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?"
    r"(?:\+(?P<build>[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?\Z"
)


@dataclass(frozen=True)
class SemVer:
    """A parsed version; ``release`` holds all numeric components as written."""

    release: tuple[int, ...]
    prerelease: tuple[str, ...]
    build: tuple[str, ...]

    def part(self, index: int) -> int:
        return self.release[index] if index < len(self.release) else 0

    @property
    def triple(self) -> tuple[int, int, int]:
        return (self.part(0), self.part(1), self.part(2))

    def sort_key(self) -> tuple[Any, ...]:
        return semver_sort_key(self.release, self.prerelease)


def _identifier_key(identifier: str) -> tuple[int, Any]:
    return (0, int(identifier)) if identifier.isdigit() else (1, identifier)


def semver_sort_key(release: tuple[int, ...], prerelease: tuple[str, ...]) -> tuple[Any, ...]:
    pre: tuple[Any, ...] = (1,) if not prerelease else (0, tuple(_identifier_key(i) for i in prerelease))
    return (padded_key(release, 0), pre)


@cached_parser
def parse_semver(version: str) -> SemVer:
    m = _SEMVER.match(checked(version).strip())
    if m is None:
        raise InvalidVersion(f"not a semantic version: {version!r}")
    pre, build = m.group("pre"), m.group("build")
    return SemVer(
        release=tuple(int(p) for p in m.group("core").split(".")),
        prerelease=tuple(pre.split(".")) if pre else (),
        build=tuple(build.split(".")) if build else (),
    )


@cached_parser
def semver_key(version: str) -> tuple[Any, ...]:
    return parse_semver(version).sort_key()


class SemverScheme(VersionScheme):
    name = "semver"

    def key(self, version: str) -> tuple[Any, ...]:
        return semver_key(version)

    def parse(self, version: str) -> SemVer:
        return parse_semver(version)
