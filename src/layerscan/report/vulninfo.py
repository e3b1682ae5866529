"""Facts about findings that several writers need: primary URL, data-source
names, suppression status, stable package ids."""

from __future__ import annotations

import hashlib

from layerscan.model import Finding, Package
from layerscan.model.advisory import SEVERITIES
from layerscan.model.finding import primary_url as url_for_id

DATA_SOURCES: dict[str, tuple[str, str]] = {
    "debian": ("Debian Security Tracker", "https://security-tracker.debian.org/tracker"),
    "ubuntu": ("Ubuntu CVE Tracker", "https://ubuntu.com/security/cves"),
    "alpine": ("Alpine Secdb", "https://secdb.alpinelinux.org/"),
    "nvd": ("National Vulnerability Database", "https://nvd.nist.gov/"),
    "ghsa": ("GitHub Security Advisory Database", "https://github.com/advisories"),
    "osv": ("OSV", "https://osv.dev/"),
    "pypa": ("Python Packaging Advisory Database", "https://github.com/pypa/advisory-database"),
    "go": ("Go Vulnerability Database", "https://pkg.go.dev/vuln/"),
    "rustsec": ("RustSec Advisory Database", "https://rustsec.org/"),
    "nodejs-security-wg": ("Node.js Ecosystem Security Working Group",
                           "https://github.com/nodejs/security-wg"),
    "almalinux": ("AlmaLinux Product Errata", "https://errata.almalinux.org/"),
    "bitnami": ("Bitnami Vulnerability Database", "https://github.com/bitnami/vulndb"),
    "amazon": ("Amazon Linux Security Center", "https://alas.aws.amazon.com/"),
    "photon": ("Photon OS CVE metadata", "https://packages.broadcom.com/photon/photon_cve_metadata/"),
}


def data_source(feed: str) -> tuple[str, str, str]:
    """(ID, Name, URL) for a feed name; unknown feeds keep their id as name."""
    name, url = DATA_SOURCES.get(feed, (feed, ""))
    return feed, name, url


def primary_url(f: Finding) -> str:
    """The finding's own primary URL, else the one its id links to (findings read back from reports)."""
    return f.primary_url or url_for_id(f.vulnerability_id, f.references)


def severity_number(level: str) -> int:
    """Trivy's VendorSeverity integers: 0 UNKNOWN .. 4 CRITICAL."""
    return SEVERITIES.index(level) if level in SEVERITIES else 0


def suppression_status(f: Finding) -> str:
    """"not_affected" / "fixed" (VEX) or "ignored" (ignore file) for a suppressed finding."""
    reason = f.suppressed
    if reason.startswith("VEX "):
        word = reason[4:].split(":", 1)[0].split()[0] if reason[4:].strip() else ""
        return word or "not_affected"
    return "ignored"


def package_uid(p: Package) -> str:
    """Stable short id of one package occurrence (purl/name, version, path, layer)."""
    layer = p.layer.diff_id if p.layer else ""
    key = "\x00".join((p.type, p.purl or p.name, p.version, p.arch, p.file_path, layer))
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()[:16]  # lone surrogates: hostile names


def cvss_by_source(f: Finding) -> dict[str, dict[str, object]]:
    """Trivy's CVSS map: {source: {V2Vector, V2Score, V3Vector, V3Score, V40Vector, V40Score}}."""
    out: dict[str, dict[str, object]] = {}
    for c in f.cvss:
        key = {"2.0": "V2", "3.0": "V3", "3.1": "V3", "4.0": "V40"}.get(c.version)
        if key is None:
            continue
        entry = out.setdefault(c.source, {})
        entry[f"{key}Vector"] = c.vector
        if c.score is not None:
            entry[f"{key}Score"] = c.score
    return out


def best_cvss_score(f: Finding) -> float | None:
    scores = [c.score for c in f.cvss if c.score is not None]
    return max(scores) if scores else None
