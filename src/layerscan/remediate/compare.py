"""``compare A B``: what changed from image A (the baseline) to image B, as
``docker scout compare`` shows it: packages added, removed and upgraded (or
downgraded), and findings introduced, fixed and unchanged.

Both images are scanned now, under the same database, so a vulnerability published
yesterday that hits both is "unchanged", not "introduced". A finding is the same in both
when the package name and the vulnerability ID or one of its aliases agree (any installed
version), as ``--baseline`` decides (``policy.baseline.Baseline``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Sequence

from layerscan.model import Finding, Package
from layerscan.policy.baseline import Baseline
from layerscan.remediate.cves import SHORT, clip, counts_line
from layerscan.report.document import severity_counts

_SEVERITY_ORDER = ("CRITICAL", "HIGH", "MEDIUM", "LOW", "UNKNOWN")


@dataclass(frozen=True)
class PackageChange:
    type: str
    name: str
    before: tuple[str, ...]  # versions in A ("" entries never)
    after: tuple[str, ...]  # versions in B
    direction: str  # added | removed | upgraded | downgraded | changed


@dataclass(frozen=True)
class Comparison:
    name_a: str
    name_b: str
    packages: tuple[PackageChange, ...]
    introduced: tuple[Finding, ...]
    fixed: tuple[Finding, ...]
    unchanged: tuple[Finding, ...]  # as found in B

    def of(self, direction: str) -> tuple[PackageChange, ...]:
        return tuple(c for c in self.packages if c.direction == direction)


def baseline_of(findings: Iterable[Finding], source: str) -> Baseline:
    return Baseline(source, frozenset((f.package.name.lower(), vid.upper())
                                      for f in findings for vid in (f.vulnerability_id, *f.aliases)))


def _versions(packages: Iterable[Package]) -> dict[tuple[str, str], set[str]]:
    out: dict[tuple[str, str], set[str]] = {}
    for pkg in packages:
        if not pkg.is_application:
            out.setdefault((pkg.type, pkg.name), set()).add(pkg.version)
    return out


def _direction(pkg_type: str, before: set[str], after: set[str]) -> str:
    from layerscan.versions import compare
    from layerscan.versions.base import InvalidVersion

    if len(before) != 1 or len(after) != 1:
        return "changed"
    try:
        order = compare(pkg_type, next(iter(before)), next(iter(after)))
    except (KeyError, InvalidVersion, ValueError):
        return "changed"
    return "upgraded" if order < 0 else ("downgraded" if order > 0 else "changed")


def package_changes(a: Iterable[Package], b: Iterable[Package]) -> tuple[PackageChange, ...]:
    old, new = _versions(a), _versions(b)
    changes = []
    for key in sorted(old.keys() | new.keys(), key=lambda k: (k[1].lower(), k[0])):
        before, after = old.get(key, set()), new.get(key, set())
        if before == after:
            continue
        direction = "added" if not before else "removed" if not after else _direction(key[0], before, after)
        changes.append(PackageChange(key[0], key[1], tuple(sorted(before)), tuple(sorted(after)), direction))
    return tuple(changes)


def compare_findings(a: Sequence[Finding], b: Sequence[Finding]
                     ) -> tuple[tuple[Finding, ...], tuple[Finding, ...], tuple[Finding, ...]]:
    """(introduced, fixed, unchanged) going from ``a`` to ``b``."""
    in_a, in_b = baseline_of(a, "A"), baseline_of(b, "B")
    introduced = tuple(f for f in b if not in_a.contains(f))
    unchanged = tuple(f for f in b if in_a.contains(f))
    fixed = tuple(f for f in a if not in_b.contains(f))
    return introduced, fixed, unchanged


def compare_scans(name_a: str, packages_a: Iterable[Package], findings_a: Sequence[Finding],
                  name_b: str, packages_b: Iterable[Package], findings_b: Sequence[Finding]) -> Comparison:
    introduced, fixed, unchanged = compare_findings(findings_a, findings_b)
    return Comparison(name_a, name_b, package_changes(packages_a, packages_b), introduced, fixed, unchanged)


# ---- rendering -----------------------------------------------------------------------------

def severity_delta(before: dict[str, int], after: dict[str, int]) -> str:
    """"+1C -2H =M" per severity: the change in counts from A to B."""
    parts = []
    for s in _SEVERITY_ORDER[:4]:
        d = after.get(s, 0) - before.get(s, 0)
        parts.append(f"{d:+d}{SHORT[s]}" if d else f"={SHORT[s]}")
    return " ".join(parts)


def _finding_line(f: Finding) -> str:
    fix = f"fixed in {f.fixed_version}" if f.fixed_version else "no fix"
    return f"    {f.severity:<8} {f.vulnerability_id}  {f.package.name} {f.package.version}  {fix}"


def render_text(cmp: Comparison, findings_a: Sequence[Finding], findings_b: Sequence[Finding],
                width: int = 80) -> str:
    before, after = severity_counts(findings_a), severity_counts(findings_b)
    lines = [clip(f"  A  {cmp.name_a}", width), clip(f"     {counts_line(before).strip()}", width),
             clip(f"  B  {cmp.name_b}", width), clip(f"     {counts_line(after).strip()}", width),
             clip(f"     delta {severity_delta(before, after)}", width), "",
             clip(f"Packages: {len(cmp.of('added'))} added, {len(cmp.of('removed'))} removed, "
                   f"{len(cmp.of('upgraded'))} upgraded, {len(cmp.of('downgraded'))} downgraded, "
                   f"{len(cmp.of('changed'))} changed", width)]
    marks = {"added": "+", "removed": "-", "upgraded": "↑", "downgraded": "↓", "changed": "~"}
    for c in cmp.packages:
        versions = " ".join(c.after) if c.direction == "added" else " ".join(c.before) if c.direction == "removed" \
            else f"{' '.join(c.before)} -> {' '.join(c.after)}"
        lines.append(clip(f"  {marks[c.direction]} {c.name} {versions}  ({c.type})", width))
    for title, items in (("introduced", cmp.introduced), ("fixed", cmp.fixed)):
        lines += ["", clip(f"Vulnerabilities {title}: {len(items)}", width)]
        lines += [clip(_finding_line(f), width) for f in items]
    lines += ["", clip(f"Vulnerabilities unchanged: {len(cmp.unchanged)}", width)]
    return "\n".join(lines) + "\n"


def _finding_json(f: Finding) -> dict:
    return {"VulnerabilityID": f.vulnerability_id, "Aliases": list(f.aliases), "PkgName": f.package.name,
            "InstalledVersion": f.package.version, "PkgType": f.package.type, "Severity": f.severity,
            "FixedVersion": f.fixed_version}


def to_json(cmp: Comparison, findings_a: Sequence[Finding], findings_b: Sequence[Finding]) -> dict:
    return {"A": {"ArtifactName": cmp.name_a, "Severities": severity_counts(findings_a)},
            "B": {"ArtifactName": cmp.name_b, "Severities": severity_counts(findings_b)},
            "Packages": [{"Type": c.type, "Name": c.name, "Before": list(c.before), "After": list(c.after),
                          "Change": c.direction} for c in cmp.packages],
            "Introduced": [_finding_json(f) for f in cmp.introduced],
            "Fixed": [_finding_json(f) for f in cmp.fixed],
            "Unchanged": [_finding_json(f) for f in cmp.unchanged]}
