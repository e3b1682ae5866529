"""Image tags in the docker-library grammar ``<version>[-<flavor>][-<os>]``, parsed into parts
that compare: ``3.12.1-slim-bookworm`` -> version (3, 12, 1), flavor ``slim``, os ``bookworm``;
``20-alpine3.19`` -> (20,), "", ``alpine3.19``.

The OS part is the last segment when it is an Alpine release (``alpine``, ``alpine3.19``) or
one of the codenames given (from the endoflife.date data in the database: ``bookworm``,
``jammy``, ...); the segments between version and OS are the flavor. A tag that does not
begin with a dotted number (``latest``, ``bookworm-slim``, ``3.x``) has no version: it is
``parsed`` False and never a patch or minor candidate.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Iterable

MAX_COMPONENTS = 4
_VERSION = re.compile(r"^v?(\d{1,9}(?:\.\d{1,9}){0,%d})$" % (MAX_COMPONENTS - 1))
_ALPINE = re.compile(r"^alpine(?:\d{1,3}(?:\.\d{1,3})*)?$")


@dataclass(frozen=True)
class TagParts:
    tag: str
    version: tuple[int, ...] = ()  # () when the tag has no leading version
    flavor: str = ""
    os: str = ""

    @property
    def parsed(self) -> bool:
        return bool(self.version)

    @property
    def line(self) -> tuple[str, str]:
        """What must stay the same for a patch/minor upgrade: flavor and OS."""
        return self.flavor, self.os

    @property
    def version_text(self) -> str:
        return ".".join(map(str, self.version))


def parse_tag(tag: str, os_names: Iterable[str] = ()) -> TagParts:
    head, *rest = tag.split("-")
    m = _VERSION.match(head)
    if m is None:
        return TagParts(tag)
    version = tuple(int(p) for p in m.group(1).split("."))
    os_name = ""
    if rest and (_ALPINE.match(rest[-1]) or rest[-1] in set(os_names)):
        os_name = rest.pop()
    return TagParts(tag, version, "-".join(rest), os_name)


def padded(version: tuple[int, ...], width: int = MAX_COMPONENTS) -> tuple[int, ...]:
    """Versions compared component-wise, missing components as 0 (3.12 == 3.12.0)."""
    return version + (0,) * (width - len(version))


def upgrade_class(current: TagParts, candidate: TagParts) -> str:
    """``patch`` (same major.minor, newer), ``minor`` (same major, newer minor), or "" (not a
    patch/minor upgrade of the same flavor and OS). A floating tag that begins the current
    version (``3.12`` for ``3.12.1``, ``3`` for ``3.12``) is at least as new: patch for a
    major.minor, minor for a major."""
    if not (current.parsed and candidate.parsed) or current.line != candidate.line:
        return ""
    cand, cur = candidate.version, current.version
    floating = len(cand) < len(cur) and cur[:len(cand)] == cand
    if cand[0] != cur[0] or (not floating and padded(cand) < padded(cur)):
        return ""
    return "patch" if len(cand) >= 2 and padded(cand)[:2] == padded(cur)[:2] else "minor"
