"""Go module and toolchain versions.

Module versions are semantic versions with a ``v`` prefix; ``+incompatible``
is build metadata and is ignored; pseudo-versions
(``v0.0.0-20191109021931-daa7c04131f5``, ``v1.2.4-0.20191109021931-...``)
are prereleases and order by their timestamp. OSV's Go data writes versions
without the ``v``, so both forms are accepted. Toolchain versions
(``go1.21``, ``go1.21.5``, ``go1.21rc2``, ``go1.9beta1``) are mapped to
``1.21.0``, ``1.21.5``, ``1.21.0-rc.2``, ``1.9.0-beta.1`` as the Go
vulnerability database does for the ``stdlib`` and ``toolchain`` modules.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from layerscan.versions.base import InvalidVersion, cached_parser, checked
from layerscan.versions.semver import SemverScheme, parse_semver

_TOOLCHAIN = re.compile(r"go(?P<release>[0-9]+(?:\.[0-9]+){0,2})(?:(?P<pre>beta|rc)(?P<n>[0-9]+))?\Z")
_PSEUDO_TAIL = re.compile(r"(?:.*\.)?(?P<time>[0-9]{14})-(?P<rev>[0-9a-f]{12})\Z")


def toolchain_to_semver(version: str) -> str:
    """``go1.21rc2`` -> ``1.21.0-rc.2``; other strings are returned unchanged."""
    m = _TOOLCHAIN.match(version)
    if m is None:
        return version
    parts = m.group("release").split(".")
    core = ".".join(parts + ["0"] * (3 - len(parts)))
    return f"{core}-{m.group('pre')}.{m.group('n')}" if m.group("pre") else core


@dataclass(frozen=True)
class Pseudo:
    timestamp: str  # yyyymmddhhmmss (UTC)
    revision: str  # 12-hex commit prefix


def pseudo_version(version: str) -> Pseudo | None:
    """The commit of a pseudo-version, or None for a tagged version."""
    parsed = parse_semver(toolchain_to_semver(checked(version).strip()))
    m = _PSEUDO_TAIL.match(".".join(parsed.prerelease))
    return Pseudo(m.group("time"), m.group("rev")) if m else None


@cached_parser
def golang_key(version: str) -> tuple[Any, ...]:
    text = toolchain_to_semver(checked(version).strip())
    parsed = parse_semver(text)
    if len(parsed.release) > 3:
        raise InvalidVersion(f"Go versions have at most three components: {version!r}")
    return parsed.sort_key()


class GolangScheme(SemverScheme):
    name = "golang"

    def key(self, version: str) -> tuple[Any, ...]:
        return golang_key(version)
