"""Join an SBOM with the vulnerability database.

One finding per (package, vulnerability): rows from several records of the
same issue (CVE, GHSA, PYSEC, DSA...) are merged by the database's alias group.
Every finding carries a MatchDetail saying which namespace, record and range
matched. A version that its scheme cannot read becomes an Unknown on the SBOM
(never a silent match or non-match).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Iterable, Protocol

from layerscan.match import ranges, severity, ubuntu_pro
from layerscan.match.namespace import compared_version, lookup_name, package_namespace
from layerscan.model import Advisory, Affected, Finding, MatchDetail, OSInfo, Package, Sbom, Unknown
from layerscan.model.package import OS_TYPES
from layerscan.versions import InvalidVersion, VersionScheme, get_scheme


class AffectedRowLike(Protocol):  # db.records.AffectedRow
    vuln_id: str
    primary_id: str
    source: str
    affected: Affected


class StoreLike(Protocol):  # db.store.Store
    def affected(self, namespace: str, package: str) -> list: ...
    def advisory(self, vuln_id: str) -> Advisory | None: ...
    def group_advisory(self, vuln_id: str) -> Advisory | None: ...
    def kev(self, cve_id: str) -> bool: ...
    def epss(self, cve_id: str) -> tuple[float, float] | None: ...


@dataclass(frozen=True)
class MatchResult:
    findings: tuple[Finding, ...]
    unknowns: tuple[Unknown, ...]


@dataclass(frozen=True)
class Hit:
    row: AffectedRowLike
    verdict: ranges.Verdict
    namespace: str
    name: str


def lookup(pkg: Package, os_info: OSInfo | None, store: StoreLike) -> tuple[str, str, list]:
    """(namespace, name, rows): where a package is looked up and the advisory rows found
    there; ("", "", []) when no namespace applies. Shared by matching and ``explain``."""
    namespace = package_namespace(pkg, os_info)
    if not namespace:
        return "", "", []
    name = lookup_name(pkg, namespace)
    return namespace, name, ubuntu_pro.affected_rows(pkg, namespace, name, store)


def evaluate(row: AffectedRowLike, pkg: Package, scheme: VersionScheme) -> ranges.Verdict:
    """The verdict of one advisory row for the package's compared version (InvalidVersion if unparsable)."""
    return ranges.evaluate(row.affected, compared_version(pkg), scheme)


def package_hits(pkg: Package, sbom: Sbom, store: StoreLike) -> tuple[list[Hit], Unknown | None]:
    if not pkg.matchable:
        return [], None
    namespace, name, rows = lookup(pkg, sbom.os, store)
    if not rows:
        return [], None
    try:
        scheme = get_scheme(namespace)
    except KeyError:
        return [], Unknown(pkg.file_path or pkg.id, f"no version scheme for {namespace}; {pkg.id} not matched",
                           "matcher", pkg.layer)
    hits = []
    for row in rows:
        try:
            verdict = evaluate(row, pkg, scheme)
        except InvalidVersion as exc:
            return [], Unknown(pkg.file_path or pkg.id,
                               f"version {compared_version(pkg)!r} of {pkg.name} is not a valid {scheme.name} "
                               f"version ({exc}); not matched against {len(rows)} advisories", "matcher", pkg.layer)
        if verdict.affected:
            hits.append(Hit(row, verdict, ubuntu_pro.row_namespace(row, namespace), name))
    return hits, None


def _finding(pkg: Package, hit: Hit, advisory: Advisory | None, store: StoreLike) -> Finding:
    row, verdict = hit.row, hit.verdict
    vid = row.primary_id or row.vuln_id
    group = store.group_advisory(vid)  # the same CVE's other records rate it when its own do not
    sev, sev_source = severity.choose(advisory, row.affected, row.source, pkg.type in OS_TYPES, group)
    aliases = tuple(sorted({row.vuln_id, *(advisory.aliases if advisory else ())} - {vid}))
    cve = next((i for i in (vid, *aliases) if i.startswith("CVE-")), "")
    epss = store.epss(cve) if cve else None
    refs = advisory.references if advisory else ()
    return Finding(
        package=pkg, vulnerability_id=vid, aliases=aliases,
        match=MatchDetail(namespace=hit.namespace, advisory_id=row.vuln_id, package_name=hit.name,
                          matched=verdict.reason, data_source=row.source),
        status=verdict.status, fixed_version=verdict.fixed_version,
        severity=sev, severity_source=sev_source,
        vendor_severity=severity.vendor_severities(advisory, row.affected, row.source, group),
        cvss=advisory.cvss if advisory else (), cwes=advisory.cwes if advisory else (),
        title=advisory.summary if advisory else "", description=advisory.details if advisory else "",
        references=refs, primary_url=_primary_url(vid, refs),
        published=advisory.published if advisory else "", modified=advisory.modified if advisory else "",
        kev=bool(cve) and store.kev(cve),
        epss=epss[0] if epss else None, epss_percentile=epss[1] if epss else None,
    )


