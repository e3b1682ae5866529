"""Building the base-image index (``layerscan index add|update``) from registries.

For every repository: list the tags (``/tags/list`` with ``Link`` pagination, bounded), HEAD
each tag for the digest it points at, and GET only digests the index does not know yet: the
manifest (or index, then each platform's manifest) and the image config, whose diff_ids give
the chain ID of the whole stack (``source.chainid``). Layer blobs are never read. A digest the
index has seen under the same tag only moves ``last_seen``; a tag now pointing elsewhere keeps
its old rows with ``current`` false, which is how a base matched on an old digest is told
"tag has moved".

The rows are written through the database build (``db.build``) as a JSON-lines dump
(``db.feeds.baseindex``), one source key per repository, so the rest of the file is kept and
an interrupted run leaves the previous file intact.
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable, Iterable, Sequence

from layerscan.cachedir import private_dir
from layerscan.db import schema
from layerscan.db.build import BuildInput, BuildResult, build_database, utc_now
from layerscan.db.feeds.baseindex import canonical_repo, dump
from layerscan.db.records import IndexEntry
from layerscan.errors import DatabaseError, ImageError, UsageError
from layerscan.source.base import SourceOptions, load_json_document
from layerscan.source.chainid import chain_ids
from layerscan.source.manifest import (INDEX_TYPES, MAX_CONFIG_BYTES, check_digest,
                                       parse_image_manifest, parse_index)
from layerscan.source.registry.client import RegistryClient
from layerscan.source.registry.reference import ImageReference, familiar_repository, parse_reference

MAX_TAG_PAGES = 50  # a registry that paginates forever is cut off here, with a warning
MAX_PLATFORMS = 64  # image manifests read from one index
MAX_TAGS = 10_000  # tags HEADed per repository


@dataclass
class RepoRun:
    """What one repository's indexing did (for the command's report and the tests)."""

    repo: str
    tags: int = 0
    heads: int = 0
    manifest_gets: int = 0
    config_gets: int = 0
    new_digests: int = 0
    moved: list[str] = field(default_factory=list)  # tags now pointing at another digest
    skipped_tags: list[str] = field(default_factory=list)  # tags that do not parse or could not be read
    entries: list[IndexEntry] = field(default_factory=list)


@dataclass(frozen=True)
class IndexRun:
    repos: tuple[RepoRun, ...]
    build: BuildResult


@dataclass(frozen=True)
class _Target:
    ref: ImageReference
    repo: str  # familiar name, as stored
    tag: str  # "" = every tag


def parse_target(text: str) -> _Target:
    """``REPO`` (every tag) or ``REPO:TAG`` (that tag only); a digest is refused."""
    if "@" in text:
        raise UsageError(f"index add {text}: give a repository or repository:tag, not a digest")
    try:
        ref = parse_reference(text)
    except ImageError as exc:
        raise UsageError(f"index add: {exc}") from None
    explicit = ":" in text.strip().rsplit("/", 1)[-1]
    return _Target(ref, familiar_repository(ref), ref.tag if explicit else "")


FRESHNESS_KEYS = ("built_at", "next_update")  # the advisory data's age: an index run does not refresh it


def _previous(db: Path) -> tuple[list[IndexEntry], dict[str, str]]:
    """The index rows and the freshness metadata of the current file."""
    from layerscan.db.store import Store

    if not db.is_file():
        return [], {}
    try:
        with Store.open(db) as store:
            meta = store.metadata()
            return store.index_entries(), {k: str(meta[k]) for k in FRESHNESS_KEYS if meta.get(k)}
    except DatabaseError:
        return [], {}  # an old or unreadable file has no index; the build says what it reuses


def _platform(descriptor_platform: object, config: dict) -> str:
    text = str(descriptor_platform) if descriptor_platform else ""
    if text:
        return text
    parts = [str(config.get(k) or "") for k in ("os", "architecture", "variant")]
    return "/".join(p for p in parts if p) or "unknown"


class _Crawler:
    def __init__(self, client: RegistryClient, target: _Target, run: RepoRun, now: str) -> None:
        self.client, self.target, self.run, self.now = client, target, run, now
        self.path = target.ref.repository

    def images(self, digest: str, tag: str) -> list[IndexEntry]:
        """Every platform image under ``digest`` (manifest GETs and config GETs only)."""
        fetched = self.client.get_manifest(self.path, digest)
        self.run.manifest_gets += 1
        manifests: list[tuple[str, object, dict]] = []  # (manifest digest, platform, doc)
        if fetched.media_type in INDEX_TYPES:
            what = f"{self.target.repo}@{digest}"
            entries = [e for e in parse_index(fetched.doc, what)
                       if not (e.platform and e.platform.os == "unknown")][:MAX_PLATFORMS]  # no attestations
            for entry in entries:
                inner = self.client.get_manifest(self.path, entry.digest)
                self.run.manifest_gets += 1
                if inner.media_type in INDEX_TYPES:
                    continue  # nested indexes are not base images
                manifests.append((inner.digest, entry.platform, inner.doc))
        else:
            manifests.append((fetched.digest, None, fetched.doc))
        out = []
        for manifest_digest, platform, doc in manifests:
            what = f"{self.target.repo}@{manifest_digest}"
            manifest = parse_image_manifest(doc, manifest_digest, str(doc.get("mediaType") or ""), what)
            raw = self.client.fetch_blob(self.path, manifest.config.digest, MAX_CONFIG_BYTES, f"config of {what}")
            self.run.config_gets += 1
            config = load_json_document(raw, f"config of {what}")
            rootfs = config.get("rootfs")
            diff_ids = rootfs.get("diff_ids") if isinstance(rootfs, dict) else None
            if not isinstance(diff_ids, list) or not diff_ids:
                raise ImageError(f"config of {what} has no rootfs.diff_ids")
            chain = chain_ids(check_digest(d, f"config of {what} diff_id") for d in diff_ids)
            out.append(IndexEntry(chain[-1], len(chain), self.target.repo, tag, digest, manifest_digest,
                                  _platform(platform, config), self.now, self.now, True))
        return out


def _index_repo(target: _Target, previous: list[IndexEntry], options: SourceOptions,
                warn: Callable[[str], None], now: str) -> RepoRun:
    run = RepoRun(target.repo)
    client = RegistryClient(target.ref.registry, options)
    crawler = _Crawler(client, target, run, now)
    old = [e for e in previous if e.repo == target.repo]
    by_digest: dict[str, list[IndexEntry]] = {}
    for e in old:
        by_digest.setdefault(e.digest, []).append(e)
    tags = [target.tag] if target.tag else client.list_tags(target.ref.repository, MAX_TAG_PAGES, warn=warn)
    if len(tags) > MAX_TAGS:
        warn(f"{target.repo}: {len(tags)} tags; only the first {MAX_TAGS} are indexed")
        tags = tags[:MAX_TAGS]
    run.tags = len(tags)
    listed: set[str] = set()
    for tag in tags:
        if not canonical_repo(target.repo, tag):
            run.skipped_tags.append(tag[:130])
            warn(f"{target.repo}: tag {tag[:130]!r} is not a valid tag: skipped")
            continue
        listed.add(tag)
        try:
            digest = client.head_manifest(target.ref.repository, tag)
            run.heads += 1
            if not digest:
                digest = client.get_manifest(target.ref.repository, tag).digest
                run.manifest_gets += 1
            run.entries += _tag_entries(crawler, old, by_digest, tag, digest, now)
        except ImageError as exc:
            run.skipped_tags.append(tag)
            warn(f"{target.repo}:{tag}: not indexed: {exc}")
            run.entries += [e for e in old if e.tag == tag]  # what we knew stays
    if not target.tag:  # a full listing: tags gone from the registry are no longer current
        run.entries += [replace(e, current=False) for e in old if e.tag not in listed]
    before = {e.tag: e.digest for e in old if e.current}
    run.moved = sorted(t for t, d in before.items() if t in listed and any(
        e.tag == t and e.current and e.digest != d for e in run.entries))
    return run


def _tag_entries(crawler: _Crawler, old: list[IndexEntry], by_digest: dict[str, list[IndexEntry]],
                 tag: str, digest: str, now: str) -> list[IndexEntry]:
    """The tag's rows after this run: its old digests (no longer current) and the one it points at."""
    mine = [e for e in old if e.tag == tag]
    out = [replace(e, current=False) for e in mine if e.digest != digest]
    same = [e for e in mine if e.digest == digest]
    if same:
        return out + [replace(e, last_seen=now, current=True) for e in same]
    elsewhere = by_digest.get(digest)
    if elsewhere:  # the digest is known under another tag: no GET
        seen = {e.platform: e for e in elsewhere}
        return out + [replace(e, tag=tag, first_seen=now, last_seen=now, current=True) for e in seen.values()]
    crawler.run.new_digests += 1
    fresh = crawler.images(digest, tag)
    by_digest[digest] = fresh
    return out + fresh


