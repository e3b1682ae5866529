"""Re-match the fleet when the vulnerability database changes.

Each generation stores a content hash per (namespace, name) key of the database's advisory rows
(``db.store.Store.key_digests``). A new database is diffed against the stored hashes; only the
fleet's packages under a changed key are matched again (Ubuntu Pro rows count for the base
release's packages), and the new matches, the new hashes and the generation row are written in
one transaction, with the per-image webhook events (``fleet.outbox``: vulnerability.new/fixed)
of the images holding those packages. Work is proportional to what changed, not to the number of
images.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Iterable, Protocol

from layerscan.fleet import outbox
from layerscan.fleet import store as fleet_store
from layerscan.fleet.ingest import INGEST_LOCK, match_packages
from layerscan.fleet.store import PackageRow
from layerscan.match.matcher import StoreLike
from layerscan.match.ubuntu_pro import pro_namespace

if TYPE_CHECKING:
    import psycopg

Key = tuple[str, str]


class VulnDb(StoreLike, Protocol):  # db.store.Store
    def key_digests(self) -> Iterable[tuple[str, str, bytes]]: ...
    def metadata(self) -> dict: ...


@dataclass(frozen=True)
class RematchResult:
    generation: int
    keys_changed: int
    packages: int  # distinct packages matched again
    added: frozenset[tuple[str, str]]  # (package pkey, vulnerability id) pairs gained
    removed: frozenset[tuple[str, str]]  # and lost
    events: int = 0  # webhook events written to the outbox


def current_generation(conn: psycopg.Connection) -> int:
    row = conn.execute("SELECT coalesce(max(id), 0) FROM generations").fetchone()
    return int(row[0]) if row else 0


def _digests(vulndb: VulnDb) -> dict[Key, bytes]:
    return {(ns, name): digest for ns, name, digest in vulndb.key_digests()}


def _new_generation(conn: psycopg.Connection, vulndb: VulnDb) -> int:
    row = conn.execute("INSERT INTO generations (built_at) VALUES (%s) RETURNING id",
                       (str(vulndb.metadata().get("built_at", "")),)).fetchone()
    assert row is not None
    return int(row[0])


def _store_digests(conn: psycopg.Connection, digests: dict[Key, bytes], generation: int) -> None:
    if not digests:
        return
    keys = list(digests)
    conn.execute(
        "INSERT INTO advisory_keys (namespace, name, hash, generation)"
        " SELECT ns, n, h, %s FROM unnest(%s::text[], %s::text[], %s::bytea[]) AS x(ns, n, h)"
        " ON CONFLICT (namespace, name) DO UPDATE SET hash = EXCLUDED.hash, generation = EXCLUDED.generation",
        (generation, [k[0] for k in keys], [k[1] for k in keys], [digests[k] for k in keys]))


def ensure_generation(conn: psycopg.Connection, vulndb: VulnDb) -> int:
    """The current generation; the first one (every key's hash) when the fleet has none yet."""
    generation = current_generation(conn)
    if generation:
        return generation
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (INGEST_LOCK,))
        generation = current_generation(conn)
        if not generation:
            generation = _new_generation(conn, vulndb)
            _store_digests(conn, _digests(vulndb), generation)
    return generation


def _affected_packages(conn: psycopg.Connection, changed: set[Key]) -> list[tuple[int, PackageRow]]:
    wanted = set(changed)
    for (namespace,) in conn.execute("SELECT DISTINCT namespace FROM packages"):
        pro = pro_namespace(namespace)
        if pro:
            wanted |= {(namespace, name) for ns, name in changed if ns == pro}
    if not wanted:
        return []
    keys = sorted(wanted)
    rows = conn.execute(
        "SELECT p.id, p.pkey, p.purl, p.type, p.namespace, p.name, p.version, p.doc FROM packages p"
        " JOIN unnest(%s::text[], %s::text[]) AS k(ns, n) ON p.namespace = k.ns AND p.name = k.n",
        ([k[0] for k in keys], [k[1] for k in keys])).fetchall()
    return [(int(r[0]), PackageRow(*r[1:])) for r in rows]


def _pairs(conn: psycopg.Connection, ids: list[int]) -> set[tuple[str, str]]:
    return {(pkey, vid) for pkey, vid in conn.execute(
        "SELECT p.pkey, pv.vuln_id FROM package_vuln pv JOIN packages p ON p.id = pv.package_id"
        " WHERE pv.package_id = ANY(%s)", (ids,))}


def rematch(conn: psycopg.Connection, vulndb: VulnDb) -> RematchResult:
    """Apply the database ``vulndb`` to the fleet; a new generation only when some key changed."""
    digests = _digests(vulndb)
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (INGEST_LOCK,))
        previous = current_generation(conn)
        stored: dict[Key, bytes] = {(ns, n): bytes(h) for ns, n, h in
                                    conn.execute("SELECT namespace, name, hash FROM advisory_keys")}
        changed = {k for k in stored.keys() | digests.keys() if stored.get(k) != digests.get(k)}
        if previous and not changed:
            return RematchResult(previous, 0, 0, frozenset(), frozenset())
        generation = _new_generation(conn, vulndb)
        gone = sorted(k for k in changed if k not in digests)
        if gone:
            conn.execute("DELETE FROM advisory_keys k USING unnest(%s::text[], %s::text[]) AS g(ns, n)"
                         " WHERE k.namespace = g.ns AND k.name = g.n", ([k[0] for k in gone], [k[1] for k in gone]))
        _store_digests(conn, {k: digests[k] for k in changed if k in digests}, generation)
        packages = _affected_packages(conn, changed)
        ids = {row.pkey: pid for pid, row in packages}
        before = _pairs(conn, list(ids.values()))
        images = outbox.images_of_packages(conn, list(ids.values())) if outbox.wanted(conn) else []
        images_before = outbox.image_vulns(conn, images)
        matches, notes = match_packages([row for _, row in packages], vulndb)
        fleet_store.replace_matches(conn, list(ids.values()), matches, ids, generation)
        fleet_store.set_match_notes(conn, {ids[k]: note for k, note in notes.items()})
        events = outbox.record(conn, outbox.changes(images_before, outbox.image_vulns(conn, images), generation))
        after = {(m.pkey, m.vuln_id) for m in matches}
        conn.execute("UPDATE generations SET keys_changed = %s, packages = %s WHERE id = %s",
                     (len(changed), len(packages), generation))
    return RematchResult(generation, len(changed), len(packages), frozenset(after - before),
                         frozenset(before - after), events)
