"""One stored image in detail (``GET /images/{digest}``), from the store's rows, never a rescan.

``image_detail`` is the JSON answer: the image, its layers (index, step, package and vulnerability
counts) and one page of its packages in layer order, each with its vulnerabilities. ``image_report``
rebuilds the scan's report document (``report.document.build_report``) from the same rows, so the
interactive layer page is the one ``layerscan image -f html`` writes (``report.html.render``); it
holds at most ``MAX_REPORT_PACKAGES`` packages (the rest are counted in a note on the page).
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from layerscan.fleet.store import MAX_PAGE
from layerscan.model import Finding, ImageMeta, LayerInfo, MatchDetail, OSInfo, Package, Sbom, Unknown
from layerscan.walk.serialize import leaf_from_json

if TYPE_CHECKING:
    import psycopg

    from layerscan.report.document import ScanReport

MAX_REPORT_PACKAGES = 20_000


@dataclass(frozen=True)
class StoredImage:
    id: int
    digest: str
    refs: tuple[str, ...]
    os: str
    layers: tuple[LayerInfo, ...]
    scanned_at: str
    policy_failing: bool | None


def stored_image(conn: psycopg.Connection, ref_or_digest: str) -> StoredImage | None:
    """The image stored under a digest (or a reference it was submitted as); None when there is none."""
    row = conn.execute("SELECT id, digest, refs, os, layers, scanned_at, policy_failing FROM images"
                       " WHERE digest = %s OR %s = ANY(refs) ORDER BY digest <> %s, id LIMIT 1",
                       (ref_or_digest, ref_or_digest, ref_or_digest)).fetchone()
    if row is None:
        return None
    layers = tuple(LayerInfo(int(layer.get("index", i)), str(layer.get("diff_id", "")),
                             created_by=str(layer.get("created_by", "")))
                   for i, layer in enumerate(row[4] if isinstance(row[4], list) else ())
                   if isinstance(layer, dict))
    return StoredImage(int(row[0]), row[1], tuple(row[2]), row[3], layers, row[5].isoformat(), row[6])


def _vulns(conn: psycopg.Connection, package_ids: list[int]) -> dict[int, list[tuple[Any, ...]]]:
    found: dict[int, list[tuple[Any, ...]]] = defaultdict(list)
    for row in conn.execute(
            "SELECT package_id, vuln_id, aliases, status, fixed_version, severity, advisory_id, kev"
            " FROM package_vuln WHERE package_id = ANY(%s) ORDER BY package_id, vuln_id", (package_ids,)):
        found[int(row[0])].append(row[1:])
    return found


def _layer_counts(conn: psycopg.Connection, image_id: int) -> dict[int | None, tuple[int, int]]:
    rows = conn.execute(
        "SELECT ip.layer_index, count(DISTINCT (ip.package_id, ip.file_path)), count(DISTINCT pv.vuln_id)"
        " FROM image_packages ip LEFT JOIN package_vuln pv USING (package_id) WHERE ip.image_id = %s"
        " GROUP BY ip.layer_index", (image_id,)).fetchall()
    return {r[0]: (int(r[1]), int(r[2])) for r in rows}


_PAGE_SQL = ("SELECT p.id, p.purl, p.doc->'package'->>'name', p.version, p.type, ip.file_path, ip.layer_index,"
             " p.namespace, p.name, p.doc FROM image_packages ip JOIN packages p ON p.id = ip.package_id"
             " WHERE ip.image_id = %s ORDER BY ip.layer_index NULLS LAST, p.doc->'package'->>'name', p.version,"
             " ip.file_path LIMIT %s OFFSET %s")


def image_detail(conn: psycopg.Connection, image: StoredImage, limit: int = 100, offset: int = 0) -> dict[str, Any]:
    """The JSON detail of ``image``: layers with counts, and packages ``offset``.. (at most ``limit``)."""
    limit, offset = max(1, min(limit, MAX_PAGE)), max(0, offset)
    counts = _layer_counts(conn, image.id)
    steps = {layer.index: layer for layer in image.layers}
    layers = [{"index": index, "diff_id": steps[index].diff_id if index in steps else "",
               "created_by": steps[index].created_by if index in steps else "",
               "packages": counts.get(index, (0, 0))[0], "vulnerabilities": counts.get(index, (0, 0))[1]}
              for index in sorted(steps.keys() | {i for i in counts if i is not None})]
    if None in counts:  # packages no layer is credited with (an SBOM without layers)
        layers.append({"index": None, "diff_id": "", "created_by": "", "packages": counts[None][0],
                       "vulnerabilities": counts[None][1]})
    rows = conn.execute(_PAGE_SQL, (image.id, limit, offset)).fetchall()
    vulns = _vulns(conn, [int(r[0]) for r in rows])
    items = [{"purl": purl, "name": name or "", "version": version, "type": kind, "file_path": path,
              "layer_index": layer,
              "vulnerabilities": [{"id": v[0], "aliases": list(v[1]), "status": v[2], "fixed_version": v[3],
                                   "severity": v[4], "kev": bool(v[6])} for v in vulns.get(int(pid), [])]}
             for pid, purl, name, version, kind, path, layer, *_ in rows]
    return {"digest": image.digest, "refs": list(image.refs), "os": image.os, "scanned_at": image.scanned_at,
            "policy_failing": image.policy_failing, "layers": layers,
            "total": sum(n for n, _ in counts.values()), "limit": limit, "offset": offset, "items": items}


def image_report(conn: psycopg.Connection, image: StoredImage, max_packages: int = MAX_REPORT_PACKAGES,
                 ) -> ScanReport:
    """The report document of ``image`` as its scan would have built it, from the stored rows."""
    from layerscan.report.document import build_report

    rows = conn.execute(_PAGE_SQL, (image.id, max_packages + 1, 0)).fetchall()
    layer_of = {layer.index: layer for layer in image.layers}
    vulns = _vulns(conn, [int(r[0]) for r in rows[:max_packages]])
    packages: list[Package] = []
    findings: list[Finding] = []
    unknowns: list[Unknown] = []
    os_info: OSInfo | None = None
    for pid, _purl, _name, _version, _kind, path, index, namespace, key, doc in rows[:max_packages]:
        try:
            pkg = leaf_from_json(Package, doc.get("package"))
            own_os = leaf_from_json(OSInfo, doc["os"]) if doc.get("os") else None
        except (ValueError, TypeError, AttributeError):
            unknowns.append(Unknown(path, "stored package record could not be read", "fleet"))
            continue
        os_info = os_info or own_os
        layer = layer_of.get(index, LayerInfo(index, "")) if index is not None else None
        pkg = dataclasses.replace(pkg, file_path=path or pkg.file_path, layer=layer)
        packages.append(pkg)
        for vuln_id, aliases, status, fixed, severity, advisory_id, kev in vulns.get(int(pid), []):
            findings.append(Finding(pkg, vuln_id, MatchDetail(namespace, advisory_id, key, "", ""),
                                    aliases=tuple(aliases), status=status, fixed_version=fixed, severity=severity,
                                    kev=bool(kev)))
    if len(rows) > max_packages:
        total = conn.execute("SELECT count(*) FROM image_packages WHERE image_id = %s", (image.id,)).fetchone()
        unknowns.append(Unknown("", f"{max_packages} of {total[0] if total else '?'} packages shown"
                                    " (GET /images/{digest} lists them all, page by page)", "fleet"))
    meta = ImageMeta(image_id=image.digest, layers=image.layers)
    sbom = Sbom(image.refs[0] if image.refs else image.digest, "container_image", os=os_info, image=meta,
                packages=tuple(packages), unknowns=tuple(unknowns))
    return build_report(sbom, findings, list_all_pkgs=True, vulnerabilities_scanned=True,
                        created_at=image.scanned_at)