def index_repositories(db: Path, names: Sequence[str], options: SourceOptions,
                       warn: Callable[[str], None], now: str = "") -> IndexRun:
    """Index ``names`` (``REPO`` or ``REPO:TAG``) into the database file ``db``."""
    targets = [parse_target(n) for n in names]
    previous, freshness = _previous(db)
    stamp = now or utc_now()
    runs = [_index_repo(target, previous, options, warn, stamp) for target in targets]
    if "next_update" not in freshness and not db.is_file():
        freshness["next_update"] = stamp  # no advisories yet: the next scan downloads them, as without the index
    return IndexRun(tuple(runs), _write(db, runs, previous, freshness))


def indexed_repositories(db: Path) -> list[str]:
    """Every repository the index has (``index update`` re-reads them all)."""
    return sorted({e.repo for e in _previous(db)[0]})


def _write(db: Path, runs: Iterable[RepoRun], previous: list[IndexEntry], freshness: dict[str, str]
           ) -> BuildResult:
    runs = list(runs)
    repos = {r.repo for r in runs}
    merged: dict[tuple[str, str, str, str], IndexEntry] = {}  # a single-tag run keeps the other tags
    for e in [*previous, *(e for r in runs for e in r.entries)]:
        if e.repo in repos:
            merged[(e.repo, e.tag, e.digest, e.platform)] = e
    private_dir(db.parent)
    with tempfile.TemporaryDirectory(dir=db.parent, prefix=".index-") as tmp:
        path = Path(tmp) / "base-index.jsonl"
        path.write_text(dump(sorted(merged.values(), key=lambda e: (e.repo, e.tag, e.first_seen, e.platform))))
        covers = tuple(schema.INDEX_SOURCE_PREFIX + r for r in sorted(repos))
        return build_database(db, [BuildInput((path,), feed="base-index", covers=covers)], metadata=freshness)


def entries_json(entries: Iterable[IndexEntry]) -> list[dict]:
    return [json.loads(line) for line in dump(entries).splitlines()]
