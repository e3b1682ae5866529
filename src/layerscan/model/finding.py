"""Findings: a package joined with a vulnerability, and why it matched."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from layerscan.model.advisory import CVSS, Severity
from layerscan.model.package import Package


def primary_url(vulnerability_id: str, references: Iterable[str] = ()) -> str:
    """The page a vulnerability id links to (``Finding.primary_url``, Trivy's ``PrimaryURL``):
    NVD for CVEs, GitHub for GHSAs, Debian's tracker for its TEMP ids, osv.dev for
    the rest; without an id, the first reference (or "")."""
    vid = vulnerability_id
    upper = vid.upper()
    if upper.startswith("CVE-"):
        return f"https://nvd.nist.gov/vuln/detail/{vid}"
    if upper.startswith("GHSA-"):
        return f"https://github.com/advisories/{vid}"
    if upper.startswith("TEMP-"):
        return f"https://security-tracker.debian.org/tracker/{vid}"
    if vid:
        return f"https://osv.dev/vulnerability/{vid}"
    return next(iter(references), "")


@dataclass(frozen=True)
class MatchDetail:
    namespace: str  # "Debian:12", "PyPI", ...
    advisory_id: str  # the record that matched (may differ from the vulnerability id: DSA, GHSA)
    package_name: str  # the name looked up (source name for OS packages)
    matched: str  # human-readable: "introduced 0, fixed 2.15.0" or "status affected (no fix)"
    data_source: str  # feed name


@dataclass(frozen=True)
class Finding:
    package: Package
    vulnerability_id: str  # preferred id: CVE when known, else GHSA/PYSEC/GO/...
    match: MatchDetail
    aliases: tuple[str, ...] = ()
    status: str = "affected"
    fixed_version: str = ""
    severity: str = "UNKNOWN"
    severity_source: str = ""
    vendor_severity: tuple[Severity, ...] = ()
    cvss: tuple[CVSS, ...] = ()
    cwes: tuple[str, ...] = ()
    title: str = ""
    description: str = ""
    references: tuple[str, ...] = ()
    primary_url: str = ""
    published: str = ""
    modified: str = ""
    kev: bool = False
    epss: float | None = None
    epss_percentile: float | None = None
    suppressed: str = ""  # non-empty: why it is suppressed (ignore entry, VEX statement)
    base_layer: bool = False  # introduced in the base image's layers (--exclude-base-layers): not gating
    new: bool = False  # not in the --baseline report (only set when a baseline is given)
