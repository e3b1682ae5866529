"""NVD CVE API 2.0 JSON: response pages (``{"vulnerabilities": [{"cve": ...}]}``)
and single CVE objects (as mirrored one file per CVE).

NVD supplies details only: CVSS v2/v3.0/v3.1/v4.0, CWE, dates, references and
the description. It never produces package rows (no CPE guessing).
Rejected CVEs are excluded.

``db update`` downloads it from the CVE API 2.0 (``db.nvdapi``): in full once, then only
what was modified since the previous complete run, one ``run-*`` directory per run.
"""

from __future__ import annotations

import shutil
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator

from layerscan.db.feeds.base import Feed, ParseStats
from layerscan.db.feeds.common import normalise_severity, text, valid_id
from layerscan.db.dates import format_utc, parse_utc
from layerscan.db.feeds.members import Member
from layerscan.db.feeds.source import BuildInput, FetchOptions, FetchPlan, Source, keep_or_fail
from layerscan.db.nvdapi import DEFAULT_URL, fetch_pages, query_from, windows
from layerscan.db.store import STATE_PREFIX
from layerscan.errors import FeedError
from layerscan.model import CVSS, Advisory, Severity

if TYPE_CHECKING:
    from layerscan.db.fetch import Fetcher

NVD_SOURCE = "nvd@nist.gov"
# secondary metric sources NVD names by organisation UUID: readable names in reports
_SOURCE_NAMES = {"134c704f-9b21-4f2e-91b3-4a467353bcc0": "cisa-adp"}  # CISA's ADP ("Vulnrichment")
# metric key -> CVSS version; order = preference for the NVD severity level
METRIC_KEYS = (("cvssMetricV31", "3.1"), ("cvssMetricV30", "3.0"), ("cvssMetricV40", "4.0"), ("cvssMetricV2", "2.0"))


def _source_name(source: object) -> str:
    if source == NVD_SOURCE or not isinstance(source, str) or not source:
        return "nvd"
    return _SOURCE_NAMES.get(source, source)


def _metric(metric: object, version: str) -> tuple[CVSS, str] | None:
    """(CVSS, severity level) of one metric entry; None when malformed."""
    if not isinstance(metric, dict) or not isinstance(metric.get("cvssData"), dict):
        return None
    data = metric["cvssData"]
    vector, score = data.get("vectorString"), data.get("baseScore")
    if not isinstance(vector, str) or not vector:
        return None
    score = float(score) if isinstance(score, (int, float)) else None
    level = normalise_severity(data.get("baseSeverity")) or normalise_severity(metric.get("baseSeverity"))
    return CVSS(source=_source_name(metric.get("source")), version=version, vector=vector, score=score), level


def _metrics(cve: dict[str, Any]) -> tuple[tuple[CVSS, ...], tuple[Severity, ...]]:
    metrics = cve.get("metrics")
    if not isinstance(metrics, dict):
        return (), ()
    scores: list[CVSS] = []
    level = ""
    for key, version in METRIC_KEYS:
        for entry in metrics.get(key) or ():
            parsed = _metric(entry, version)
            if parsed is None:
                continue
            scores.append(parsed[0])
            if not level and parsed[0].source == "nvd" and parsed[1]:
                level = parsed[1]
    if not level:  # no NVD-scored metric: take the first secondary one with a level
        level = next((lv for k, v in METRIC_KEYS for e in metrics.get(k) or ()
                      if (p := _metric(e, v)) and (lv := p[1])), "")
    return tuple(scores), ((Severity(source="nvd", level=level),) if level else ())


def _cwes(cve: dict[str, Any]) -> tuple[str, ...]:
    out: list[str] = []
    for weakness in cve.get("weaknesses") or ():
        for desc in (weakness.get("description") or ()) if isinstance(weakness, dict) else ():
            value = desc.get("value") if isinstance(desc, dict) else None
            if isinstance(value, str) and value.startswith("CWE-") and value not in out:
                out.append(value)
    return tuple(out)


def _description(cve: dict[str, Any]) -> str:
    descs = [d for d in cve.get("descriptions") or () if isinstance(d, dict)]
    english = [d for d in descs if d.get("lang") == "en"] or descs
    return text(english[0].get("value")) if english else ""


