"""The interactive layer report: one self-contained HTML file (inline CSS/JS,
no network), the image's layers stacked as in the Dockerfile (base at the
bottom, app code on top) with their packages and vulnerabilities; click a
layer to see what it added; filter by severity / fixable.

The report data is embedded as JSON in ``<script type="application/json"
id="layerscan-data">`` with ``<``, ``>``, ``&`` escaped as ``\\u003c`` etc., so
no string from the image can close the element; the page's script inserts
every value with ``textContent``. :func:`report_data` is that JSON document.

With ``--fix-plan`` the document has a ``fix_plan`` (``report.fixplan``): the page shows a
"Fix plan" summary, and each layer's panel the groups that layer owns (its OS or language
upgrade) or whose packages it brought in (base image, rebuild), with the command to copy,
the packages from -> to, the history step, the Dockerfile line and patch when known.
Templates: ``report/templates/layers.{html,css,js}`` (package data).
"""

from __future__ import annotations

import html
import json
import re
from importlib import resources
from typing import Any, Callable, TextIO

from layerscan.model import Finding, LayerInfo, Package
from layerscan.model.advisory import SEVERITIES
from layerscan.report.document import ScanReport, layer_step
from layerscan.report.fixplan import FixGroup, FixPlan, heading
from layerscan.report.vulninfo import package_uid, primary_url

DATA_ELEMENT_ID = "layerscan-data"
# Severity order on the page: worst first.
SEVERITY_ORDER = tuple(reversed(SEVERITIES))
UNATTRIBUTED = "none"  # layer key of packages no layer is credited with
_TYPE_LABELS = {"container_image": "container image", "rootfs": "root filesystem",
                "filesystem": "filesystem", "sbom": "SBOM"}
_MARKER = re.compile(r"\{\{(?:TITLE|CSS|JS|DATA)\}\}")
_JSON_ESCAPES = {ord("<"): "\\u003c", ord(">"): "\\u003e", ord("&"): "\\u0026",
                 0x2028: "\\u2028", 0x2029: "\\u2029"}


def _identity(layer: LayerInfo) -> str:
    return layer.diff_id or f"#{layer.index}"


def layer_key(layer: LayerInfo | None, keys: dict[str, str]) -> str:
    if layer is None:
        return UNATTRIBUTED
    return keys.get(_identity(layer), str(layer.index))


def _unique_keys(ordered: list[LayerInfo]) -> dict[str, str]:
    """Layer identity -> page key: the index ("3"), made unique if a document repeats one."""
    keys: dict[str, str] = {}
    used: set[str] = {UNATTRIBUTED, "all"}
    for layer in ordered:
        key, n = str(layer.index), 1
        while key in used:
            n += 1
            key = f"{layer.index}-{n}"
        used.add(key)
        keys[_identity(layer)] = key
    return keys


def _layers(report: ScanReport) -> tuple[list[dict[str, Any]], dict[str, str]]:
    """Layers in stacking order (base first) with their keys; a pseudo-layer for
    packages without one (the whole target when it has no layers: rootfs, fs)."""
    known: dict[str, LayerInfo] = {_identity(layer): layer for layer in report.layers}
    for pkg in report.packages:
        if pkg.layer and _identity(pkg.layer) not in known:
            known[_identity(pkg.layer)] = pkg.layer
    ordered = sorted(known.values(), key=lambda layer: layer.index)
    keys = _unique_keys(ordered)
    out = [{"key": keys[_identity(layer)], "index": layer.index, "step": layer_step(layer.created_by),
            "created_by": layer.created_by, "diff_id": layer.diff_id, "digest": layer.digest,
            "size": layer.size, "pseudo": False} for layer in ordered]
    if not ordered or any(p.layer is None for p in report.packages):
        label = "packages not attributed to a layer" if ordered else _TYPE_LABELS.get(
            report.artifact_type, report.artifact_type) + " " + report.artifact_name
        out.append({"key": UNATTRIBUTED, "index": None, "step": label, "created_by": "", "diff_id": "",
                    "digest": "", "size": 0, "pseudo": True})
    return out, keys


def _package(pkg: Package, keys: dict[str, str]) -> dict[str, Any]:
    return {"uid": package_uid(pkg), "name": pkg.name, "version": pkg.version, "type": pkg.type,
            "purl": pkg.purl, "src": pkg.src_name, "path": pkg.file_path, "layer": layer_key(pkg.layer, keys)}


def _finding(f: Finding, keys: dict[str, str]) -> dict[str, Any]:
    return {"id": f.vulnerability_id, "pkg": package_uid(f.package), "name": f.package.name,
            "version": f.package.version, "layer": layer_key(f.package.layer, keys),
            "fixed": f.fixed_version, "severity": f.severity if f.severity in SEVERITIES else "UNKNOWN",
            "status": f.status, "title": f.title, "url": primary_url(f), "kev": f.kev,
            "epss": f.epss, "epss_pct": f.epss_percentile, "aliases": list(f.aliases),
            "suppressed": f.suppressed, "source": f.match.data_source,
            "new": f.new, "base": f.base_layer}


