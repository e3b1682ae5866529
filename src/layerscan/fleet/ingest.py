"""An SBOM into the fleet store: the image, its packages (stored once fleet-wide), the layer each
came from, and matches for the packages the fleet had not seen before (``match.matcher`` on the
distinct packages only; the vulnerability database is the SQLite store), and the image's webhook
events in the same transaction (``fleet.outbox``: scan.completed; vulnerability.new/fixed when a
stored digest is scanned again and its findings changed; policy.failed when that flips its verdict
under the fleet policy, ``fleet.policy``); what of its OS and runtimes had already reached end of
life is recorded as its baseline (``fleet.eol``, no events)."""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, Sequence

from layerscan.fleet import eol as fleet_eol
from layerscan.fleet import outbox
from layerscan.fleet import policy as fleet_policy
from layerscan.fleet import store as fleet_store
from layerscan.fleet.store import ImagePackage, MatchRow, PackageRow
from layerscan.match.lifecycle import EolLookup
from layerscan.match.matcher import StoreLike, match_sbom
from layerscan.match.namespace import lookup_name, package_namespace
from layerscan.model import OSInfo, Package, Sbom
from layerscan.model.package import OS_TYPES
from layerscan.walk.serialize import leaf_from_json, leaf_to_json

if TYPE_CHECKING:
    import psycopg

INGEST_LOCK = 0x6C617374  # shared by ingests, exclusive for a re-match (fleet.rematch)


class IngestDb(StoreLike, EolLookup, Protocol):  # db.store.Store: advisories and endoflife.date cycles
    pass


@dataclass(frozen=True)
class IngestResult:
    digest: str
    image_id: int
    packages: int  # distinct (package, file) rows of the image
    new_packages: int  # packages the fleet had not stored before (the only ones matched)
    matches: int  # package_vuln rows added for them
    events: int = 0  # webhook events written to the outbox


def image_digest(sbom: Sbom) -> str:
    """The manifest digest (from a repo digest), else the config digest, else a hash of the name."""
    meta = sbom.image
    if meta:
        for repo_digest in meta.repo_digests:
            if "@" in repo_digest:
                return repo_digest.rsplit("@", 1)[1]
        if meta.image_id:
            return meta.image_id
    return "sha256:" + hashlib.sha256(sbom.artifact_name.encode()).hexdigest()


def package_row(pkg: Package, os_info: OSInfo | None) -> PackageRow:
    from layerscan.db.namespaces import name_key

    namespace = package_namespace(pkg, os_info)
    name = name_key(namespace, lookup_name(pkg, namespace)) if namespace else pkg.name
    ident = pkg.purl or f"{pkg.type}/{pkg.name}@{pkg.version}"
    pkey = "|".join((namespace, ident, pkg.src_name, pkg.src_version, "m" if pkg.matchable else "-"))
    own_os = os_info if os_info and pkg.type in OS_TYPES else None
    doc: dict[str, Any] = {"package": leaf_to_json(pkg), "os": leaf_to_json(own_os) if own_os else None}
    return PackageRow(pkey, pkg.purl, pkg.type, namespace, name, pkg.version, doc)


def match_packages(rows: Sequence[PackageRow], vulndb: StoreLike) -> tuple[list[MatchRow], dict[str, str]]:
    """Matches of the distinct packages ``rows`` and, per pkey, why one could not be matched."""
    by_os: dict[str, list[PackageRow]] = defaultdict(list)
    for row in rows:
        by_os[json.dumps(row.doc.get("os"), sort_keys=True)].append(row)
    matches: list[MatchRow] = []
    notes: dict[str, str] = {}
    for os_json, group in by_os.items():
        os_doc = json.loads(os_json)
        os_info = leaf_from_json(OSInfo, os_doc) if os_doc else None
        pkgs = [leaf_from_json(Package, row.doc["package"]) for row in group]
        pkey_of = {id(pkg): row.pkey for pkg, row in zip(pkgs, group)}
        by_ident = {pkg.file_path or pkg.id: row.pkey for pkg, row in zip(pkgs, group)}
        result = match_sbom(Sbom("fleet", "sbom", os=os_info, packages=tuple(pkgs)), vulndb)
        for finding in result.findings:
            matches.append(MatchRow(pkey_of[id(finding.package)], finding.vulnerability_id, finding.aliases,
                                    finding.status, finding.fixed_version, finding.severity,
                                    finding.match.advisory_id, finding.kev))
        for unknown in result.unknowns:
            if unknown.path in by_ident:
                notes[by_ident[unknown.path]] = unknown.reason
    return matches, notes


def ingest_sbom(conn: psycopg.Connection, sbom: Sbom, ref: str, vulndb: IngestDb, generation: int,
                digest: str = "") -> IngestResult:
    """Store ``sbom`` as the image ``ref`` in one transaction; ``generation`` is the fleet's current
    database generation (``fleet.rematch.ensure_generation``); ``digest`` the key to store it under
    (default: ``image_digest``)."""
    digest = digest or image_digest(sbom)
    os_name = f"{sbom.os.family} {sbom.os.name}" if sbom.os else ""
    layers = [{"index": layer.index, "diff_id": layer.diff_id, "created_by": layer.created_by}
              for layer in (sbom.image.layers if sbom.image else ())]
    rows: dict[str, PackageRow] = {}
    members: list[ImagePackage] = []
    for pkg in sbom.packages:
        row = package_row(pkg, sbom.os)
        rows.setdefault(row.pkey, row)
        members.append(ImagePackage(row.pkey, pkg.file_path, pkg.layer.index if pkg.layer else None))
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock_shared(%s)", (INGEST_LOCK,))
        notify = outbox.wanted(conn)
        policy = fleet_policy.get_policy(conn)
        known = fleet_store.image_digest(conn, digest) == digest
        image_id = fleet_store.upsert_image(conn, digest, ref, os_name, layers)
        before = outbox.image_vulns(conn, [image_id]) if notify and known else {}
        ids, new = fleet_store.upsert_packages(conn, list(rows.values()))
        count = fleet_store.set_image_packages(conn, image_id, members, ids)
        matches, notes = match_packages([rows[k] for k in sorted(new)], vulndb)
        fleet_store.replace_matches(conn, [ids[k] for k in new], matches, ids, generation)
        fleet_store.set_match_notes(conn, {ids[k]: note for k, note in notes.items()})
        flipped = fleet_policy.verdicts(conn, policy, [image_id], generation)
        fleet_eol.check(conn, vulndb, images=[image_id], silent=True)  # its baseline: no eol.reached
        events = 0
        if notify:
            after = outbox.image_vulns(conn, [image_id])
            events = outbox.record(conn, [*(outbox.changes(before, after, generation) if known else []),
                                          *flipped,
                                          outbox.scan_completed(image_id, after[image_id], count, generation)])
    return IngestResult(digest, image_id, count, len(new), len(matches), events)
