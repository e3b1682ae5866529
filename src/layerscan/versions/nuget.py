"""NuGet ordering (NuGetVersion): SemVer 2.0 plus 4-part legacy versions.

Up to four numeric parts (missing parts are 0, ``1.0 = 1.0.0.0``), an
optional prerelease label list compared case-insensitively (numeric labels
numerically, before alphanumeric ones), and build metadata, ignored.
"""

from __future__ import annotations

import re
from typing import Any

from layerscan.versions.base import InvalidVersion, VersionScheme, cached_parser, checked

_NUGET = re.compile(
    r"(?P<core>[0-9]+(?:\.[0-9]+){0,3})"
    r"(?:-(?P<pre>[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?"
    r"(?:\+(?P<build>[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?\Z"
)


def _label_key(label: str) -> tuple[int, Any]:
    return (0, int(label)) if label.isdigit() else (1, label.lower())


@cached_parser
def nuget_key(version: str) -> tuple[Any, ...]:
    m = _NUGET.match(checked(version).strip())
    if m is None:
        raise InvalidVersion(f"invalid NuGet version {version!r}")
    parts = [int(p) for p in m.group("core").split(".")]
    release = tuple(parts + [0] * (4 - len(parts)))
    pre = m.group("pre")
    pre_key: tuple[Any, ...] = (0, tuple(_label_key(x) for x in pre.split("."))) if pre else (1,)
    return (release, pre_key)


class NugetScheme(VersionScheme):
    name = "nuget"

    def key(self, version: str) -> tuple[Any, ...]:
        return nuget_key(version)
