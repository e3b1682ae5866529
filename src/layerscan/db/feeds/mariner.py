"""CBL-Mariner 1.0/2.0 and Azure Linux 3.0 OVAL
(``https://raw.githubusercontent.com/microsoft/AzureLinuxVulnerabilityData/main/``
``cbl-mariner-1.0-oval.xml``, ``cbl-mariner-2.0-oval.xml``, ``azurelinux-3.0-oval.xml``).

One definition per (CVE, package): ``metadata`` has the CVE reference, the severity
(Critical/High/Medium/Low) and ``patchable`` (true / false / Not Applicable); the
criteria AND ``rpminfo_test``s whose states bound the vulnerable EVRs:

- "less than X" — fixed in X (status fixed, range introduced 0 / fixed X);
- "less than or equal X" — no fix yet, X and older affected (last_affected X);
- "greater than Y" / "greater than or equal Y" — the lower bound (introduced Y; OSV has no
  exclusive lower bound, so "greater than Y" also covers Y itself, a version that is
  never a real build: Microsoft writes "0:1.19.0.cm2" style bounds);
- patchable "Not Applicable" — the CVE does not apply: a not_affected row.

The tests are resolved to their objects and states (``oval.read_oval``). The release is
not inside the document: it comes from the file name (``cbl-mariner-2.0-oval.xml``,
``azurelinux-3.0-oval.xml``), else from the EVRs' dist tag when they all agree (``.cm2``,
``.azl3``). Namespaces: ``Mariner:<X.Y>`` (os-release ID ``mariner``) and
``Azure Linux:<X.Y>`` (ID ``azurelinux``); rows are keyed by binary package name.
"""

from __future__ import annotations

import re
from pathlib import PurePosixPath
from typing import Iterator

from layerscan.db.feeds.base import ParseStats
from layerscan.db.feeds.common import CVE_RE, normalise_severity, text
from layerscan.db.feeds.oval import Definition, OvalDocument, OvalFeed, Readable, RpmCheck, leaves, read_oval
from layerscan.db.feeds.oval import strip_zero_epoch
from layerscan.db.feeds.source import Source, per_file
from layerscan.errors import FeedError
from layerscan.model import Advisory, Affected, Range
from layerscan.versions import InvalidVersion, get_scheme

MARINER, AZURE = "Mariner", "Azure Linux"
OVAL_FILES = ("cbl-mariner-1.0-oval.xml", "cbl-mariner-2.0-oval.xml", "azurelinux-3.0-oval.xml")  # db update
_FILE_RELEASE = re.compile(r"(\d+\.\d+)(?:-preview)?-oval\.xml(?:\.(?:bz2|gz))?$", re.IGNORECASE)
_DIST_TAG = re.compile(r"\.(cm|azl)(\d+)$")
_UPPER = {"less than": "fixed", "less than or equal": "last_affected"}
_LOWER = ("greater than", "greater than or equal")


def ecosystem(head: str) -> str:
    """Mariner or Azure Linux from the definition ids / generator name in the document head."""
    if "oval:com.microsoft.azurelinux:" in head or "Azure Linux OVAL" in head:
        return AZURE
    if "oval:com.microsoft.cbl-mariner:" in head or "CBL-Mariner OVAL" in head:
        return MARINER
    return ""


def release_from_name(name: str) -> str:
    m = _FILE_RELEASE.search(PurePosixPath(name).name)
    return m.group(1) if m else ""


def release_from_dist_tags(doc: OvalDocument) -> str:
    """The release all EVRs' dist tags agree on ('.cm2' -> '2.0'); '' if none or mixed."""
    tags = {f"{m.group(2)}.0" for s in doc.states.values() if (m := _DIST_TAG.search(s.evr))}
    return tags.pop() if len(tags) == 1 else ""


def _checks(definition: Definition, doc: OvalDocument, stats: ParseStats) -> list[RpmCheck] | None:
    checks = []
    for leaf in leaves(definition.criteria):
        check = doc.resolve(leaf.test_ref)
        if check is None:
            stats.skip(f"{definition.id}: test {leaf.test_ref} does not resolve to an rpminfo check")
            return None
        checks.append(check)
    return checks


