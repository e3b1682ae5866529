"""Join an SBOM with the vulnerability database.

One finding per (package, vulnerability): rows from several records of the
same issue (CVE, GHSA, PYSEC, DSA...) are merged by the database's alias group.
Every finding carries a MatchDetail saying which namespace, record and range
matched. A version that its scheme cannot read becomes an Unknown on the SBOM
(never a silent match or non-match).

A scan reads the database in batches: the rows of all its packages with one
query per namespace (``Store.affected_many``), then the records, KEV and EPSS
entries of every matched id at once. Packages that share a lookup (the binaries
of one Debian source package at one version) are evaluated once, and each
matched row's finding is built once and copied per package. An alias group (at real
scale a CVE's DSA/DLA, tracker, OSV distro and NVD records) is read for its ratings only
and rated once per group, not once per finding.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Iterable, Protocol

from layerscan.match import ranges, severity, ubuntu_pro
from layerscan.match.namespace import compared_version, lookup_name, package_namespace
from layerscan.model import Advisory, Affected, Finding, MatchDetail, OSInfo, Package, Sbom, Unknown
from layerscan.model.finding import primary_url
from layerscan.model.package import OS_TYPES
from layerscan.versions import InvalidVersion, VersionScheme, get_scheme


class AffectedRowLike(Protocol):  # db.records.AffectedRow
    vuln_id: str
    primary_id: str
    source: str
    affected: Affected


class AdvisoryBatchLike(Protocol):  # db.store.AdvisoryBatch
    def advisory(self, vuln_id: str) -> Advisory | None: ...
    def group_ratings(self, vuln_id: str) -> Advisory | None: ...


class StoreLike(Protocol):  # db.store.Store
    def affected(self, namespace: str, package: str) -> list: ...
    def affected_many(self, namespace: str, names: Iterable[str]) -> dict[str, list]: ...
    def advisory_batch(self, vuln_ids: Iterable[str]) -> AdvisoryBatchLike: ...
    def kev_many(self, cve_ids: Iterable[str]) -> set[str]: ...
    def epss_many(self, cve_ids: Iterable[str]) -> dict[str, tuple[float, float]]: ...


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


def _where(pkg: Package, os_info: OSInfo | None) -> tuple[str, str]:
    """(namespace, name) a package is looked up by; ("", "") when no namespace applies."""
    namespace = package_namespace(pkg, os_info)
    return (namespace, lookup_name(pkg, namespace)) if namespace else ("", "")


def lookup(pkg: Package, os_info: OSInfo | None, store: ubuntu_pro.RowStore) -> tuple[str, str, list]:
    """(namespace, name, rows): where a package is looked up and the advisory rows found
    there; ("", "", []) when no namespace applies. Shared by matching and ``explain``."""
    namespace, name = _where(pkg, os_info)
    if not namespace:
        return "", "", []
    return namespace, name, ubuntu_pro.affected_rows(pkg, namespace, name, store)


class _Rows:
    """The advisory rows of an SBOM's packages, read with one query per namespace
    (a ``RowStore``; a lookup outside the prefetched set goes to the database)."""

    def __init__(self, sbom: Sbom, store: StoreLike) -> None:
        wanted: dict[str, set[str]] = {}
        for pkg in sbom.packages:
            namespace, name = _where(pkg, sbom.os) if pkg.matchable else ("", "")
            for space in ubuntu_pro.lookup_namespaces(pkg, namespace) if namespace else ():
                wanted.setdefault(space, set()).add(name)
        self._store = store
        self._rows = {(space, name): rows for space, names in wanted.items()
                      for name, rows in store.affected_many(space, sorted(names)).items()}

    def affected(self, namespace: str, package: str) -> list:
        key = (namespace, package)
        if key not in self._rows:
            self._rows[key] = self._store.affected(namespace, package)
        return self._rows[key]


def evaluate(row: AffectedRowLike, pkg: Package, scheme: VersionScheme) -> ranges.Verdict:
    """The verdict of one advisory row for the package's compared version (InvalidVersion if unparsable)."""
    return ranges.evaluate(row.affected, compared_version(pkg), scheme)


_HitsMemo = dict[tuple[tuple[str, ...], str, str], list[Hit]]


def package_hits(pkg: Package, sbom: Sbom, store: ubuntu_pro.RowStore,
                 memo: _HitsMemo | None = None) -> tuple[list[Hit], Unknown | None]:
    """The rows that match ``pkg`` (or why it could not be matched). ``memo`` keeps the hits
    per (namespaces, name, compared version) across a scan's packages."""
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
    key = (ubuntu_pro.lookup_namespaces(pkg, namespace), name, compared_version(pkg))
    if memo is not None and key in memo:
        return memo[key], None
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
    if memo is not None:
        memo[key] = hits
    return hits, None


def _vid(row: AffectedRowLike) -> str:
    return row.primary_id or row.vuln_id


