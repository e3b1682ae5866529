"""`layerscan explain VULN-ID TARGET`: why a vulnerability did or did not match.

For every package of the SBOM that a record of the vulnerability (or of any of
its aliases) names, say which namespace and record was consulted, which range
or fixed version applied, and the verdict — including packages excluded from
matching (owned by an OS package, the application itself, unknown version).
"""

from __future__ import annotations

from dataclasses import dataclass

from layerscan.match.matcher import StoreLike, evaluate, lookup
from layerscan.match.namespace import compared_version
from layerscan.model import Package, Sbom
from layerscan.versions import InvalidVersion, get_scheme


@dataclass(frozen=True)
class Explanation:
    package: Package
    namespace: str
    advisory_id: str
    affected: bool
    reason: str


def _excluded_reason(pkg: Package) -> str:
    if pkg.os_owner:
        return f"excluded: the file belongs to OS package {pkg.os_owner} (matched through the distro's advisories)"
    if pkg.is_application:
        return "excluded: this is the application itself, not a dependency"
    if pkg.version_unknown_reason or not pkg.version:
        return f"excluded: version unknown ({pkg.version_unknown_reason or 'empty'})"
    return ""


def _verdict(pkg: Package, row, namespace: str) -> tuple[bool, str]:
    excluded = _excluded_reason(pkg)
    if excluded:
        return False, excluded
    version = compared_version(pkg)
    try:
        v = evaluate(row, pkg, get_scheme(namespace))
    except (InvalidVersion, KeyError) as exc:
        return False, f"not compared: {exc}"
    if v.affected:
        fix = f"; fixed in {v.fixed_version}" if v.fixed_version else "; no fix"
        return True, f"installed {version} is inside {v.reason}{fix}"
    return False, f"installed {version} is outside the affected ranges ({_describe(row.affected)})"


def _describe(affected) -> str:
    parts = [" ".join(f"{k} {val}" for k, val in r.events) for r in affected.ranges]
    if affected.fixed_version and not parts:
        parts.append(f"fixed {affected.fixed_version}")
    if affected.status != "affected":
        parts.append(f"status {affected.status}")
    return "; ".join(parts) or "no range"


def explain(sbom: Sbom, store: StoreLike, vuln_id: str) -> list[Explanation]:
    ids = {vuln_id.upper(), *(a.upper() for a in store.aliases(vuln_id))}  # type: ignore[attr-defined]
    out: list[Explanation] = []
    for pkg in sbom.packages:
        namespace, _, rows = lookup(pkg, sbom.os, store)
        for row in rows:
            if row.vuln_id.upper() not in ids and row.primary_id.upper() not in ids:
                continue
            hit, reason = _verdict(pkg, row, namespace)
            out.append(Explanation(pkg, namespace, row.vuln_id, hit, reason))
    return out
