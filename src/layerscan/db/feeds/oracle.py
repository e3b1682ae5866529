"""Oracle Linux errata (ELSA) from Oracle's OVAL feed
(``https://linux.oracle.com/security/oval/com.oracle.elsa-all.xml.bz2``).

One OVAL definition per ELSA: the CVEs it fixes (``reference source="CVE"`` and the
advisory's ``<cve>`` list, with Oracle's CVSS strings), Oracle's severity
(``<severity>IMPORTANT</severity>``) and a criteria tree such as

    AND( "Oracle Linux 8 is installed",
         OR( AND("Oracle Linux arch is x86_64", OR(AND("bind is earlier than 32:9.11.36-3.el8", ...))),
             AND("Oracle Linux arch is aarch64", ...) ) )

The facts are read from the criterion comments, as Oracle writes them for every
test; the tests/objects/states sections are not kept, so a definition becomes
advisories as soon as it closes and memory stays bounded on the ~1 GB document.

Rows: namespace ``Oracle Linux:<major>``, the binary package name, fixed version the
"earlier than" EVR (epoch kept, a ``0:`` epoch dropped). Decisions:

- **Ksplice** builds (a package criterion with a sibling "<pkg> is ksplice-based", or a
  ``.ksplice`` release) are dropped: they exist only for hosts patched with Ksplice
  user-space updates; their epoch is higher than the regular build's, so a regular
  ``openssl`` would always look older than the ksplice fix (a false positive on every
  image). An image built from the Ksplice channel is not checked against those errata.
- **Per-arch and rebuild variants**: the database row has no architecture, so one row
  per (release, package) keeps the **lowest** fixed EVR among the erratum's non-ksplice
  variants. A package at or above any build that Oracle shipped as the fix is not
  reported; the price is that an arch respun at a higher revision (ELSA-2022-4803:
  rsyslog 57.0.4 on aarch64, 57.0.1 on x86_64) is checked against the lower one.

Each erratum is stored per CVE (``errata.per_cve``) with the ELSA id as alias.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from typing import Iterator

from layerscan.db.feeds import errata
from layerscan.db.feeds.base import ParseStats
from layerscan.db.feeds.common import normalise_severity, text
from layerscan.db.feeds.oval import (Criteria, Criterion, CveRef, Definition, OvalFeed, Readable, iter_oval,
                                     strip_zero_epoch)
from layerscan.db.feeds.source import Source, single_file
from layerscan.model import CVSS, Advisory, Affected, Range
from layerscan.versions import InvalidVersion, get_scheme

ECOSYSTEM = "Oracle Linux"
ELSA_RE = re.compile(r"^ELSA-\d{4}-\d{4,}(?:-\d+)?$")
_TITLE_ID = re.compile(r"\bELSA-\d{4}-\d{4,}(?:-\d+)?\b")
_TITLE_SEVERITY = re.compile(r"\(([A-Za-z]+)\)\s*$")
_RELEASE = re.compile(r"^Oracle Linux (\d+) is installed$")
_ARCH = re.compile(r"^Oracle Linux arch is (\S+)$")
_EARLIER = re.compile(r"^(\S+) is earlier than (\S+)$")
_KSPLICE = re.compile(r"^(\S+) is ksplice-based$")
_PLATFORM = re.compile(r"^Oracle Linux (\d+)$")


@dataclass(frozen=True)
class Fix:
    """One "<package> is earlier than <evr>" criterion with what its ANDed siblings say."""

    release: str
    package: str
    evr: str
    arch: str = ""
    ksplice: bool = False


def _context(leaves: list[Criterion], release: str, arch: str) -> tuple[str, str, set[str]]:
    ksplice = set()
    for leaf in leaves:
        if m := _RELEASE.match(leaf.comment):
            release = m.group(1)
        elif m := _ARCH.match(leaf.comment):
            arch = m.group(1)
        elif m := _KSPLICE.match(leaf.comment):
            ksplice.add(m.group(1))
    return release, arch, ksplice


def collect_fixes(node: Criteria, release: str = "", arch: str = "") -> list[Fix]:
    """Every package criterion of the tree with the release/arch of its AND ancestors."""
    if node.negate:
        return []
    leaves = [c for c in node.children if isinstance(c, Criterion) and not c.negate]
    ksplice: set[str] = set()
    if node.operator == "AND":
        release, arch, ksplice = _context(leaves, release, arch)
    out = []
    for leaf in leaves:
        if m := _EARLIER.match(leaf.comment):
            name, evr = m.group(1), m.group(2)
            out.append(Fix(release, name, evr, arch, name in ksplice or ".ksplice" in evr))
    for child in node.children:
        if isinstance(child, Criteria):
            out += collect_fixes(child, release, arch)
    return out


def elsa_id(definition: Definition) -> str:
    for ref in definition.ref_ids("elsa"):
        if ELSA_RE.match(ref):
            return ref
    m = _TITLE_ID.search(definition.title)
    return m.group(0) if m else ""


def severity_label(definition: Definition) -> str:
    if definition.severity:
        return definition.severity
    m = _TITLE_SEVERITY.search(definition.title)
    return m.group(1) if m and normalise_severity(m.group(1)) else ""


def affected_rows(definition: Definition, stats: ParseStats, label: str) -> tuple[Affected, ...]:
    """One row per (release, package): the lowest non-ksplice fixed EVR (see module doc)."""
    platforms = {m.group(1) for p in definition.platforms if (m := _PLATFORM.match(p))}
    fallback = next(iter(platforms)) if len(platforms) == 1 else ""
    grouped: dict[tuple[str, str], list[str]] = {}
    scheme = get_scheme("rpm")
    for fix in collect_fixes(definition.criteria) if definition.criteria else []:
        release = fix.release or fallback
        if not release:
            stats.skip(f"{definition.id}: {fix.package}: no Oracle Linux release")
            continue
        if fix.ksplice:
            continue
        evr = strip_zero_epoch(fix.evr)
        try:
            scheme.key(evr)
        except InvalidVersion:
            stats.skip(f"{definition.id}: {fix.package}: invalid EVR {fix.evr!r}")
            continue
        grouped.setdefault((release, fix.package), []).append(evr)
    severity = normalise_severity(label)
    return tuple(
        Affected(namespace=f"{ECOSYSTEM}:{release}", package=package, status="fixed", fixed_version=fixed,
                 ranges=(Range(type="ECOSYSTEM", events=(("introduced", "0"), ("fixed", fixed))),),
                 severity=severity, urgency=label)
        for (release, package), evrs in grouped.items() for fixed in (errata.lowest_evr(evrs),))


def cvss_of(cve: CveRef) -> tuple[CVSS, ...]:
    """Oracle's "5.5/CVSS:3.1/AV:L/..." and "1.2/AV:L/AC:H/..." attributes."""
    out = []
    for raw, default_version in ((cve.cvss3, ""), (cve.cvss2, "2.0")):
        score, sep, vector = raw.partition("/")
        if not sep or not vector:
            continue
        version = vector.split("/", 1)[0].partition(":")[2] if vector.startswith("CVSS:") else default_version
        try:
            value: float | None = float(score)
        except ValueError:
            value = None
        if version:
            out.append(CVSS(source="oracle", version=version, vector=vector, score=value))
    return tuple(out)


