"""Choose the severity of a finding and record where it came from.

Order: the distro's own per-package severity for OS findings (Debian urgency,
Alpine/Alma vendor level), else the GitHub advisory's, else NVD's CVSS
(v3.x/v4 preferred over v2), else any other vendor level, else UNKNOWN.
"""

from __future__ import annotations

from layerscan.model import Advisory, Affected, CVSS, Severity
from layerscan.model.advisory import SEVERITIES


def level_from_score(score: float | None) -> str:
    if score is None:
        return "UNKNOWN"
    if score >= 9.0:
        return "CRITICAL"
    if score >= 7.0:
        return "HIGH"
    if score >= 4.0:
        return "MEDIUM"
    if score > 0.0:
        return "LOW"
    return "UNKNOWN"


def _nvd_level(cvss: tuple[CVSS, ...]) -> str:
    nvd = [c for c in cvss if c.source.lower() == "nvd" and c.score is not None]
    for version in ("3.1", "3.0", "4.0", "2.0"):
        for c in nvd:
            if c.version == version:
                return level_from_score(c.score)
    return "UNKNOWN"


def choose(advisory: Advisory | None, affected: Affected, source: str, os_package: bool) -> tuple[str, str]:
    """(severity, severity_source)."""
    if os_package and affected.severity in SEVERITIES and affected.severity != "UNKNOWN":
        return affected.severity, source
    sev = advisory.severities if advisory else ()
    for s in sev:
        if s.source.lower() == "ghsa" and s.level in SEVERITIES and s.level != "UNKNOWN":
            return s.level, "ghsa"
    if advisory:
        nvd = _nvd_level(advisory.cvss)
        if nvd != "UNKNOWN":
            return nvd, "nvd"
    if affected.severity in SEVERITIES and affected.severity != "UNKNOWN":
        return affected.severity, source
    for s in sev:
        if s.level in SEVERITIES and s.level != "UNKNOWN":
            return s.level, s.source
    if advisory:
        scored = [c for c in advisory.cvss if c.score is not None]
        if scored:
            return level_from_score(max(c.score for c in scored if c.score is not None)), scored[0].source
    return "UNKNOWN", ""


def vendor_severities(advisory: Advisory | None, affected: Affected, source: str) -> tuple[Severity, ...]:
    out = list(advisory.severities) if advisory else []
    if affected.severity:
        out.append(Severity(source=source, level=affected.severity))
    seen: dict[str, Severity] = {}
    for s in out:
        seen.setdefault(s.source, s)
    return tuple(seen.values())
