"""Vulnerability records as stored in the database (OSV-shaped)."""

from __future__ import annotations

from dataclasses import dataclass

from layerscan.ecosystems import Severity as SeverityLevel
from layerscan.ecosystems import Status

# The vocabularies (layerscan.ecosystems) as plain strings, lowest severity first.
SEVERITIES: tuple[str, ...] = tuple(level.value for level in SeverityLevel)
STATUSES: tuple[str, ...] = tuple(status.value for status in Status)  # Trivy's vocabulary


@dataclass(frozen=True)
class Severity:
    source: str  # "debian", "ghsa", "nvd", "alpine", "osv", ...
    level: str  # one of SEVERITIES


@dataclass(frozen=True)
class CVSS:
    source: str  # "nvd", "ghsa", ...
    version: str  # "2.0", "3.0", "3.1", "4.0"
    vector: str
    score: float | None = None


@dataclass(frozen=True)
class Range:
    """An OSV range: type ECOSYSTEM, SEMVER or GIT; events in order as (kind, value)
    with kind one of introduced, fixed, last_affected, limit."""

    type: str
    events: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class Affected:
    """One (namespace, package) an advisory applies to.

    namespace: OSV ecosystem with release ("Debian:12", "Alpine:v3.19", "PyPI", ...).
    For distro feeds, ``status`` carries the tracker's verdict and ``fixed_version``
    its fixed version; ``severity`` the vendor's per-package urgency.
    """

    namespace: str
    package: str
    ranges: tuple[Range, ...] = ()
    versions: tuple[str, ...] = ()
    status: str = "affected"
    fixed_version: str = ""
    severity: str = ""  # vendor severity level for this package (SEVERITIES) if any
    purl: str = ""
    urgency: str = ""  # the vendor's own label, unmapped ("unimportant", "low**", "end-of-life")


@dataclass(frozen=True)
class Advisory:
    id: str
    source: str  # feed name: osv, debian, alpine, nvd, nodejs-security-wg, ...
    aliases: tuple[str, ...] = ()
    summary: str = ""
    details: str = ""
    severities: tuple[Severity, ...] = ()
    cvss: tuple[CVSS, ...] = ()
    cwes: tuple[str, ...] = ()
    references: tuple[str, ...] = ()
    published: str = ""  # RFC 3339
    modified: str = ""
    withdrawn: str = ""
    affected: tuple[Affected, ...] = ()
    related: tuple[str, ...] = ()  # OSV "related": other issues this one bundles or mentions (not aliases)