def advisories(definition: Definition, stats: ParseStats, source: str = "oracle") -> Iterator[Advisory]:
    """The per-CVE advisories of one ELSA definition (none for a ksplice-only erratum)."""
    stats.records += 1
    vuln_id = elsa_id(definition)
    if not vuln_id:
        stats.skip(f"{definition.id or '?'}: no ELSA id in references or title")
        return
    label = severity_label(definition)
    rows = affected_rows(definition, stats, label)
    if not rows:
        return
    cves = errata.cve_ids([c.id for c in definition.cves] + list(definition.ref_ids("CVE")))
    refs = tuple(dict.fromkeys(r.ref_url for r in definition.references if r.ref_url))
    erratum = Advisory(id=vuln_id, source=source, summary=text(definition.title, 1000),
                       details=text(definition.description), references=refs,
                       published=definition.issued, modified=definition.updated, affected=rows)
    scores = {c.id: cvss_of(c) for c in definition.cves}
    for adv in errata.per_cve(erratum, cves):
        yield dataclasses.replace(adv, cvss=scores.get(adv.id, ())) if scores.get(adv.id) else adv


def _is_elsa(head: str) -> bool:
    return "oval:com.oracle.elsa:" in head or "Oracle Errata System" in head


class OracleFeed(OvalFeed):
    name = "oracle"
    source = Source("oracle", "https://linux.oracle.com/security/oval/com.oracle.elsa-all.xml.bz2",
                    single_file("oracle", "com.oracle.elsa-all.xml.bz2"))  # one bz2 OVAL file, streamed

    def owns(self, head: str, member_name: str) -> bool:
        return _is_elsa(head)

    def records(self, stream: Readable, name: str, stats: ParseStats) -> Iterator[Advisory]:
        for item in iter_oval(stream, name, stats):
            if isinstance(item, Definition):
                yield from advisories(item, stats, self.name)