def _artifact(report: ScanReport) -> dict[str, Any]:
    os_info = None
    if report.os:
        label = f"{report.os.family} {report.os.name}".strip()
        if report.os.pretty_name and report.os.name not in report.os.pretty_name:
            label = f"{report.os.pretty_name} · {label}"
        elif report.os.pretty_name:
            label = report.os.pretty_name
        os_info = {"family": report.os.family, "name": report.os.name, "label": label, "eosl": report.os.eosl}
    return {"name": report.artifact_name, "type": report.artifact_type,
            "type_label": _TYPE_LABELS.get(report.artifact_type, report.artifact_type),
            "created_at": report.created_at, "tool": report.tool_version, "os": os_info,
            "image_id": report.image.image_id if report.image else "",
            "scanned": report.vulnerabilities_scanned,
            "policy": {"exit_code": report.policy.exit_code, "failing": report.policy.failing,
                       "eol": report.policy.eol, "expired_ignores": list(report.policy.expired_ignores)}}


def _severity_rank(f: Finding) -> int:
    return SEVERITY_ORDER.index(f.severity) if f.severity in SEVERITY_ORDER else len(SEVERITY_ORDER)


def _index_key(layers: list[dict[str, Any]]) -> Callable[[int | None], str]:
    """Layer index -> page key (the fix plan names layers by index)."""
    by_index: dict[int, str] = {}
    for layer in layers:
        if not layer["pseudo"]:
            by_index.setdefault(layer["index"], layer["key"])
    return lambda index: by_index.get(index, UNATTRIBUTED) if index is not None else UNATTRIBUTED


def _fix_group(n: int, group: FixGroup, key: Callable[[int | None], str]) -> dict[str, Any]:
    items = [{"name": i.name, "type": i.type, "installed": i.installed, "target": i.target,
              "packages": [{"name": b, "version": v} for b, v in i.binaries], "fixes": list(i.fixes),
              "moved_up": list(i.moved_up), "path": i.path, "layer": key(i.layer), "created_by": i.created_by}
             for i in group.items]
    own = [key(group.layer)] if group.layer is not None else []
    return {"n": n, "owner": group.owner, "title": heading(group), "manager": group.manager,
            "command": group.command, "layer": key(group.layer) if group.layer is not None else None,
            "layers": list(dict.fromkeys([*own, *(i["layer"] for i in items)])), "created_by": group.created_by,
            "dockerfile_line": group.dockerfile_line, "note": group.note, "patch": group.patch, "items": items}


def _fix_plan(plan: FixPlan, layers: list[dict[str, Any]]) -> dict[str, Any]:
    key = _index_key(layers)
    return {"base": plan.base, "base_level": plan.base_level, "dockerfile": plan.dockerfile,
            "dockerfile_note": plan.dockerfile_note,
            "groups": [_fix_group(n, g, key) for n, g in enumerate(plan.groups, 1)],
            "residue": [{"package": r.package, "version": r.version, "type": r.type, "id": r.vulnerability_id,
                         "status": r.status, "reason": r.reason, "layer": key(r.layer)} for r in plan.residue]}


def report_data(report: ScanReport) -> dict[str, Any]:
    """The JSON document the page renders (also what the tests read back)."""
    layers, keys = _layers(report)
    findings = sorted((*report.findings, *report.suppressed),
                      key=lambda f: (_severity_rank(f), f.vulnerability_id, f.package.name))
    data = {"version": 1, "artifact": _artifact(report), "severities": list(SEVERITY_ORDER),
            "layers": layers, "packages": [_package(p, keys) for p in report.packages],
            "findings": [_finding(f, keys) for f in findings],
            "notes": [{"path": u.path, "reason": u.reason} for r in report.results for u in r.unknowns]}
    if report.fix_plan is not None:
        data["fix_plan"] = _fix_plan(report.fix_plan, layers)
    return data


def embed_json(value: Any) -> str:
    """JSON safe inside a <script> element: no '<', '>' or '&' survives."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).translate(_JSON_ESCAPES)


def _template(name: str) -> str:
    return resources.files("layerscan.report").joinpath("templates", name).read_text(encoding="utf-8")


def render(report: ScanReport) -> str:
    page = _template("layers.html")
    parts = {"{{TITLE}}": html.escape(f"layerscan · {report.artifact_name}"),
             "{{CSS}}": _template("layers.css"), "{{JS}}": _template("layers.js"),
             "{{DATA}}": embed_json(report_data(report))}
    # one pass: text put in is never scanned for markers again
    return _MARKER.sub(lambda m: parts[m.group(0)], page)


def write(report: ScanReport, stream: TextIO) -> None:
    stream.write(render(report))
