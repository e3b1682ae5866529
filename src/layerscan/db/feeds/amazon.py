"""Amazon Linux Security Center errata (ALAS) from the repositories' ``updateinfo.xml``.

Each Amazon Linux release publishes its errata in the yum metadata of its core
repository (``<repo>/repodata/repomd.xml`` names ``updateinfo.xml.gz``; ``db update``
finds the repository through the release's ``mirror.list``). One ``<update>`` per
erratum (format: ``updateinfo``): its id names the release —

- ``ALAS-YYYY-NNNN`` Amazon Linux 1 (AMI 2018.03 and older), namespace ``Amazon Linux:1``;
- ``ALAS2-...`` Amazon Linux 2 (``Amazon Linux:2``), ``ALAS2022-...`` the 2022 preview
  (``Amazon Linux:2022``), ``ALAS2023-...`` Amazon Linux 2023 (``Amazon Linux:2023``) —

what ``os_namespace`` builds for an image with os-release ``ID=amzn`` (``VERSION_ID``
"2018.03" and the AMI's ``system-release`` are release 1). Advisories of the extras and
livepatch channels (``ALAS2KERNEL-5.10-...``, ``ALAS2023LIVEPATCH-...``) are skipped and
counted: their builds replace core packages only where that channel is enabled, so a
core kernel would be judged against another kernel line's fix.

Rows: the binary package name, status fixed, fixed version the **lowest**
``[epoch:]version-release`` among the erratum's builds of that name (x86_64, aarch64,
i686, noarch; the rows carry no arch, as for Oracle), the erratum's ``<severity>``
(``critical``, ``important`` → HIGH, ``medium``, ``low``) as the vendor level. Each
erratum is stored per CVE (``errata.per_cve``) with the ALAS id as alias; the ALAS page
is among the references.
"""

from __future__ import annotations

import re
from typing import Iterator

from layerscan.db.dates import rfc3339
from layerscan.db.feeds import errata
from layerscan.db.feeds.base import ParseStats
from layerscan.db.feeds.common import normalise_severity, text
from layerscan.db.feeds.oval import Readable, XmlFeed
from layerscan.db.feeds.updateinfo import Update, iter_updates, looks_like_updateinfo
from layerscan.model import Advisory, Affected, Range
from layerscan.versions import get_scheme

ECOSYSTEM = "Amazon Linux"
ALAS_RE = re.compile(r"^ALAS(2023|2022|2)?-(\d{4})-(\d+)$")
_CHANNEL_RE = re.compile(r"^ALAS(?:2023|2022|2)?[A-Z][A-Z0-9.-]*-\d{4}-\d+$")  # extras / livepatch
_PAGE_DIR = {"1": "", "2": "AL2/", "2022": "AL2022/", "2023": "AL2023/"}
_SNIFF = ("<id>ALAS", "linux-security@amazon.com", 'short="amazon-linux')


def release_of(alas_id: str) -> str:
    """'ALAS2-2018-939' -> '2', 'ALAS-2018-1093' -> '1', 'ALAS2023-2023-001' -> '2023'; '' otherwise."""
    m = ALAS_RE.match(alas_id)
    return (m.group(1) or "1") if m else ""


def alas_url(alas_id: str) -> str:
    """The erratum's page: https://alas.aws.amazon.com/AL2/ALAS-2018-939.html for ALAS2-2018-939."""
    m = ALAS_RE.match(alas_id)
    if not m:
        return ""
    release = m.group(1) or "1"
    return f"https://alas.aws.amazon.com/{_PAGE_DIR[release]}ALAS-{m.group(2)}-{m.group(3)}.html"


def affected_rows(update: Update, release: str, stats: ParseStats) -> tuple[Affected, ...]:
    """One fixed row per binary package name: its lowest EVR across the erratum's builds."""
    scheme = get_scheme("rpm")
    grouped: dict[str, list[str]] = {}
    for pkg in update.packages:
        if not pkg.name or pkg.arch == "src":
            continue
        evr = pkg.evr
        if not pkg.version or not scheme.valid(evr):
            stats.skip(f"{update.id}: {pkg.name or '?'}: invalid EVR {evr!r}")
            continue
        grouped.setdefault(pkg.name, []).append(evr)
    severity = normalise_severity(update.severity)
    namespace = f"{ECOSYSTEM}:{release}"
    return tuple(
        Affected(namespace=namespace, package=name, status="fixed", fixed_version=fixed,
                 ranges=(Range(type="ECOSYSTEM", events=(("introduced", "0"), ("fixed", fixed))),),
                 severity=severity, urgency=update.severity)
        for name, evrs in grouped.items() for fixed in (errata.lowest_evr(evrs),))


def advisories(update: Update, stats: ParseStats, source: str = "amazon") -> Iterator[Advisory]:
    """The per-CVE advisories of one ALAS erratum (none when it is skipped)."""
    stats.records += 1
    release = release_of(update.id)
    if not release:
        why = "an extras/livepatch channel erratum" if _CHANNEL_RE.match(update.id) else "not an ALAS id"
        stats.skip(f"{update.id or '?'}: {why}, not imported")
        return
    rows = affected_rows(update, release, stats)
    if not rows:
        stats.skip(f"{update.id}: no package with a valid version")
        return
    refs = tuple(dict.fromkeys(r for r in (alas_url(update.id), *(r.href for r in update.references)) if r))
    erratum = Advisory(id=update.id, source=source, summary=text(update.title, 1000), details=text(update.description),
                       references=refs, published=rfc3339(update.issued), modified=rfc3339(update.updated),
                       affected=rows)
    yield from errata.per_cve(erratum, update.reference_ids("cve"))


class AmazonFeed(XmlFeed):
    name = "amazon"
    max_member_bytes = 256 << 20

    def sniff(self, head: str, member_name: str) -> bool:
        return looks_like_updateinfo(head) and any(s in head for s in _SNIFF)

    def records(self, stream: Readable, name: str, stats: ParseStats) -> Iterator[Advisory]:
        for update in iter_updates(stream, name, stats):
            yield from advisories(update, stats, self.name)
