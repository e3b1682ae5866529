"""The fleet's PostgreSQL store (schema: fleet/schema/*.sql, applied by fleet.migrate).

An image is a set of (package, file, layer index) rows; a package is stored once fleet-wide under
its dedup key (advisory namespace + purl); matches are stored per package (``package_vuln``), so a
question about a vulnerability is one join and never a rescan. Every function takes an open psycopg
connection; the caller owns the transaction.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Iterable, Sequence

if TYPE_CHECKING:
    import psycopg

MAX_PAGE = 1000
SEVERITIES = ("CRITICAL", "HIGH", "MEDIUM", "LOW", "UNKNOWN")


@dataclass(frozen=True)
class PackageRow:
    pkey: str
    purl: str
    type: str
    namespace: str
    name: str  # the advisory name key in ``namespace``
    version: str
    doc: dict[str, Any]  # what the matcher needs again: {"package": leaf JSON, "os": leaf JSON | None}


@dataclass(frozen=True)
class ImagePackage:
    pkey: str
    file_path: str
    layer_index: int | None


@dataclass(frozen=True)
class MatchRow:
    pkey: str
    vuln_id: str
    aliases: tuple[str, ...]
    status: str
    fixed_version: str
    severity: str
    advisory_id: str
    kev: bool = False  # the vulnerability's CVE is in CISA's Known Exploited Vulnerabilities catalogue


@dataclass(frozen=True)
class ImageSummary:
    digest: str
    refs: tuple[str, ...]
    os: str
    packages: int
    vulnerabilities: int
    scanned_at: str


@dataclass(frozen=True)
class AffectedImage:
    digest: str
    refs: tuple[str, ...]
    vuln_id: str
    purl: str
    package: str
    version: str
    file_path: str
    layer_index: int | None
    created_by: str
    fixed_version: str
    status: str
    severity: str


@dataclass(frozen=True)
class PackageImage:
    digest: str
    refs: tuple[str, ...]
    purl: str
    file_path: str
    layer_index: int | None
    created_by: str


@dataclass(frozen=True)
class Page:
    total: int  # every matching row, not just this page
    items: tuple[Any, ...]
    limit: int
    offset: int


# ---- writing ----------------------------------------------------------------------------

def upsert_image(conn: psycopg.Connection, digest: str, ref: str, os_name: str,
                 layers: Sequence[dict[str, Any]]) -> int:
    """The image's id; a known digest gains ``ref`` and its scan facts are refreshed."""
    row = conn.execute(
        "INSERT INTO images (digest, refs, os, layers) VALUES (%s, %s, %s, %s::jsonb)"
        " ON CONFLICT (digest) DO UPDATE SET refs = (SELECT array_agg(DISTINCT r ORDER BY r)"
        "   FROM unnest(images.refs || EXCLUDED.refs) AS r), os = EXCLUDED.os, layers = EXCLUDED.layers,"
        "   scanned_at = now() RETURNING id",
        (digest, [ref] if ref else [], os_name, json.dumps(list(layers)))).fetchone()
    assert row is not None
    return int(row[0])


def add_image_ref(conn: psycopg.Connection, digest: str, ref: str) -> None:
    """A stored image gains a reference it was seen under (a watched tag now pointing at it)."""
    conn.execute("UPDATE images SET refs = (SELECT array_agg(DISTINCT r ORDER BY r) FROM unnest(refs || %s) AS r)"
                 " WHERE digest = %s", ([ref], digest))


def upsert_packages(conn: psycopg.Connection, rows: Sequence[PackageRow]) -> tuple[dict[str, int], set[str]]:
    """(pkey -> id for every row, the pkeys that were new to the fleet)."""
    if not rows:
        return {}, set()
    columns = list(zip(*((r.pkey, r.purl, r.type, r.namespace, r.name, r.version, json.dumps(r.doc))
                         for r in rows)))
    inserted = conn.execute(
        "INSERT INTO packages (pkey, purl, type, namespace, name, version, doc)"
        " SELECT p, u, t, ns, n, v, d::jsonb FROM unnest(%s::text[], %s::text[], %s::text[], %s::text[],"
        " %s::text[], %s::text[], %s::text[]) AS x(p, u, t, ns, n, v, d)"
        " ON CONFLICT (pkey) DO NOTHING RETURNING id, pkey", [list(c) for c in columns]).fetchall()
    ids = {pkey: int(pid) for pid, pkey in inserted}
    new = set(ids)
    missing = [r.pkey for r in rows if r.pkey not in ids]
    if missing:
        for pid, pkey in conn.execute("SELECT id, pkey FROM packages WHERE pkey = ANY(%s)", (missing,)):
            ids[pkey] = int(pid)
    return ids, new


