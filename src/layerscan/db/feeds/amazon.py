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
from pathlib import Path
from typing import TYPE_CHECKING, Iterator
from urllib.parse import urljoin

from layerscan.db.dates import rfc3339
from layerscan.db.feeds import errata
from layerscan.db.feeds.base import ParseStats
from layerscan.db.feeds.common import normalise_severity, text
from layerscan.db.feeds.oval import Readable, XmlFeed
from layerscan.db.feeds.source import FetchOptions, FetchPlan, Source, settle
from layerscan.db.feeds.updateinfo import MAX_REPOMD_BYTES, Update, iter_updates, looks_like_updateinfo
from layerscan.db.feeds.updateinfo import updateinfo_location
from layerscan.errors import FeedError
from layerscan.model import Advisory, Affected, Range
from layerscan.versions import get_scheme

if TYPE_CHECKING:
    from layerscan.db.fetch import Fetcher

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


DEFAULT_URL = "https://cdn.amazonlinux.com"
MIRROR_LISTS = {  # release -> its core repository's mirror.list, under the "amazon" base URL
    "1": "2018.03/updates/x86_64/mirror.list",
    "2": "2/core/latest/x86_64/mirror.list",
    "2023": "al2023/core/mirrors/latest/x86_64/mirror.list",
}
AMAZON_1_URL = "http://repo.us-west-2.amazonaws.com"  # AL1's mirror list is served there, not by the CDN
_MAX_MIRROR_LIST = 64 * 1024


def _mirror_list(opts: FetchOptions, release: str) -> str:
    base = opts.url("amazon")
    if release == "1" and base == DEFAULT_URL:
        base = AMAZON_1_URL
    return f"{base}/{MIRROR_LISTS[release]}"


def _small_file(path: Path, limit: int) -> bytes:
    with open(path, "rb") as fh:
        data = fh.read(limit + 1)
    if len(data) > limit:
        raise FeedError(f"{path.name}: larger than {limit} bytes")
    return data


def first_mirror(path: Path) -> str:
    """The first http(s) repository URL of a yum mirror.list."""
    for line in _small_file(path, _MAX_MIRROR_LIST).decode("utf-8", "replace").splitlines():
        line = line.strip()
        if line.startswith(("https://", "http://")) and not any(c.isspace() for c in line):
            return line.rstrip("/")
    raise FeedError(f"{path}: no http(s) repository URL in the mirror list")


def _fetch_release(fetcher: Fetcher, opts: FetchOptions, release: str, root: Path) -> bool:
    """mirror.list -> repodata/repomd.xml -> the updateinfo it names; True if the updateinfo changed."""
    here = root / release
    listing = fetcher.get(_mirror_list(opts, release), here / "mirror.list", "amazon")
    repo = first_mirror(listing.path)
    repomd = fetcher.get(f"{repo}/repodata/repomd.xml", here / "repomd.xml", "amazon")
    href = updateinfo_location(_small_file(repomd.path, MAX_REPOMD_BYTES), f"{repo}/repodata/repomd.xml")
    name, other = ("updateinfo.xml.gz", "updateinfo.xml") if href.endswith(".gz") else ("updateinfo.xml",
                                                                                        "updateinfo.xml.gz")
    result = fetcher.get(urljoin(f"{repo}/", href), here / name, "amazon")
    (here / other).unlink(missing_ok=True)  # the repository switched compression: keep one copy
    return result.changed


def _updateinfo_files(root: Path) -> tuple[Path, ...]:
    return tuple(sorted(root.glob("*/updateinfo.xml*")))


def fetch(fetcher: Fetcher, opts: FetchOptions, plan: FetchPlan) -> None:
    """Amazon Linux 1, 2 and 2023: each release's updateinfo from its core repository."""
    root, errors = opts.feed_dir / "amazon", []
    for release in MIRROR_LISTS:
        try:
            if _fetch_release(fetcher, opts, release, root):
                plan.changed.append("amazon")
        except (FeedError, OSError) as exc:
            errors.append(f"Amazon Linux {release}: {exc}")
    settle(plan, "amazon", errors, len(MIRROR_LISTS), bool(_updateinfo_files(root)), _updateinfo_files(root),
           "amazon")


class AmazonFeed(XmlFeed):
    name = "amazon"
    source = Source("amazon", DEFAULT_URL, fetch)
    max_member_bytes = 256 << 20

    def sniff(self, head: str, member_name: str) -> bool:
        return looks_like_updateinfo(head) and any(s in head for s in _SNIFF)

    def records(self, stream: Readable, name: str, stats: ParseStats) -> Iterator[Advisory]:
        for update in iter_updates(stream, name, stats):
            yield from advisories(update, stats, self.name)