def _ids(row: AffectedRowLike, advisory: Advisory | None) -> tuple[str, tuple[str, ...], str]:
    """(finding id, its aliases, its CVE or "") of a matched row."""
    vid = _vid(row)
    aliases = tuple(sorted({row.vuln_id, *(advisory.aliases if advisory else ())} - {vid}))
    return vid, aliases, next((i for i in (vid, *aliases) if i.startswith("CVE-")), "")


@dataclass(frozen=True)
class _Facts:
    """What the database says about a scan's matched ids, read in batches (``_facts``)."""

    records: dict[tuple[str, str], Advisory | None]  # (row id, finding id) -> the row's record and its id's
    levels: dict[str, dict[str, str]]  # finding id -> its alias group's ``severity.source_levels``
    kev: set[str]
    epss: dict[str, tuple[float, float]]

    def record(self, row: AffectedRowLike) -> Advisory | None:
        return self.records[(row.vuln_id, _vid(row))]


def _facts(hits: Iterable[Hit], store: StoreLike) -> _Facts:
    pairs = {(hit.row.vuln_id, _vid(hit.row)): hit.row for hit in hits}
    batch = store.advisory_batch(i for pair in pairs for i in pair)
    records = {(rid, vid): _combine(batch.advisory(rid), batch.advisory(vid)) for rid, vid in pairs}
    levels = {vid: severity.source_levels(batch.group_ratings(vid)) for vid in dict.fromkeys(v for _, v in pairs)}
    cves = {cve for pair, row in pairs.items() if (cve := _ids(row, records[pair])[2])}
    return _Facts(records, levels, store.kev_many(cves), store.epss_many(cves))


def _finding(pkg: Package, hit: Hit, facts: _Facts) -> Finding:
    row, verdict = hit.row, hit.verdict
    advisory = facts.record(row)
    vid, aliases, cve = _ids(row, advisory)
    levels = facts.levels[vid]  # the same CVE's other records rate it when its own do not
    sev, sev_source = severity.choose(advisory, row.affected, row.source, pkg.type in OS_TYPES, levels=levels)
    epss = facts.epss.get(cve) if cve else None
    refs = advisory.references if advisory else ()
    return Finding(
        package=pkg, vulnerability_id=vid, aliases=aliases,
        match=MatchDetail(namespace=hit.namespace, advisory_id=row.vuln_id, package_name=hit.name,
                          matched=verdict.reason, data_source=row.source),
        status=verdict.status, fixed_version=verdict.fixed_version,
        severity=sev, severity_source=sev_source,
        vendor_severity=severity.vendor_severities(advisory, row.affected, row.source, levels=levels),
        cvss=advisory.cvss if advisory else (), cwes=advisory.cwes if advisory else (),
        title=advisory.summary if advisory else "", description=advisory.details if advisory else "",
        references=refs, primary_url=primary_url(vid, refs),
        published=advisory.published if advisory else "", modified=advisory.modified if advisory else "",
        kev=bool(cve) and cve in facts.kev,
        epss=epss[0] if epss else None, epss_percentile=epss[1] if epss else None,
    )


def _with(finding: Finding, **changes: object) -> Finding:
    """``replace(finding, **changes)`` without running the 24-field frozen ``__init__`` again
    (Finding has no ``__post_init__``): a copy of its fields with ``changes``."""
    copy = object.__new__(Finding)
    copy.__dict__.update(finding.__dict__, **changes)
    return copy


def _for_package(finding: Finding, pkg: Package) -> Finding:
    """The finding of another package of the same lookup."""
    return _with(finding, package=pkg)


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
    return _with(current, aliases=aliases, fixed_version=fixed, status=status,
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


def match_sbom(sbom: Sbom, store: StoreLike) -> MatchResult:
    rows = _Rows(sbom, store)
    memo: _HitsMemo = {}
    matched: list[tuple[Package, list[Hit]]] = []
    unknowns: list[Unknown] = []
    for pkg in sbom.packages:
        hits, unknown = package_hits(pkg, sbom, rows, memo)
        if unknown:
            unknowns.append(unknown)
        if hits:
            matched.append((pkg, hits))
    facts = _facts((hit for _, hits in matched for hit in hits), store)
    # a Hit is shared by the packages of one lookup (kept alive by ``memo``): its finding is
    # built once per kind of package (OS or not: severity depends on it) and copied per package
    built: dict[tuple[int, bool], Finding] = {}
    findings: dict[tuple[str, str, str], Finding] = {}
    for pkg, hits in matched:
        for hit in hits:
            once = (id(hit), pkg.type in OS_TYPES)
            if once not in built:
                built[once] = _finding(pkg, hit, facts)
            new = built[once] if built[once].package is pkg else _for_package(built[once], pkg)
            key = (pkg.purl or pkg.id, pkg.file_path, new.vulnerability_id)
            findings[key] = _merge(findings[key], new) if key in findings else new
    return MatchResult(tuple(findings.values()), tuple(unknowns))