def _primary_url(vid: str, refs: Iterable[str]) -> str:
    if vid.startswith("CVE-"):
        return f"https://nvd.nist.gov/vuln/detail/{vid}"
    if vid.startswith("GHSA-"):
        return f"https://github.com/advisories/{vid}"
    return f"https://osv.dev/vulnerability/{vid}" if vid else next(iter(refs), "")


def _merged_fixed(current: Finding, new: Finding) -> str:
    """OS packages: several advisories of one distro fix the same CVE (a DLA and its
    regression update): the first fix is what removes the vulnerability, so keep
    the lowest. Language packages: fixes on different release branches are all
    useful (as in Trivy), so list them."""
    a, b = current.fixed_version, new.fixed_version
    if not a or not b or a == b:
        return a or b
    if current.package.type in OS_TYPES:
        try:
            return a if get_scheme(current.match.namespace).compare(a, b) <= 0 else b
        except (InvalidVersion, KeyError):
            return a
    return a if b in a.split(", ") else f"{a}, {b}"


def _merge(current: Finding, new: Finding) -> Finding:
    """Two records of one issue matched the same package: keep one finding."""
    aliases = tuple(sorted(set(current.aliases) | set(new.aliases) | {new.match.advisory_id}
                           - {current.vulnerability_id}))
    fixed = _merged_fixed(current, new)
    status = "fixed" if fixed else current.status
    return replace(current, aliases=aliases, fixed_version=fixed, status=status,
                   severity=current.severity if current.severity != "UNKNOWN" else new.severity,
                   severity_source=current.severity_source or new.severity_source)


def _combine(record: Advisory | None, group: Advisory | None) -> Advisory | None:
    """The matching record's own data first (its severity is the one that applies to
    this ecosystem, e.g. GHSA's), then the group's (NVD CVSS, other aliases)."""
    if record is None or group is None or record is group:
        return record or group

    def union(a: tuple, b: tuple) -> tuple:
        return tuple(dict.fromkeys((*a, *b)))

    return replace(group, summary=record.summary or group.summary, details=record.details or group.details,
                   severities=union(record.severities, group.severities), cvss=union(record.cvss, group.cvss),
                   cwes=union(record.cwes, group.cwes), references=union(record.references, group.references),
                   aliases=union(group.aliases, record.aliases),
                   published=group.published or record.published, modified=group.modified or record.modified)


class _Memo:
    """Per-scan memo of the lookups repeated across packages and findings
    (the same source package, CVE, KEV and EPSS entries come up many times)."""

    def __init__(self, store: StoreLike) -> None:
        self._store = store
        self._cache: dict[tuple[str, str, str], object] = {}

    def _get(self, kind: str, a: str, b: str, fetch):  # type: ignore[no-untyped-def]
        key = (kind, a, b)
        if key not in self._cache:
            self._cache[key] = fetch()
        return self._cache[key]

    def affected(self, namespace: str, package: str) -> list:
        return self._get("affected", namespace, package, lambda: self._store.affected(namespace, package))

    def advisory(self, vuln_id: str) -> Advisory | None:
        return self._get("advisory", vuln_id, "", lambda: self._store.advisory(vuln_id))

    def group_advisory(self, vuln_id: str) -> Advisory | None:
        return self._get("group", vuln_id, "", lambda: self._store.group_advisory(vuln_id))

    def kev(self, cve_id: str) -> bool:
        return self._get("kev", cve_id, "", lambda: self._store.kev(cve_id))

    def epss(self, cve_id: str) -> tuple[float, float] | None:
        return self._get("epss", cve_id, "", lambda: self._store.epss(cve_id))


def match_sbom(sbom: Sbom, store: StoreLike) -> MatchResult:
    store = _Memo(store)
    findings: dict[tuple[str, str, str], Finding] = {}
    unknowns: list[Unknown] = []
    for pkg in sbom.packages:
        hits, unknown = package_hits(pkg, sbom, store)
        if unknown:
            unknowns.append(unknown)
        for hit in hits:
            vid = hit.row.primary_id or hit.row.vuln_id
            advisory = _combine(store.advisory(hit.row.vuln_id), store.advisory(vid))
            new = _finding(pkg, hit, advisory, store)
            key = (pkg.purl or pkg.id, pkg.file_path, vid)
            findings[key] = _merge(findings[key], new) if key in findings else new
    return MatchResult(tuple(findings.values()), tuple(unknowns))
