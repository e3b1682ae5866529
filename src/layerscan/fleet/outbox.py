"""Fleet events into the transactional webhook outbox (delivered by ``fleet.webhooks``).

The re-match and ingest paths call ``image_vulns`` on the images they touch before and after they
change ``package_vuln``, then ``record`` the per-image differences in the same transaction:

    vulnerability.new      an image gained vulnerabilities (a database generation, or a rescan)
    vulnerability.fixed    an image lost vulnerabilities
    kev.added              a vulnerability already affecting an image was added to CISA's KEV catalogue
    policy.failed          an image that passed the fleet policy fails it now (``fleet.policy``)
    scan.completed         an image was stored, with its vulnerability counts
    eol.reached            an image's OS or runtime release reached end of life (``fleet.eol``)

Each event is one outbox row (its ``webhook-id`` and exact body) and one delivery row per enabled
endpoint. Nothing is written while no endpoint is enabled.
"""

from __future__ import annotations

import json
import secrets
import urllib.parse
from collections import Counter
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Sequence

from layerscan.fleet.store import SEVERITIES

if TYPE_CHECKING:
    import psycopg

VULNERABILITY_NEW = "vulnerability.new"
VULNERABILITY_FIXED = "vulnerability.fixed"
SCAN_COMPLETED = "scan.completed"
KEV_ADDED = "kev.added"
POLICY_FAILED = "policy.failed"
MAX_LISTED = 100  # vulnerabilities listed in one event; "count" has them all, "url" the rest


@dataclass(frozen=True)
class ImageVuln:
    id: str
    severity: str
    package: str
    version: str
    fixed_version: str
    layer_index: int | None
    kev: bool = False


ImageVulns = dict[int, dict[str, ImageVuln]]  # image id -> vulnerability id -> one package it is in


def wanted(conn: psycopg.Connection) -> bool:
    """Whether any endpoint would receive an event (else the callers skip the work)."""
    row = conn.execute("SELECT EXISTS (SELECT 1 FROM webhook_endpoints WHERE enabled)").fetchone()
    return bool(row and row[0])


def images_of_packages(conn: psycopg.Connection, package_ids: Sequence[int]) -> list[int]:
    rows = conn.execute("SELECT DISTINCT image_id FROM image_packages WHERE package_id = ANY(%s) ORDER BY 1",
                        (list(package_ids),)).fetchall()
    return [int(r[0]) for r in rows]


def image_vulns(conn: psycopg.Connection, image_ids: Sequence[int]) -> ImageVulns:
    found: ImageVulns = {i: {} for i in image_ids}
    rows = conn.execute(
        "SELECT ip.image_id, pv.vuln_id, pv.severity, p.doc->'package'->>'name', p.version, pv.fixed_version,"
        " ip.layer_index, pv.kev FROM image_packages ip JOIN package_vuln pv USING (package_id)"
        " JOIN packages p ON p.id = ip.package_id WHERE ip.image_id = ANY(%s)"
        " ORDER BY ip.image_id, pv.vuln_id, p.pkey, ip.file_path", (list(image_ids),)).fetchall()
    for image_id, vuln_id, severity, package, version, fixed, layer, kev in rows:
        found[int(image_id)].setdefault(vuln_id, ImageVuln(vuln_id, severity, package or "", version, fixed, layer,
                                                           bool(kev)))
    return found


def _vulnerabilities(vulns: Sequence[ImageVuln]) -> list[dict[str, Any]]:
    return [{**asdict(v), "url": f"/vulnerabilities/{urllib.parse.quote(v.id, safe='')}/images"}
            for v in sorted(vulns, key=lambda v: (SEVERITIES.index(v.severity) if v.severity in SEVERITIES
                                                  else len(SEVERITIES), v.id))[:MAX_LISTED]]


def listing(vulns: Sequence[ImageVuln]) -> dict[str, Any]:
    """An event's vulnerability part: count, by_severity and the first ``MAX_LISTED``, worst first."""
    counts = Counter(v.severity if v.severity in SEVERITIES else "UNKNOWN" for v in vulns)
    return {"count": len(vulns), "by_severity": {sev: counts.get(sev, 0) for sev in SEVERITIES},
            "vulnerabilities": _vulnerabilities(vulns)}


def _image_refs(conn: psycopg.Connection, image_ids: Sequence[int]) -> dict[int, dict[str, Any]]:
    rows = conn.execute("SELECT id, digest, refs FROM images WHERE id = ANY(%s)", (list(image_ids),)).fetchall()
    return {int(i): {"digest": d, "refs": list(refs)} for i, d, refs in rows}


@dataclass(frozen=True)
class Event:
    type: str
    image_id: int
    data: dict[str, Any]


def changes(before: ImageVulns, after: ImageVulns, generation: int) -> list[Event]:
    """vulnerability.new / vulnerability.fixed per image whose vulnerability set changed."""
    events = []
    for image_id in sorted(after.keys() | before.keys()):
        old, new = before.get(image_id, {}), after.get(image_id, {})
        for kind, ids, source in ((VULNERABILITY_NEW, new.keys() - old.keys(), new),
                                  (VULNERABILITY_FIXED, old.keys() - new.keys(), old)):
            if ids:
                events.append(Event(kind, image_id, {"generation": generation,
                                                     **listing([source[i] for i in ids])}))
    return events


def kev_added(after: ImageVulns, listed: dict[int, set[str]], generation: int) -> list[Event]:
    """kev.added per image with vulnerabilities ``listed[image]`` (KEV lists them now; it did not before)."""
    events = []
    for image_id in sorted(after):
        vulns = [v for vid, v in after[image_id].items() if vid in listed.get(image_id, ())]
        if vulns:
            events.append(Event(KEV_ADDED, image_id, {"generation": generation, **listing(vulns)}))
    return events


def scan_completed(image_id: int, vulns: dict[str, ImageVuln], packages: int, generation: int) -> Event:
    return Event(SCAN_COMPLETED, image_id, {"generation": generation, "packages": packages,
                                            **listing(list(vulns.values()))})


def record(conn: psycopg.Connection, events: Sequence[Event]) -> int:
    """Write ``events`` to the outbox (inside the caller's transaction); how many were written."""
    if not events:
        return 0
    images = _image_refs(conn, sorted({e.image_id for e in events}))
    now = datetime.now(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")
    ids, types, image_ids, bodies = [], [], [], []
    for event in events:
        image = images.get(event.image_id, {})
        ids.append("msg_" + secrets.token_hex(12))
        types.append(event.type)
        image_ids.append(event.image_id)
        data = {"image": image, **event.data}
        bodies.append(json.dumps({"type": event.type, "timestamp": now, "data": data}, separators=(",", ":")))
    conn.execute(
        "WITH m AS (INSERT INTO webhook_outbox (msg_id, event_type, image_id, body)"
        "  SELECT * FROM unnest(%s::text[], %s::text[], %s::bigint[], %s::text[]) RETURNING id)"
        " INSERT INTO webhook_deliveries (message_id, endpoint_id)"
        " SELECT m.id, e.id FROM m CROSS JOIN webhook_endpoints e WHERE e.enabled",
        (ids, types, image_ids, bodies))
    return len(events)
