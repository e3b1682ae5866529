"""Registry watching: repositories whose tags matching a glob are polled, and new digests scanned.

A poll lists the repository's tags (``/tags/list`` with ``Link`` pagination, bounded as the
base-image index bounds it) and HEADs each matching tag for its ``Docker-Content-Digest``. A
(repository, tag, digest) seen before only moves ``last_seen`` in ``tag_digest``: an unchanged tag
costs one HEAD and no GET. A new one (a new tag, or a tag moved to another digest) is queued as
``repository:tag@digest`` (the scan reads exactly the digest the HEAD saw, and the stored image
records tag and digest); when that digest is stored already, the image only gains the reference.
Registry errors are recorded on the watch row (``last_error``), never raised.

No registry credentials are stored: polls and scans authenticate as the worker does (its
``--username``/``--password`` flags or docker config).
"""

from __future__ import annotations

import fnmatch
import logging
import re
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Callable

from layerscan.errors import ImageError, LayerscanError, RegistryError
from layerscan.fleet import store as fleet_store
from layerscan.source.base import SourceOptions
from layerscan.source.registry.reference import parse_reference

if TYPE_CHECKING:
    import psycopg

log = logging.getLogger(__name__)
DEFAULT_INTERVAL = 300  # seconds between periodic polls of one watch
MAX_INTERVAL = 7 * 24 * 3600
MAX_ERROR = 500  # characters of a registry error kept on the watch row
_PATTERN = re.compile(r"^[\w.*?\[\]!-]{1,128}$")  # tag characters plus the glob's * ? [ ] !
_COLUMNS = "id, repository, tag_pattern, insecure, interval_s, created_at, last_polled, last_error"

# enqueue(ref, insecure) -> True when a scan was queued, False when one was waiting already
Enqueue = Callable[[str, bool], bool]


class WatchError(ValueError):
    """A watch that cannot be added (bad repository, pattern or interval)."""


@dataclass(frozen=True)
class Watch:
    id: int
    repository: str  # registry/repository
    tags: str  # the glob over tags
    insecure: bool
    interval: int  # seconds
    created_at: str
    last_polled: str | None
    last_error: str


@dataclass(frozen=True)
class PollResult:
    watch: int
    repository: str
    tags: int = 0  # tags listed
    matched: int = 0  # of them, matching the pattern
    heads: int = 0
    unchanged: int = 0  # tags still at a digest seen before
    queued: tuple[str, ...] = ()  # repository:tag@digest scans queued
    known: tuple[str, ...] = ()  # new tag -> digest whose image was stored already: reference added
    error: str = ""


def watch_repository(text: str) -> str:
    """``registry/repository`` as stored; WatchError for a tag, a digest or an invalid name."""
    name = text.strip()
    if "@" in name or ":" in name.rsplit("/", 1)[-1]:
        raise WatchError(f"{text[:100]!r}: give a repository without a tag or digest (the tags come from --tags)")
    try:
        ref = parse_reference(name)
    except ImageError as exc:
        raise WatchError(str(exc)) from None
    return f"{ref.registry}/{ref.repository}"


def check_pattern(pattern: str) -> str:
    if not _PATTERN.match(pattern):
        raise WatchError(f"tag pattern {pattern[:100]!r}: 1 to 128 tag characters (letters, digits, . _ -) "
                         "and the glob's * ? [ ] !")
    return pattern


def _valid_tag(repository: str, tag: str) -> bool:
    try:
        ref = parse_reference(f"{repository}:{tag}")
    except ImageError:
        return False
    return ref.tag == tag and f"{ref.registry}/{ref.repository}" == repository


def _watch(row: Any) -> Watch:
    wid, repository, pattern, insecure, interval, created, polled, error = row
    return Watch(int(wid), repository, pattern, bool(insecure), int(interval), created.isoformat(),
                 polled.isoformat() if polled else None, error)


def add_watch(conn: psycopg.Connection, repository: str, tags: str = "*", insecure: bool = False,
              interval: int = DEFAULT_INTERVAL) -> tuple[Watch, bool]:
    """(the watch, whether it was added: False when this repository and pattern were watched already)."""
    repo, pattern = watch_repository(repository), check_pattern(tags)
    if not 0 < interval <= MAX_INTERVAL:
        raise WatchError(f"interval must be between 1 and {MAX_INTERVAL} seconds")
    row = conn.execute(f"INSERT INTO watch (repository, tag_pattern, insecure, interval_s) VALUES (%s, %s, %s, %s)"
                       f" ON CONFLICT (repository, tag_pattern) DO NOTHING RETURNING {_COLUMNS}",
                       (repo, pattern, insecure, interval)).fetchone()
    if row:
        return _watch(row), True
    row = conn.execute(f"SELECT {_COLUMNS} FROM watch WHERE repository = %s AND tag_pattern = %s",
                       (repo, pattern)).fetchone()
    assert row is not None
    return _watch(row), False


def list_watches(conn: psycopg.Connection) -> list[Watch]:
    return [_watch(row) for row in conn.execute(f"SELECT {_COLUMNS} FROM watch ORDER BY id")]


