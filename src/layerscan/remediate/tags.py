"""Image tags in the docker-library grammar ``<version>[-<flavor>][-<os>]``, parsed into parts
that compare: ``3.12.1-slim-bookworm`` -> version (3, 12, 1), flavor ``slim``, os ``bookworm``;
``20-alpine3.19`` -> (20,), "", ``alpine3.19``.

The OS part is the last segment when it is an Alpine release (``alpine``, ``alpine3.19``) or
one of the codenames given (from the endoflife.date data in the database: ``bookworm``,
``jammy``, ...); the segments between version and OS are the flavor. A tag that does not
begin with a dotted number (``latest``, ``bookworm-slim``, ``3.x``) has no version: it is
``parsed`` False and never a candidate.

OS parts compare within a family (``os_rank``): Debian/Ubuntu codenames by their release
cycle (given by the caller, from the endoflife.date data), Alpine by its version
(``alpine3.19`` < ``alpine3.20``). The variant (``variant``) is what an ``alternative``
candidate changes: ``slim`` or ``distroless`` in the flavor, or an Alpine OS.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Iterable, Mapping

MAX_COMPONENTS = 4
_VERSION = re.compile(r"^v?(\d{1,9}(?:\.\d{1,9}){0,%d})$" % (MAX_COMPONENTS - 1))
_ALPINE = re.compile(r"^alpine(?:\d{1,3}(?:\.\d{1,3})*)?$")
# variant -> what it changes for the application, as the report says it
VARIANTS = {"slim": "fewer packages", "alpine": "musl libc", "distroless": "no shell or package manager"}
OsRanks = Mapping[str, tuple[str, tuple[int, ...]]]  # codename -> (family, release cycle)


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


def os_rank(os_name: str, ranks: OsRanks) -> tuple[str, tuple[int, ...]] | None:
    """(family, release) of a tag's OS part, comparable within the family; None when unknown
    (no OS part, a bare ``alpine``, a codename the data does not have)."""
    if os_name.startswith("alpine") and len(os_name) > len("alpine"):
        return "alpine", tuple(int(p) for p in os_name[len("alpine"):].split("."))
    return ranks.get(os_name)


def newer_os(current: TagParts, candidate: TagParts, ranks: OsRanks) -> bool | None:
    """True: the candidate's OS is a newer release of the same family; False: the same or older;
    None: not comparable (another family, or a release the data does not know)."""
    mine, theirs = os_rank(current.os, ranks), os_rank(candidate.os, ranks)
    if mine is None or theirs is None or mine[0] != theirs[0]:
        return None
    return theirs[1] > mine[1]


def not_older(current: TagParts, candidate: TagParts) -> bool:
    """The candidate's version is the same major and at least as new (a floating tag that
    begins the current version counts as at least as new)."""
    cand, cur = candidate.version, current.version
    if not (cand and cur) or cand[0] != cur[0]:
        return False
    return (len(cand) < len(cur) and cur[:len(cand)] == cand) or padded(cand) >= padded(cur)


def same_line(current: TagParts, candidate: TagParts) -> bool:
    """Same major.minor (as far as both tags spell it), at least as new."""
    n = min(len(current.version), len(candidate.version), 2)
    return not_older(current, candidate) and current.version[:n] == candidate.version[:n]


def variant(parts: TagParts) -> str:
    """``alpine`` (an Alpine OS part), ``distroless`` or ``slim`` (in the flavor), or ""."""
    if parts.os.startswith("alpine"):
        return "alpine"
    words = parts.flavor.split("-")
    return next((v for v in ("distroless", "slim") if v in words), "")
