"""Evaluate one stored ``Affected`` row against an installed version.

Returns a :class:`Verdict` (affected or not, the fixed version that closes the
interval the version falls in, and a human-readable reason) or raises
InvalidVersion, which the matcher records as an unknown — never a silent
match or non-match.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from layerscan.model import Affected, Range
from layerscan.versions import InvalidVersion, VersionScheme

NPM_RANGE = "NPM_RANGE"  # nodejs security-wg range strings (db.feeds.nodejs)
UNFIXED_STATUSES = frozenset({"affected", "will_not_fix", "fix_deferred", "end_of_life", "under_investigation"})


@dataclass(frozen=True)
class Verdict:
    affected: bool
    fixed_version: str = ""
    status: str = "affected"
    reason: str = ""


NOT_AFFECTED = Verdict(False)


def _interval_hit(version_key: Any, rng: Range, scheme: VersionScheme) -> Verdict:
    """Walk OSV events in order; return the interval containing the version."""
    start: Any = None
    opened = False
    limits = [scheme.key(v) for k, v in rng.events if k == "limit"]
    if limits and not any(version_key < lim for lim in limits):
        return NOT_AFFECTED
    intro_text = "0"
    for kind, value in rng.events:
        if kind == "introduced":
            start, opened, intro_text = (None if value == "0" else scheme.key(value)), True, value
        elif kind in ("fixed", "last_affected") and opened:
            end = scheme.key(value)
            opened = False
            inside = (start is None or version_key >= start) and (
                version_key < end or (kind == "last_affected" and version_key == end))
            if inside:
                fixed = value if kind == "fixed" else ""
                return Verdict(True, fixed, "fixed" if fixed else "affected",
                               f"{rng.type} range introduced {intro_text}, {kind} {value}")
    if opened and (start is None or version_key >= start):
        return Verdict(True, "", "affected", f"{rng.type} range introduced {intro_text}, no fix")
    return NOT_AFFECTED


def _npm_hit(version: str, rng: Range) -> Verdict:
    from layerscan.versions import npm

    vulnerable = [v for k, v in rng.events if k == "vulnerable"]
    patched = [v for k, v in rng.events if k == "patched"]
    if not any(npm.satisfies(version, r) for r in vulnerable):
        return NOT_AFFECTED
    if any(npm.satisfies(version, r) for r in patched if r.strip() not in ("", "<0.0.0")):
        return NOT_AFFECTED
    fixed = ", ".join(p for p in patched if p.strip() not in ("", "<0.0.0"))
    return Verdict(True, fixed, "fixed" if fixed else "affected",
                   f"vulnerable {' || '.join(vulnerable)}; patched {fixed or 'none'}")


def evaluate(affected: Affected, version: str, scheme: VersionScheme) -> Verdict:
    """Raises InvalidVersion when the installed version (or the data) is not valid for the scheme."""
    if affected.status == "not_affected":
        return NOT_AFFECTED
    key = scheme.key(version)
    if affected.versions and any(_same(scheme, version, v) for v in affected.versions):
        fixed = _first_fixed(affected)
        return Verdict(True, fixed, "fixed" if fixed else affected.status,
                       f"version {version} listed as affected")
    for rng in affected.ranges:
        if rng.type == "GIT":
            continue
        verdict = _npm_hit(version, rng) if rng.type == NPM_RANGE else _interval_hit(key, rng, scheme)
        if verdict.affected:
            fixed = verdict.fixed_version or affected.fixed_version
            status = "fixed" if fixed else _unfixed_status(affected)
            return Verdict(True, fixed, status, verdict.reason)
    if not affected.ranges and not affected.versions:
        return _distro_verdict(affected, key, scheme)
    return NOT_AFFECTED


def _distro_verdict(affected: Affected, key: Any, scheme: VersionScheme) -> Verdict:
    if affected.fixed_version:
        if key < scheme.key(affected.fixed_version):
            return Verdict(True, affected.fixed_version, "fixed", f"fixed in {affected.fixed_version}")
        return NOT_AFFECTED
    if affected.status in UNFIXED_STATUSES:
        return Verdict(True, "", affected.status, f"status {affected.status} (no fix)")
    return NOT_AFFECTED


def _unfixed_status(affected: Affected) -> str:
    return affected.status if affected.status in UNFIXED_STATUSES else "affected"


def _first_fixed(affected: Affected) -> str:
    for rng in affected.ranges:
        if rng.type == "GIT":  # commit hashes are not versions a user can upgrade to
            continue
        for kind, value in rng.events:
            if kind == "fixed":
                return value
    return affected.fixed_version


def _same(scheme: VersionScheme, a: str, b: str) -> bool:
    if a == b:
        return True
    try:
        return scheme.compare(a, b) == 0
    except InvalidVersion:
        return False