def _row(namespace: str, package: str, checks: list[RpmCheck], severity: str, label: str,
         stats: ParseStats, def_id: str) -> Affected | None:
    scheme = get_scheme("rpm")
    introduced, upper = "0", ("", "")
    for check in checks:
        evr = strip_zero_epoch(check.evr)
        try:
            scheme.key(evr)
        except InvalidVersion:
            stats.skip(f"{def_id}: {package}: invalid EVR {check.evr!r}")
            return None
        if check.operation in _UPPER:
            upper = (_UPPER[check.operation], evr)
        elif check.operation in _LOWER:
            introduced = evr
        else:
            stats.skip(f"{def_id}: {package}: unsupported evr operation {check.operation!r}")
            return None
    kind, bound = upper
    if not kind:
        stats.skip(f"{def_id}: {package}: no upper bound")
        return None
    rng = (Range(type="ECOSYSTEM", events=(("introduced", introduced), (kind, bound))),)
    if kind == "fixed":
        return Affected(namespace=namespace, package=package, ranges=rng, status="fixed", fixed_version=bound,
                        severity=severity, urgency=label)
    return Affected(namespace=namespace, package=package, ranges=rng, status="affected", severity=severity,
                    urgency=label)


def advisory(definition: Definition, doc: OvalDocument, namespace: str, stats: ParseStats,
             source: str = "mariner") -> Advisory | None:
    stats.records += 1
    cve = next((r for r in definition.ref_ids("CVE") if CVE_RE.fullmatch(r)), "")
    if not cve:
        m = CVE_RE.match(definition.title)
        cve = m.group(0) if m else ""
    if not cve:
        stats.skip(f"{definition.id}: no CVE id")
        return None
    checks = _checks(definition, doc, stats)
    if not checks:
        if checks is not None:
            stats.skip(f"{definition.id}: no package criteria")
        return None
    names = {c.name for c in checks}
    if len(names) != 1:
        stats.skip(f"{definition.id}: criteria name several packages {sorted(names)}")
        return None
    package = names.pop()
    label = definition.severity
    severity = normalise_severity(label)
    if definition.meta("patchable").strip().lower() == "not applicable":
        row: Affected | None = Affected(namespace=namespace, package=package, status="not_affected",
                                        severity=severity, urgency=label)
    else:
        row = _row(namespace, package, checks, severity, label, stats, definition.id)
    if row is None:
        return None
    refs = tuple(dict.fromkeys(r.ref_url for r in definition.references if r.ref_url))
    return Advisory(id=cve, source=source, summary=text(definition.title, 1000), details=text(definition.description),
                    references=refs, published=definition.meta("advisory_date"), affected=(row,))


def advisories(doc: OvalDocument, name: str, eco: str, stats: ParseStats,
               source: str = "mariner") -> Iterator[Advisory]:
    release = release_from_name(name) or release_from_dist_tags(doc)
    if not release:
        raise FeedError(f"{name}: no {eco} release in the file name or the EVRs' dist tags")
    namespace = f"{eco}:{release}"
    for definition in doc.definitions:
        adv = advisory(definition, doc, namespace, stats, source)
        if adv is not None:
            yield adv


class MarinerFeed(OvalFeed):
    """CBL-Mariner and Azure Linux (one feed: the same generator and format)."""

    name = "mariner"
    source = Source("mariner", "https://raw.githubusercontent.com/microsoft/AzureLinuxVulnerabilityData/main",
                    per_file("mariner", lambda opts: OVAL_FILES))  # one OVAL file per release
    max_member_bytes = 256 << 20

    def owns(self, head: str, member_name: str) -> bool:
        return bool(ecosystem(head))

    def records(self, stream: Readable, name: str, stats: ParseStats) -> Iterator[Advisory]:
        doc = read_oval(stream, name, stats)
        eco = ecosystem(" ".join((doc.generator.product_name, *(d.id for d in doc.definitions[:1]))))
        try:
            yield from advisories(doc, name, eco or MARINER, stats, self.name)
        except FeedError as exc:
            stats.skip(str(exc))