def _references(cve: dict[str, Any]) -> tuple[str, ...]:
    refs = cve.get("references") or ()
    return tuple(dict.fromkeys(r["url"] for r in refs if isinstance(r, dict) and isinstance(r.get("url"), str)))


def cve_to_advisory(cve: object) -> Advisory | None:
    """One NVD ``cve`` object -> details-only Advisory; None when rejected."""
    if not isinstance(cve, dict) or not valid_id(cve.get("id")):
        raise FeedError("cve object without an id")
    if str(cve.get("vulnStatus", "")).lower() == "rejected":
        return None
    scores, levels = _metrics(cve)
    return Advisory(
        id=cve["id"], source="nvd", details=_description(cve), severities=levels, cvss=scores,
        cwes=_cwes(cve), references=_references(cve),
        published=text(cve.get("published"), 64), modified=text(cve.get("lastModified"), 64),
    )


def cve_objects(doc: object) -> list[object]:
    """The cve objects of a page, or the document itself when it is one cve."""
    if isinstance(doc, dict) and isinstance(doc.get("vulnerabilities"), list):
        return [v.get("cve") if isinstance(v, dict) else v for v in doc["vulnerabilities"]]
    if isinstance(doc, dict) and doc.get("format") == "NVD_CVE":
        return []  # an empty page
    if isinstance(doc, dict) and "id" in doc and ("metrics" in doc or "descriptions" in doc):
        return [doc]
    raise FeedError("not an NVD CVE API 2.0 document")


def looks_like_nvd(doc: object) -> bool:
    if not isinstance(doc, dict):
        return False
    if doc.get("format") == "NVD_CVE" or (isinstance(doc.get("vulnerabilities"), list)
                                          and doc["vulnerabilities"]
                                          and isinstance(doc["vulnerabilities"][0], dict)
                                          and isinstance(doc["vulnerabilities"][0].get("cve"), dict)):
        return True
    return isinstance(doc.get("id"), str) and doc["id"].startswith("CVE-") and "vulnStatus" in doc


NVD_SYNC_KEY = f"{STATE_PREFIX}nvd-sync"  # end date of the last complete NVD download


def _run_dir(root: Path, now: datetime) -> Path:
    """One directory per run, named so that newer runs sort first: the importer keeps the
    first record of a CVE it reads, so an incremental run's records replace older ones."""
    return root / f"run-{10 ** 16 - int(now.timestamp() * 1_000_000):016d}"


def fetch(fetcher: Fetcher, opts: FetchOptions, plan: FetchPlan) -> None:
    """Everything on the first run (or when the sync point is lost), else the changes since it."""
    root, now = opts.feed_dir / "nvd", datetime.now(timezone.utc)
    since = parse_utc(plan.state.get(NVD_SYNC_KEY, "")) if any(root.glob("run-*")) else None
    if since is None:
        shutil.rmtree(root, ignore_errors=True)  # a full download replaces everything
    run = _run_dir(root, now)
    spans: list[tuple[datetime, datetime] | None] = [None] if since is None else list(windows(since, now))
    query = query_from(opts.url("nvd"), opts.env, opts.nvd_limits)
    try:
        if fetch_pages(fetcher, query, spans, run, fetcher.progress) or since is None:
            plan.changed.append("nvd")
        plan.state[NVD_SYNC_KEY] = format_utc(now)
    except (FeedError, OSError) as exc:
        shutil.rmtree(run, ignore_errors=True)  # the next run asks again from the same date
        if not keep_or_fail(plan, "nvd", exc, any(root.glob("run-*"))):
            return
    plan.inputs.append(BuildInput(paths=(root,), feed="nvd", covers=("nvd",)))


class NvdFeed(Feed):
    name = "nvd"
    source = Source("nvd", DEFAULT_URL, fetch)

    def accepts(self, member: Member, doc: object) -> bool:
        return looks_like_nvd(doc)

    def add(self, member: Member, doc: object, stats: ParseStats) -> Iterator[Advisory]:
        try:
            objects = cve_objects(doc)
        except FeedError as exc:
            stats.skip(f"{member.name}: {exc}")
            return
        for cve in objects:
            stats.records += 1
            try:
                advisory = cve_to_advisory(cve)
            except FeedError as exc:
                stats.skip(f"{member.name}: {exc}")
                continue
            if advisory is not None:
                yield advisory