def set_image_packages(conn: psycopg.Connection, image_id: int, rows: Iterable[ImagePackage],
                       ids: dict[str, int]) -> int:
    """Replace the image's package rows (a rescan of a digest yields the same set)."""
    unique = {(ids[r.pkey], r.file_path): r.layer_index for r in rows}
    conn.execute("DELETE FROM image_packages WHERE image_id = %s", (image_id,))
    if unique:
        keys = list(unique)
        conn.execute(
            "INSERT INTO image_packages (image_id, package_id, file_path, layer_index)"
            " SELECT %s, p, f, l FROM unnest(%s::bigint[], %s::text[], %s::integer[]) AS x(p, f, l)",
            (image_id, [k[0] for k in keys], [k[1] for k in keys], [unique[k] for k in keys]))
    return len(unique)


def replace_matches(conn: psycopg.Connection, package_ids: Sequence[int], matches: Sequence[MatchRow],
                    ids: dict[str, int], generation: int) -> None:
    """The matches of ``package_ids`` become exactly ``matches``."""
    if package_ids:
        conn.execute("DELETE FROM package_vuln WHERE package_id = ANY(%s)", (list(package_ids),))
    if not matches:
        return
    with conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO package_vuln (package_id, vuln_id, aliases, status, fixed_version, severity, advisory_id,"
            " generation, kev) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s) ON CONFLICT (package_id, vuln_id)"
            " DO UPDATE SET fixed_version = EXCLUDED.fixed_version, severity = EXCLUDED.severity,"
            " kev = EXCLUDED.kev OR package_vuln.kev",
            [(ids[m.pkey], m.vuln_id, list(m.aliases), m.status, m.fixed_version, m.severity, m.advisory_id,
              generation, m.kev) for m in matches])


def set_match_notes(conn: psycopg.Connection, notes: dict[int, str]) -> None:
    with conn.cursor() as cur:
        cur.executemany("UPDATE packages SET match_note = %s WHERE id = %s", [(n, i) for i, n in notes.items()])


# ---- reading ----------------------------------------------------------------------------

def _page_args(limit: int, offset: int) -> tuple[int, int]:
    return max(1, min(limit, MAX_PAGE)), max(0, offset)


def image_digest(conn: psycopg.Connection, ref_or_digest: str) -> str:
    """The digest of a stored image named by digest or by a reference it was submitted as; "" if none."""
    row = conn.execute("SELECT digest FROM images WHERE digest = %s OR %s = ANY(refs) ORDER BY id LIMIT 1",
                       (ref_or_digest, ref_or_digest)).fetchone()
    return str(row[0]) if row else ""


def list_images(conn: psycopg.Connection, limit: int = 100, offset: int = 0) -> Page:
    limit, offset = _page_args(limit, offset)
    total_row = conn.execute("SELECT count(*) FROM images").fetchone()
    rows = conn.execute(
        "SELECT i.digest, i.refs, i.os, i.scanned_at,"
        " (SELECT count(*) FROM image_packages ip WHERE ip.image_id = i.id),"
        " (SELECT count(DISTINCT pv.vuln_id) FROM image_packages ip JOIN package_vuln pv USING (package_id)"
        "   WHERE ip.image_id = i.id)"
        " FROM images i ORDER BY i.id LIMIT %s OFFSET %s", (limit, offset)).fetchall()
    items = tuple(ImageSummary(d, tuple(refs), os_name, int(n), int(v), scanned.isoformat())
                  for d, refs, os_name, scanned, n, v in rows)
    return Page(int(total_row[0]) if total_row else 0, items, limit, offset)


