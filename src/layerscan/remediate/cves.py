"""Findings grouped by package, as ``docker scout cves`` lists them: one block per
installed package (its severity counts, purl, layer, and each vulnerability with the
fixed version), most severe packages first; with filters and a JSON form.

A finding is in the base image when its package's layer is among the base's layers
(``remediate.base``); the base filters need those layers to be known.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable, Sequence

from layerscan.errors import LayerscanError
from layerscan.model import Finding, Package
from layerscan.model.advisory import SEVERITIES
from layerscan.policy.baselayers import in_base_layers
from layerscan.remediate.base import BaseImage
from layerscan.report.document import layer_label, printable, severity_counts

BASE_FILTERS = ("all", "only", "ignore")
SHORT = {"CRITICAL": "C", "HIGH": "H", "MEDIUM": "M", "LOW": "L", "UNKNOWN": "?"}
_RANK = {s: i for i, s in enumerate(reversed(SEVERITIES))}  # CRITICAL first


@dataclass(frozen=True)
class CveFilters:
    only_fixed: bool = False  # only findings with a fixed version
    severities: frozenset[str] | None = None  # None: all
    packages: frozenset[str] = frozenset()  # lower-case package names; empty: all
    base: str = "all"  # all | only (findings in base layers) | ignore (findings not in them)


@dataclass(frozen=True)
class PackageGroup:
    package: Package
    findings: tuple[Finding, ...]  # most severe first
    in_base: bool = False
    counts: dict[str, int] = field(default_factory=dict, compare=False, hash=False)

    @property
    def fixable(self) -> int:
        return sum(1 for f in self.findings if f.fixed_version)


def _rank(finding: Finding) -> int:
    return _RANK.get(finding.severity, len(_RANK))


def _check_base(filters: CveFilters, base: BaseImage) -> None:
    if filters.base not in BASE_FILTERS:
        raise LayerscanError(f"unknown base filter {filters.base!r}")
    if filters.base != "all" and not base.known_layers:
        flag = "--only-base" if filters.base == "only" else "--ignore-base"
        raise LayerscanError(f"{flag}: the base image's layers are not known ({base.boundary or base.level})",
                             hint="give their number with --exclude-base-layers N")


def keep(finding: Finding, filters: CveFilters, base_layers: int) -> bool:
    if filters.only_fixed and not finding.fixed_version:
        return False
    if filters.severities is not None and finding.severity not in filters.severities:
        return False
    if filters.packages and finding.package.name.lower() not in filters.packages:
        return False
    if filters.base == "all":
        return True
    return in_base_layers(finding, base_layers) == (filters.base == "only")


def _package_key(pkg: Package) -> tuple[str, str, str, str]:
    return (pkg.type, pkg.name, pkg.version, pkg.file_path)


def group_findings(findings: Iterable[Finding], base: BaseImage, filters: CveFilters = CveFilters()
                   ) -> tuple[PackageGroup, ...]:
    """The findings kept by ``filters``, one group per package, most severe packages first."""
    _check_base(filters, base)
    layers = base.layers or 0
    grouped: dict[tuple[str, str, str, str], list[Finding]] = {}
    for finding in findings:
        if keep(finding, filters, layers):
            grouped.setdefault(_package_key(finding.package), []).append(finding)
    groups = []
    for items in grouped.values():
        items.sort(key=lambda f: (_rank(f), f.vulnerability_id))
        pkg = items[0].package
        groups.append(PackageGroup(pkg, tuple(items), in_base_layers(items[0], layers), severity_counts(items)))
    groups.sort(key=lambda g: (tuple(-g.counts[s] for s in reversed(SEVERITIES)), g.package.name.lower(),
                               g.package.version))
    return tuple(groups)


def counts_line(counts: dict[str, int], unknown: bool = False) -> str:
    """"  2C  7H 12M  0L" (and "?" for UNKNOWN when asked or non-zero)."""
    shown = [s for s in reversed(SEVERITIES) if s != "UNKNOWN" or unknown or counts.get(s)]
    return " ".join(f"{counts.get(s, 0):>3}{SHORT[s]}" for s in shown)


def clip(text: str, width: int) -> str:
    """One line of at most ``width`` characters (… when cut); control characters of image
    content become "?" (``printable``), line breaks and tabs spaces."""
    text = printable(text.replace("\r", " ").replace("\n", " ").replace("\t", " ")).rstrip()
    return text if len(text) <= width else text[:max(width - 1, 0)] + "…"


def render_text(groups: Sequence[PackageGroup], base: BaseImage, width: int = 80) -> str:
    """The grouped findings as plain text no wider than ``width``."""
    total = severity_counts(f for g in groups for f in g.findings)
    lines = [clip(f"{sum(len(g.findings) for g in groups)} vulnerabilities in {len(groups)} packages: "
                   f"{counts_line(total, True).strip()}", width), ""]
    for g in groups:
        pkg = g.package
        mark = "  [base]" if g.in_base else ""
        lines.append(clip(f"{counts_line(g.counts)}  {pkg.name} {pkg.version}{mark}", width))
        for detail in (pkg.purl, layer_label(pkg.layer), pkg.file_path):
            if detail:
                lines.append(clip(f"    {detail}", width))
        for f in g.findings:
            fix = f"fixed in {f.fixed_version}" if f.fixed_version else f"not fixed ({f.status})"
            lines.append(clip(f"    ✗ {f.severity:<8} {f.vulnerability_id}  {fix}", width))
            if f.title:
                lines.append(clip(f"      {f.title}", width))
        lines.append("")
    if base.layers:
        lines.append(clip(f"[base]: in the base image's first {base.layers} layers ({base.level}"
                           f"{': ' + base.reference if base.reference else ''})", width))
    return "\n".join(lines).rstrip("\n") + "\n"


def finding_json(f: Finding) -> dict:
    return {"VulnerabilityID": f.vulnerability_id, "Aliases": list(f.aliases), "Severity": f.severity,
            "Status": f.status, "FixedVersion": f.fixed_version, "Title": f.title, "PrimaryURL": f.primary_url}


def groups_json(groups: Sequence[PackageGroup]) -> list[dict]:
    out = []
    for g in groups:
        pkg = g.package
        layer = pkg.layer
        out.append({"PkgName": pkg.name, "InstalledVersion": pkg.version, "PkgType": pkg.type, "PURL": pkg.purl,
                    "FilePath": pkg.file_path, "BaseLayer": g.in_base,
                    "Layer": {"Index": layer.index, "DiffID": layer.diff_id, "CreatedBy": layer.created_by}
                    if layer else None,
                    "Severities": g.counts, "Vulnerabilities": [finding_json(f) for f in g.findings]})
    return out
