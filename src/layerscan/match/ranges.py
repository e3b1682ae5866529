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


def _interval_hit(version: str, version_key: Any, rng: Range, scheme: VersionScheme) -> Verdict:
    """Whether the version is affected is the scheme's OSV evaluation; the fix offered
    is the lowest 'fixed' event above the installed version (the end of its interval)."""
    if not scheme.in_range(version, rng.events):
        return NOT_AFFECTED
    fixes = sorted((scheme.key(v), v) for k, v in rng.events if k == "fixed" and scheme.key(v) > version_key)
    events = ", ".join(f"{k} {v}" for k, v in rng.events)
    if fixes:
        return Verdict(True, fixes[0][1], "fixed", f"{rng.type} range {events}")
    return Verdict(True, "", "affected", f"{rng.type} range {events}; no fix")


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
    """Raises InvalidVersion when the installed version (or the data) is not valid for the scheme.

    Ranges first (they say which fix applies to the installed branch), then the record's
    explicit list of affected versions, then a distro row's fixed version / status."""
    if affected.status == "not_affected":
        return NOT_AFFECTED
    key = scheme.key(version)
    for rng in affected.ranges:
        if rng.type == "GIT":
            continue
        verdict = _npm_hit(version, rng) if rng.type == NPM_RANGE else _interval_hit(version, key, rng, scheme)
        if verdict.affected:
            status = "fixed" if verdict.fixed_version else _unfixed_status(affected)
            return Verdict(True, verdict.fixed_version, status, verdict.reason)
    if affected.versions and any(_same(scheme, version, v) for v in affected.versions):
        fixed = _lowest_fix_above(affected, key, scheme)
        return Verdict(True, fixed, "fixed" if fixed else _unfixed_status(affected),
                       f"version {version} listed as affected")
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


def _lowest_fix_above(affected: Affected, key: Any, scheme: VersionScheme) -> str:
    """The first fix above the installed version (GIT commits are not versions to upgrade to)."""
    fixes = []
    for rng in affected.ranges:
        if rng.type in ("GIT", NPM_RANGE):
            continue
        for kind, value in rng.events:
            if kind == "fixed":
                try:
                    fix_key = scheme.key(value)
                except InvalidVersion:
                    continue
                if fix_key > key:
                    fixes.append((fix_key, value))
    return min(fixes)[1] if fixes else ""


def _same(scheme: VersionScheme, a: str, b: str) -> bool:
    if a == b:
        return True
    try:
        return scheme.compare(a, b) == 0
    except InvalidVersion:
        return False