_LAYER_STEP = ("coalesce((SELECT l->>'created_by' FROM jsonb_array_elements(i.layers) AS l"
               " WHERE (l->>'index')::int = ip.layer_index LIMIT 1), '')")


def images_for_vulnerability(conn: psycopg.Connection, vuln_id: str, limit: int = 100, offset: int = 0) -> Page:
    """Every (image, package) a vulnerability (or one of its aliases) hits, with the layer that brought
    the package in and the fixed version; ``total`` counts the distinct images."""
    limit, offset = _page_args(limit, offset)
    hit = "(pv.vuln_id = %(v)s OR %(v)s = ANY(pv.aliases))"
    total_row = conn.execute(
        "SELECT count(DISTINCT ip.image_id) FROM package_vuln pv JOIN image_packages ip USING (package_id)"
        f" WHERE {hit}", {"v": vuln_id}).fetchone()
    rows = conn.execute(
        f"SELECT i.digest, i.refs, pv.vuln_id, p.purl, p.doc->'package'->>'name', p.version, ip.file_path,"
        f" ip.layer_index, {_LAYER_STEP}, pv.fixed_version, pv.status, pv.severity"
        " FROM package_vuln pv JOIN packages p ON p.id = pv.package_id"
        " JOIN image_packages ip ON ip.package_id = pv.package_id JOIN images i ON i.id = ip.image_id"
        f" WHERE {hit} ORDER BY i.digest, p.purl, ip.file_path LIMIT %(l)s OFFSET %(o)s",
        {"v": vuln_id, "l": limit, "o": offset}).fetchall()
    items = tuple(AffectedImage(r[0], tuple(r[1]), *r[2:]) for r in rows)
    return Page(int(total_row[0]) if total_row else 0, items, limit, offset)


def images_for_package(conn: psycopg.Connection, purl: str, limit: int = 100, offset: int = 0) -> Page:
    """Every image holding the package ``purl`` (exact, or any version when ``purl`` has none)."""
    limit, offset = _page_args(limit, offset)
    where = "p.purl = %(p)s" if "@" in purl else "(p.purl = %(p)s OR p.purl LIKE %(prefix)s)"
    args = {"p": purl, "prefix": purl.replace("%", r"\%").replace("_", r"\_") + "@%", "l": limit, "o": offset}
    total_row = conn.execute(f"SELECT count(DISTINCT ip.image_id) FROM packages p JOIN image_packages ip"
                             f" ON ip.package_id = p.id WHERE {where}", args).fetchone()
    rows = conn.execute(
        f"SELECT i.digest, i.refs, p.purl, ip.file_path, ip.layer_index, {_LAYER_STEP}"
        " FROM packages p JOIN image_packages ip ON ip.package_id = p.id JOIN images i ON i.id = ip.image_id"
        f" WHERE {where} ORDER BY i.digest, p.purl, ip.file_path LIMIT %(l)s OFFSET %(o)s", args).fetchall()
    items = tuple(PackageImage(r[0], tuple(r[1]), *r[2:]) for r in rows)
    return Page(int(total_row[0]) if total_row else 0, items, limit, offset)


def summary(conn: psycopg.Connection) -> dict[str, Any]:
    """Fleet counts: images, distinct packages, image rows, vulnerabilities, images affected per severity."""
    counts = conn.execute(
        "SELECT (SELECT count(*) FROM images), (SELECT count(*) FROM packages),"
        " (SELECT count(*) FROM image_packages), (SELECT count(DISTINCT vuln_id) FROM package_vuln),"
        " (SELECT coalesce(max(id), 0) FROM generations)").fetchone()
    assert counts is not None
    by_severity = dict.fromkeys(SEVERITIES, 0)
    for sev, n in conn.execute(
            "SELECT pv.severity, count(DISTINCT ip.image_id) FROM package_vuln pv JOIN image_packages ip"
            " USING (package_id) GROUP BY pv.severity"):
        by_severity[sev if sev in by_severity else "UNKNOWN"] += int(n)
    return {"images": int(counts[0]), "packages": int(counts[1]), "image_packages": int(counts[2]),
            "vulnerabilities": int(counts[3]), "generation": int(counts[4]),
            "images_affected_by_severity": by_severity}