def remove_watches(conn: psycopg.Connection, id_or_repository: str) -> int:
    """Remove a watch by id, or every watch of a repository; how many were removed."""
    if id_or_repository.isdigit():
        cur = conn.execute("DELETE FROM watch WHERE id = %s", (int(id_or_repository),))
    else:
        cur = conn.execute("DELETE FROM watch WHERE repository = %s", (watch_repository(id_or_repository),))
    return cur.rowcount


def _record(conn: psycopg.Connection, result: PollResult) -> PollResult:
    conn.execute("UPDATE watch SET last_polled = now(), last_error = %s WHERE id = %s",
                 (result.error[:MAX_ERROR], result.watch))
    return result


def _see(conn: psycopg.Connection, repository: str, tag: str, digest: str) -> bool:
    """Record that ``tag`` points at ``digest``; True when this (repository, tag, digest) is new."""
    row = conn.execute("INSERT INTO tag_digest (repository, tag, digest) VALUES (%s, %s, %s)"
                       " ON CONFLICT (repository, tag, digest) DO UPDATE SET last_seen = now()"
                       " RETURNING first_seen = last_seen", (repository, tag, digest)).fetchone()
    return bool(row and row[0])


def poll_watch(conn: psycopg.Connection, watch: Watch, options: SourceOptions, enqueue: Enqueue) -> PollResult:
    """Poll one watch (the caller holds its row and owns the transaction)."""
    from layerscan.db.baseindex import MAX_TAG_PAGES, MAX_TAGS  # the index's bounds on a tag listing
    from layerscan.source.registry.client import RegistryClient

    registry, _, path = watch.repository.partition("/")
    result = PollResult(watch.id, watch.repository)
    errors: list[str] = []
    client = RegistryClient(registry, replace(options, insecure=options.insecure or watch.insecure))
    try:
        tags = client.list_tags(path, MAX_TAG_PAGES, warn=errors.append)
        matched = [t for t in tags if fnmatch.fnmatchcase(t, watch.tags)][:MAX_TAGS]
        if len(matched) == MAX_TAGS:
            errors.append(f"more than {MAX_TAGS} matching tags: only the first {MAX_TAGS} are polled")
        result = replace(result, tags=len(tags), matched=len(matched))
        for tag in matched:
            if not _valid_tag(watch.repository, tag):  # a hostile listing: never put it in a URL
                errors.append(f"{watch.repository}: tag {tag[:130]!r} is not a valid tag: skipped")
                continue
            try:
                digest = client.head_manifest(path, tag)
            except RegistryError:  # unreachable, refused, or a server error: the whole poll stops here
                raise
            except ImageError as exc:  # a tag gone since the listing: the other tags still count
                errors.append(str(exc))
                continue
            result = replace(result, heads=result.heads + 1)
            if not digest:
                errors.append(f"{watch.repository}:{tag}: the registry sent no Docker-Content-Digest")
                continue
            result = _new_digest(conn, result, tag, digest, watch.insecure, enqueue)
    except LayerscanError as exc:
        errors.append(str(exc))
    finally:
        client.close()
    return _record(conn, replace(result, error="; ".join(errors)))


def _new_digest(conn: psycopg.Connection, result: PollResult, tag: str, digest: str, insecure: bool,
                enqueue: Enqueue) -> PollResult:
    if not _see(conn, result.repository, tag, digest):
        return replace(result, unchanged=result.unchanged + 1)
    ref = f"{result.repository}:{tag}@{digest}"
    if fleet_store.image_digest(conn, digest):
        fleet_store.add_image_ref(conn, digest, ref)
        return replace(result, known=result.known + (ref,))
    enqueue(ref, insecure)  # False: one is waiting already (the queueing lock); either way it is scanned
    return replace(result, queued=result.queued + (ref,))


def poll(conn: psycopg.Connection, options: SourceOptions, enqueue: Enqueue, *,
         only_due: bool = True) -> list[PollResult]:
    """Poll the watches (``only_due``: those whose interval has passed since the last poll, or since
    the watch was added), each in its own transaction; a watch another poller holds is skipped.
    ``conn`` is an autocommit connection."""
    due = " AND coalesce(last_polled, created_at) + make_interval(secs => interval_s) <= now()" if only_due else ""
    results = []
    for (watch_id,) in conn.execute("SELECT id FROM watch ORDER BY id").fetchall():
        with conn.transaction():
            row = conn.execute(f"SELECT {_COLUMNS} FROM watch WHERE id = %s{due} FOR UPDATE SKIP LOCKED",
                               (watch_id,)).fetchone()
            if row:
                results.append(poll_watch(conn, _watch(row), options, enqueue))
    for done in results:
        if done.error:
            log.warning("watch %d %s: %s", done.watch, done.repository, done.error)
        log.info("watch %d %s: %d of %d tags match, %d HEADs, %d unchanged, %d scans queued, %d known digests",
                 done.watch, done.repository, done.matched, done.tags, done.heads, done.unchanged, len(done.queued),
                 len(done.known))
    return results
