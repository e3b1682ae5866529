"""Choose the severity of a finding and record where it came from.

Order: the distro's own per-package severity for OS findings (Debian urgency,
Alpine/Alma vendor level) and Bitnami's for its packages (the package's CVSS),
else the GitHub advisory's, else NVD's CVSS (v3.x/v4 preferred over v2), else
any other vendor level; then, when the finding's own records rate nothing, the
rating another record of the same CVE gives (its alias group: NVD, then GHSA,
then any other CVE-level source such as Bitnami or an OSV database's), else
UNKNOWN. See docs/cli.md "Severity".
"""

from __future__ import annotations

from layerscan.db.cvss import level_from_score
from layerscan.match.namespace import os_namespace
from layerscan.model import Advisory, Affected, CVSS, OSInfo, Severity
from layerscan.model.advisory import SEVERITIES
from layerscan.versions import ECOSYSTEM_SCHEME

_ALIAS_PREFERENCE = ("nvd", "ghsa")  # then every other CVE-level source, by name
# Language ecosystems whose feed rates each package itself (Bitnami: the package's CVSS, OSV
# affected[].severity): that rating is the finding's own, ahead of GHSA and NVD, as a distro's
# is for its packages (Trivy reports the data source's vendor severity first). Key: OSV ecosystem.
_PACKAGE_RATED = {"Bitnami": "bitnami"}


def _cvss_level(cvss: tuple[CVSS, ...], source: str) -> str:
    """The level of ``source``'s CVSS: v3.1, else v3.0, else v4.0, else v2."""
    scored = [c for c in cvss if c.source.lower() == source and c.score is not None]
    for version in ("3.1", "3.0", "4.0", "2.0"):
        for c in scored:
            if c.version == version:
                return level_from_score(c.score)
    return "UNKNOWN"


def _nvd_level(cvss: tuple[CVSS, ...]) -> str:
    return _cvss_level(cvss, "nvd")


def vendor_source(source: str) -> str:
    """Who rates a distro row, named as Trivy does: the OSV source key "osv:Ubuntu" -> "ubuntu",
    "osv:Rocky Linux" -> "rocky", "osv:Bitnami" -> "bitnami"; other feeds are their own name
    ("debian", "alpine")."""
    feed, _, ecosystem = source.partition(":")
    if feed == "osv" and ecosystem in _PACKAGE_RATED:
        return _PACKAGE_RATED[ecosystem]
    if feed != "osv" or ECOSYSTEM_SCHEME.get(ecosystem) not in ("deb", "rpm", "apk"):
        return source
    return ecosystem.split()[0].lower()


def _rated(level: str) -> bool:
    return level in SEVERITIES and level != "UNKNOWN"


def _distro_rating(source: str) -> bool:
    """A distribution's priority for its own package (OSV's "Ubuntu" severity type), not a CVE-level rating."""
    return bool(os_namespace(OSInfo(family=source, name="1")))


def source_levels(advisory: Advisory | None) -> dict[str, str]:
    """Each CVE-level source's level: its level word (the highest when its records differ),
    else the level of its CVSS score ({} for no record). A scan computes it once per alias
    group and passes it to ``choose``/``vendor_severities`` as ``levels``."""
    if advisory is None:
        return {}
    levels: dict[str, str] = {}
    for s in advisory.severities:
        if _rated(s.level) and not _distro_rating(s.source):
            levels[s.source] = max(levels.get(s.source, "UNKNOWN"), s.level, key=SEVERITIES.index)
    for source in dict.fromkeys(c.source.lower() for c in advisory.cvss):
        level = _cvss_level(advisory.cvss, source)
        if source not in levels and _rated(level) and not _distro_rating(source):
            levels[source] = level
    return levels


def alias_severity(group: Advisory | None, levels: dict[str, str] | None = None) -> tuple[str, str]:
    """(severity, source) from any record of the finding's alias group (the same CVE's
    GHSA, Bitnami, NVD, OSV records, whatever product they are for): NVD, then GHSA,
    then the other sources by name; ("UNKNOWN", "") when none rates it. ``levels``:
    ``source_levels(group)`` when the caller has it."""
    levels = source_levels(group) if levels is None else levels
    order = sorted(levels, key=lambda src: (_ALIAS_PREFERENCE.index(src) if src in _ALIAS_PREFERENCE
                                            else len(_ALIAS_PREFERENCE), src))
    return (levels[order[0]], order[0]) if order else ("UNKNOWN", "")


def choose(advisory: Advisory | None, affected: Affected, source: str, os_package: bool,
           group: Advisory | None = None, *, levels: dict[str, str] | None = None) -> tuple[str, str]:
    """(severity, severity_source); ``group``: the alias group's merged records
    (``Store.group_advisory``), used only when the finding's own records rate nothing
    (``levels``: its ``source_levels``, when the caller has them)."""
    level, origin = _own_severity(advisory, affected, source, os_package)
    return (level, origin) if _rated(level) else alias_severity(group, levels)


def _own_severity(advisory: Advisory | None, affected: Affected, source: str, os_package: bool) -> tuple[str, str]:
    package_rated = os_package or source.partition(":")[2] in _PACKAGE_RATED
    if package_rated and affected.severity in SEVERITIES and affected.severity != "UNKNOWN":
        return affected.severity, vendor_source(source)
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


def vendor_severities(advisory: Advisory | None, affected: Affected, source: str,
                      group: Advisory | None = None, *, levels: dict[str, str] | None = None) -> tuple[Severity, ...]:
    """Every source's level, one per source: the finding's own records first, then the alias
    group's (``levels``: its ``source_levels``, when the caller has them)."""
    out = list(advisory.severities) if advisory else []
    if affected.severity:
        out.append(Severity(source=vendor_source(source), level=affected.severity))
    out += [Severity(source=src, level=level) for src, level in
            (source_levels(group) if levels is None else levels).items()]
    seen: dict[str, Severity] = {}
    for s in out:
        seen.setdefault(s.source, s)
    return tuple(seen.values())
