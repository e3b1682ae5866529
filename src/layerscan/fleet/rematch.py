"""Re-match the fleet when the vulnerability database changes.

Each generation stores a content hash per (namespace, name) key of the database's advisory rows
(``db.store.Store.key_digests``). A new database is diffed against the stored hashes; only the
fleet's packages under a changed key are matched again (Ubuntu Pro rows count for the base
release's packages), and the new matches, the new hashes and the generation row are written in
one transaction, with the per-image webhook events (``fleet.outbox``: vulnerability.new/fixed)
of the images holding those packages. The KEV flags of the stored matches are refreshed in the same
transaction (kev.added for the images a newly listed vulnerability already affected), and the
touched images' fleet-policy verdicts (policy.failed, ``fleet.policy``). Work is proportional to
what changed, not to the number of images.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import TYPE_CHECKING, Iterable, Protocol, Sequence

from layerscan.fleet import outbox
from layerscan.fleet import policy as fleet_policy
from layerscan.fleet import store as fleet_store
from layerscan.fleet.ingest import INGEST_LOCK, IngestDb, match_packages
from layerscan.fleet.store import PackageRow
from layerscan.match.ubuntu_pro import pro_namespace

if TYPE_CHECKING:
    import psycopg

Key = tuple[str, str]


class VulnDb(IngestDb, Protocol):  # db.store.Store
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
    kev_added: int = 0  # stored matches the KEV catalogue lists now and did not before


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


def _cve(vuln_id: str, aliases: Sequence[str]) -> str:
    """The CVE a stored match is known by (its id, else its first CVE alias), as the matcher reads KEV."""
    return vuln_id if vuln_id.startswith("CVE-") else next((a for a in aliases if a.startswith("CVE-")), "")


def refresh_kev(conn: psycopg.Connection, vulndb: VulnDb) -> dict[int, set[str]]:
    """Set every stored match's KEV flag from ``vulndb``; the matches newly listed (package id ->
    vulnerability ids). One pass over the fleet's distinct vulnerabilities, not over its images."""
    cves = {vid: _cve(vid, aliases) for vid, aliases in conn.execute(
        "SELECT DISTINCT ON (vuln_id) vuln_id, aliases FROM package_vuln ORDER BY vuln_id")}
    listed = vulndb.kev_many({c for c in cves.values() if c})
    kev_ids = sorted(vid for vid, cve in cves.items() if cve and cve in listed)
    added: dict[int, set[str]] = defaultdict(set)
    for package_id, vuln_id, kev in conn.execute(
            "UPDATE package_vuln SET kev = (vuln_id = ANY(%(k)s)) WHERE kev <> (vuln_id = ANY(%(k)s))"
            " RETURNING package_id, vuln_id, kev", {"k": kev_ids}):
        if kev:
            added[int(package_id)].add(vuln_id)
    return added


def rematch(conn: psycopg.Connection, vulndb: VulnDb) -> RematchResult:
    """Apply the database ``vulndb`` to the fleet; a new generation only when some key changed or the
    KEV catalogue lists a vulnerability the fleet has (kev.added)."""
    digests = _digests(vulndb)
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (INGEST_LOCK,))
        previous = current_generation(conn)
        stored: dict[Key, bytes] = {(ns, n): bytes(h) for ns, n, h in
                                    conn.execute("SELECT namespace, name, hash FROM advisory_keys")}
        changed = {k for k in stored.keys() | digests.keys() if stored.get(k) != digests.get(k)}
        kev_added = refresh_kev(conn, vulndb)  # on the stored rows, before the changed keys replace theirs
        if previous and not changed and not kev_added:
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
        notify, policy = outbox.wanted(conn), fleet_policy.get_policy(conn)
        images = outbox.images_of_packages(conn, [*ids.values(), *kev_added]) if notify or policy else []
        images_before = outbox.image_vulns(conn, images) if notify else {}  # the policy reads neither
        matches, notes = match_packages([row for _, row in packages], vulndb)
        fleet_store.replace_matches(conn, list(ids.values()), matches, ids, generation)
        fleet_store.set_match_notes(conn, {ids[k]: note for k, note in notes.items()})
        images_after = outbox.image_vulns(conn, images) if notify else {}
        flipped = fleet_policy.verdicts(conn, policy, images, generation)
        events = outbox.record(conn, [*outbox.changes(images_before, images_after, generation),
                                      *outbox.kev_added(images_after, _kev_after(images_before, images_after,
                                                                                  kev_added), generation),
                                      *flipped]) if notify else 0
        after = {(m.pkey, m.vuln_id) for m in matches}
        conn.execute("UPDATE generations SET keys_changed = %s, packages = %s WHERE id = %s",
                     (len(changed), len(packages), generation))
    return RematchResult(generation, len(changed), len(packages), frozenset(after - before),
                         frozenset(before - after), events, sum(map(len, kev_added.values())))


def _kev_after(before: outbox.ImageVulns, after: outbox.ImageVulns,
               kev_added: dict[int, set[str]]) -> dict[int, set[str]]:
    """Per image, the vulnerabilities KEV lists now that affected it before and still do (a vulnerability
    new to the image is in its vulnerability.new event, with ``kev`` set)."""
    listed = set().union(*kev_added.values()) if kev_added else set()
    return {image: {vid for vid in vulns.keys() & before.get(image, {}).keys() if vid in listed and vulns[vid].kev}
            for image, vulns in after.items()}
