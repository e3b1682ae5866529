"""OSV records (https://ossf.github.io/osv-schema/): JSON or YAML, single files,
directories, per-ecosystem ``all.zip`` files and repository snapshots.

Ranges keep their OSV type: ECOSYSTEM and SEMVER are version-matchable, GIT is
recorded but carries commit hashes, which no version scheme can compare.
Withdrawn records are excluded. Distribution records (Ubuntu, SUSE, AlmaLinux and
Rocky errata) get the vendor's rating on their rows and are stored per CVE
(``osv_distro``). A package's own CVSS (``affected[].severity``, OSV 1.5; Bitnami
rates each package so) rates its row, and its vectors join the record's.
"""

from __future__ import annotations

import csv
import functools
import io
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Iterator
from urllib.parse import quote

from layerscan.cachedir import private_dir
from layerscan.db.feeds.base import Feed, ParseStats
from layerscan.db.feeds.common import id_prefix, normalise_severity, str_list, text, valid_id
from layerscan.db.cvss import base_score, level_from_score
from layerscan.db.feeds.members import Member, iter_members
from layerscan.db.feeds.osv_distro import distro_advisories
from layerscan.db.feeds.source import BuildInput, FetchOptions, FetchPlan, Source, Step, keep_or_fail
from layerscan.db.namespaces import normalise_namespace
from layerscan.db.store import STATE_PREFIX
from layerscan.ecosystems import fetched_distros
from layerscan.errors import FeedError
from layerscan.model import CVSS, Advisory, Affected, Range, Severity

if TYPE_CHECKING:
    from layerscan.db.fetch import Fetcher

EVENT_KINDS = ("introduced", "fixed", "last_affected", "limit")
MATCHABLE_RANGE_TYPES = ("ECOSYSTEM", "SEMVER")
GIT_NAMESPACE = "GIT"  # package-less affected entries (repository + commit ranges)
MAX_EVENTS = 10_000
MAX_VERSIONS = 200_000
MAX_AFFECTED = 50_000
DEFAULT_URL = "https://osv-vulnerabilities.storage.googleapis.com"
DEFAULT_ECOSYSTEMS = (  # what ``db update`` fetches unless --ecosystems says otherwise
    "PyPI", "npm", "Maven", "Go", "crates.io", "RubyGems", "Packagist", "NuGet", "Pub", "Hex",
    *fetched_distros(), "Bitnami", "GitHub Actions",  # the distributions: Distro.fetched (layerscan.ecosystems)
)
FULL_RESYNC_THRESHOLD = 5000  # more changed records than this: download all.zip again


def cvss_from_vector(vector: str, source: str, score: float | None = None) -> CVSS | None:
    """A CVSS record from a vector string ('CVSS:3.1/AV:N/...' or a bare v2 vector); the base
    score is computed from the vector when the feed gives none."""
    vector = vector.strip()
    if not vector or len(vector) > 500:
        return None
    if vector.startswith("CVSS:"):
        version = vector[5:].split("/", 1)[0]
        if version not in ("3.0", "3.1", "4.0"):
            return None
    elif vector.startswith("AV:") or vector.startswith("(AV:"):
        version = "2.0"
    else:
        return None
    return CVSS(source=source, version=version, vector=vector,
                score=score if score is not None else base_score(version, vector))


def _events(raw: object) -> tuple[tuple[str, str], ...]:
    if not isinstance(raw, list) or len(raw) > MAX_EVENTS:
        raise FeedError("events must be a list")
    out: list[tuple[str, str]] = []
    for event in raw:
        if not isinstance(event, dict):
            raise FeedError("event must be a mapping")
        for kind in EVENT_KINDS:
            value = event.get(kind)
            if isinstance(value, str) and value:
                out.append((kind, value))
    return tuple(out)


def _ranges(raw: object) -> tuple[Range, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise FeedError("ranges must be a list")
    out = []
    for item in raw:
        if not isinstance(item, dict) or not isinstance(item.get("type"), str):
            raise FeedError("range without a type")
        out.append(Range(type=item["type"].upper(), events=_events(item.get("events"))))
    return tuple(out)


def fixed_versions(ranges: Iterable[Range]) -> str:
    """The fixed events of the version-matchable ranges, in order, comma-joined."""
    seen: list[str] = []
    for rng in ranges:
        if rng.type in MATCHABLE_RANGE_TYPES:
            for kind, value in rng.events:
                if kind == "fixed" and value not in seen:
                    seen.append(value)
    return ", ".join(seen)


def _package_severity(item: dict[str, Any]) -> str:
    for key in ("ecosystem_specific", "database_specific"):
        extra = item.get(key)
        if isinstance(extra, dict):
            level = normalise_severity(extra.get("urgency")) or normalise_severity(extra.get("severity"))
            if level:
                return level
    return ""


def _cvss_entries(raw: object, source: str) -> tuple[CVSS, ...]:
    """The CVSS vectors of an OSV ``severity`` list (record- or package-level)."""
    out = []
    for entry in raw if isinstance(raw, list) else ():
        if isinstance(entry, dict) and isinstance(entry.get("score"), str) \
                and str(entry.get("type", "")).upper().startswith("CVSS"):
            cvss = cvss_from_vector(entry["score"], source)
            if cvss is not None:
                out.append(cvss)
    return tuple(out)


def _cvss_package_level(scores: tuple[CVSS, ...]) -> str:
    """The level of a package's own CVSS: the newest scored version (v4.0 vectors carry no
    score here, see db.cvss); "" when none is scored."""
    for version in ("3.1", "3.0", "2.0"):
        for c in scores:
            if c.version == version and c.score is not None:
                return level_from_score(c.score)
    return ""


def _git_repo(item: dict[str, Any]) -> str:
    for rng in item.get("ranges") or ():
        if isinstance(rng, dict) and str(rng.get("type", "")).upper() == "GIT" and isinstance(rng.get("repo"), str):
            return rng["repo"]
    raise FeedError("affected entry without a package")


def _affected(item: object, rating: str = "", record_level: str = "") -> Affected:
    """One affected entry. OSV allows a package-less entry with GIT ranges only: it is
    kept under namespace "GIT" with the repository URL as the package name. A package
    rated by its own CVSS (``rating``: who rates it) gets that level, else, when its vector
    cannot be scored (v4.0), ``record_level``: the record's level word, given when the
    record rates this one package only."""
    if not isinstance(item, dict):
        raise FeedError("affected entry must be a mapping")
    pkg = item.get("package")
    if pkg is None:
        pkg = {"ecosystem": GIT_NAMESPACE, "name": _git_repo(item)}
    if not isinstance(pkg, dict):
        raise FeedError("affected package must be a mapping")
    ecosystem, name = pkg.get("ecosystem"), pkg.get("name")
    if not isinstance(ecosystem, str) or not ecosystem or not isinstance(name, str) or not name:
        raise FeedError("affected package needs ecosystem and name")
    ranges = _ranges(item.get("ranges"))
    versions = str_list(item.get("versions"))
    if len(versions) > MAX_VERSIONS:
        raise FeedError("too many versions")
    return Affected(
        namespace=normalise_namespace(ecosystem),
        package=name.strip(),
        ranges=ranges,
        versions=versions,
        status="affected",
        fixed_version=fixed_versions(ranges),
        severity=_package_severity(item) or _own_cvss_level(item, rating, record_level),
        purl=str(pkg.get("purl") or "") if isinstance(pkg.get("purl"), str) else "",
    )


def _own_cvss_level(item: dict[str, Any], rating: str, record_level: str) -> str:
    scores = _cvss_entries(item.get("severity"), rating)
    return (_cvss_package_level(scores) or record_level) if scores else ""


def _severities(record: dict[str, Any], source: str) -> tuple[tuple[Severity, ...], tuple[CVSS, ...]]:
    levels: list[Severity] = []
    raw = record.get("severity")
    for entry in raw if isinstance(raw, list) else ():
        if not isinstance(entry, dict) or not isinstance(entry.get("score"), str):
            continue
        kind = str(entry.get("type", "")).upper()
        if not kind.startswith("CVSS") and normalise_severity(entry["score"]):
            levels.append(Severity(source=kind.lower() or source, level=normalise_severity(entry["score"])))
    extra = record.get("database_specific")
    if isinstance(extra, dict) and normalise_severity(extra.get("severity")):
        levels.append(Severity(source=source, level=normalise_severity(extra.get("severity"))))
    return tuple(levels), _cvss_entries(raw, source)


_RATING_SOURCES = {"bit": "bitnami"}  # id prefix -> the source name Trivy reports ("ghsa", "pysec", "go", ...)


def _rating_source(vuln_id: str) -> str:
    """Who rates a record's severity, named by its id: 'GHSA-...' -> 'ghsa', 'BIT-...' -> 'bitnami'."""
    prefix = id_prefix(vuln_id).lower()
    return _RATING_SOURCES.get(prefix, prefix)


def _references(raw: object) -> tuple[str, ...]:
    if not isinstance(raw, list):
        return ()
    return tuple(r["url"] for r in raw if isinstance(r, dict) and isinstance(r.get("url"), str))


def _cwes(record: dict[str, Any]) -> tuple[str, ...]:
    extra = record.get("database_specific")
    return str_list(extra.get("cwe_ids")) if isinstance(extra, dict) else ()


def record_to_advisory(record: object, source: str = "osv") -> Advisory | None:
    """One OSV record -> Advisory; None when withdrawn. Raises FeedError when malformed."""
    if not isinstance(record, dict) or not valid_id(record.get("id")):
        raise FeedError("record without a valid id")
    if record.get("withdrawn"):
        return None
    raw_affected = record.get("affected") or []
    if not isinstance(raw_affected, list) or len(raw_affected) > MAX_AFFECTED:
        raise FeedError(f"{record['id']}: affected must be a list")
    vuln_id = record["id"].strip()
    rating = _rating_source(vuln_id)
    levels, scores = _severities(record, rating)
    record_level = next((s.level for s in levels if s.source == rating), "") if len(raw_affected) == 1 else ""
    package_scores = tuple(c for item in raw_affected if isinstance(item, dict)
                           for c in _cvss_entries(item.get("severity"), rating))
    aliases = tuple(a for a in str_list(record.get("aliases")) if a != vuln_id and valid_id(a))
    return Advisory(
        id=vuln_id,
        source=source,
        aliases=aliases,
        summary=text(record.get("summary"), 2000),
        details=text(record.get("details")),
        severities=levels,
        cvss=tuple(dict.fromkeys((*scores, *package_scores))),
        cwes=_cwes(record),
        references=_references(record.get("references")),
        published=text(record.get("published"), 64),
        modified=text(record.get("modified"), 64),
        affected=tuple(_affected(item, rating, record_level) for item in raw_affected),
        related=related_ids(record),
    )


def related_ids(record: dict[str, Any]) -> tuple[str, ...]:
    return tuple(a for a in str_list(record.get("related")) if valid_id(a))


def looks_like_osv(doc: object) -> bool:
    if isinstance(doc, list):  # some exports hold a list of records
        return bool(doc) and all(looks_like_osv(d) for d in doc[:3])
    return isinstance(doc, dict) and isinstance(doc.get("id"), str) and (
        "affected" in doc or "modified" in doc or "schema_version" in doc
    )


def fetch_ecosystem(fetcher: Fetcher, plan: FetchPlan, *, opts: FetchOptions, eco: str) -> None:
    """One ecosystem: ``all.zip`` on the first run (or after too many changes), else only the
    records ``modified_id.csv`` lists as newer than the last sync, into an overlay."""
    key, base = f"osv:{eco}", f"{opts.url('osv')}/{quote(eco)}"
    root = opts.feed_dir / "osv" / eco
    all_zip, overlay, sync_key = root / "all.zip", root / "records", f"{STATE_PREFIX}osv-sync:{eco}"
    try:
        listing = fetcher.get(f"{base}/modified_id.csv", root / "modified_id.csv", key)
        rows = parse_modified_ids(listing.path.read_bytes())
        synced = plan.state.get(sync_key, "")
        newer = [vid for ts, vid in rows if ts > synced]
        if not all_zip.exists() or not synced or len(newer) > FULL_RESYNC_THRESHOLD:
            fetcher.get(f"{base}/all.zip", all_zip, key)
            shutil.rmtree(overlay, ignore_errors=True)
            plan.changed.append(key)
        elif newer:
            private_dir(overlay)
            for vid in newer:
                fetcher.get(f"{base}/{quote(vid)}.json", overlay / f"{vid}.json", key)
            plan.changed.append(key)
        if rows:
            plan.state[sync_key] = max(ts for ts, _ in rows)
    except (FeedError, OSError) as exc:
        if not keep_or_fail(plan, key, exc, all_zip.exists()):
            return
    plan.inputs.append(BuildInput(paths=(all_zip,), feed="osv", overlay=overlay, covers=(key,)))


def fetch(fetcher: Fetcher, opts: FetchOptions, plan: FetchPlan) -> None:
    for _, step in OSV_SOURCE.steps(opts):
        step(fetcher, plan)


class _EcosystemSource(Source):
    """OSV is synced per ecosystem: one step (``osv:<Ecosystem>``) each, in ``opts.ecosystems`` order."""

    def steps(self, opts: FetchOptions) -> list[tuple[str, Step]]:
        return [(f"{self.key}:{eco}", functools.partial(fetch_ecosystem, opts=opts, eco=eco))
                for eco in opts.ecosystems]


OSV_SOURCE = _EcosystemSource("osv", DEFAULT_URL, fetch)


class OsvFeed(Feed):
    name = "osv"
    source = OSV_SOURCE

    def accepts(self, member: Member, doc: object) -> bool:
        return looks_like_osv(doc)

    def add(self, member: Member, doc: object, stats: ParseStats) -> Iterator[Advisory]:
        for record in doc if isinstance(doc, list) else [doc]:
            stats.records += 1
            try:
                advisory = record_to_advisory(record, self.name)
            except FeedError as exc:
                stats.skip(f"{member.name}: {exc}")
                continue
            if advisory is not None:
                yield from distro_advisories(record, advisory)

    def parse_with_overlay(self, base: Path, overlay: Path | None, stats: ParseStats) -> Iterator[Advisory]:
        """Records of ``overlay`` (incrementally fetched) replace those of ``base`` by id."""
        replaced: set[str] = set()
        for path in ([overlay] if overlay is not None and overlay.is_dir() else []) + [base]:
            for member in iter_members(path, stats):
                stem = Path(member.name).stem
                if path == base and stem in replaced:
                    continue
                if path != base:
                    replaced.add(stem)
                yield from self.parse_member(member, stats)


def parse_modified_ids(data: bytes) -> list[tuple[str, str]]:
    """osv.dev ``modified_id.csv``: rows of (RFC 3339 modified time, id), newest first."""
    rows: list[tuple[str, str]] = []
    for row in csv.reader(io.StringIO(data.decode("utf-8", "replace"))):
        if len(row) >= 2 and valid_id(row[1].strip()) and row[0].strip()[:4].isdigit():
            rows.append((row[0].strip(), row[1].strip()))
    return rows

