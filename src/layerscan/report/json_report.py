"""Trivy-compatible JSON report (docs/json-schema.md).

Field names follow Trivy's SchemaVersion 2 where the meaning is the same; our
additions (layer Index/CreatedBy, MatchDetail, KEV, EPSS, Aliases, Unknowns,
Excluded, OSOwner, OS.Unsupported, UncheckedOSPackages, Policy) are additive.
Empty/zero fields are omitted, as Trivy's ``omitempty`` does.
"""

from __future__ import annotations

import codecs
import json
import os
from typing import Any, TextIO

from layerscan.db.dates import rfc3339
from layerscan.model import Finding, LayerInfo, Package, Unknown
from layerscan.model.image import ImageMeta
from layerscan.report.document import Result, ScanReport
from layerscan.report.versions import split_version
from layerscan.report.vulninfo import (cvss_by_source, data_source, package_uid, primary_url,
                                       severity_number, suppression_status)
from layerscan.textload import LoadError, parse_json

SCHEMA_VERSION = 2
# Version of our additions on top of Trivy's schema (docs/json-schema.md).
LAYERSCAN_SCHEMA = "1.1"


def _compact(d: dict[str, Any]) -> dict[str, Any]:
    # ``v or``: a true value is never one of the empty ones; only false values are compared
    return {k: v for k, v in d.items() if v or v not in _EMPTY or k in _KEEP_ZERO}


_EMPTY: tuple[object, ...] = (None, "", [], {}, False, 0)
_KEEP_ZERO = frozenset({"SchemaVersion", "Index"})


def layer_json(layer: LayerInfo | None) -> dict[str, Any]:
    if layer is None:
        return {}
    return _compact({"Digest": layer.digest, "DiffID": layer.diff_id, "Index": layer.index,
                     "CreatedBy": layer.created_by})


def excluded_reason(p: Package) -> str:
    if p.is_application:
        return "application"
    if p.os_owner:
        return "os-owned"
    if p.version_unknown_reason or not p.version:
        return "version-unknown"
    return ""


def package_json(p: Package) -> dict[str, Any]:
    ver = split_version(p.type, p.version)
    src = split_version(p.type, p.src_version)
    return _compact({
        "ID": p.id,
        "Name": p.name,
        "Identifier": _compact({"PURL": p.purl, "UID": package_uid(p)}),
        "Version": ver.version,
        "Release": ver.release,
        "Epoch": ver.epoch,
        "Arch": p.arch,
        "SrcName": p.src_name,
        "SrcVersion": src.version,
        "SrcRelease": src.release,
        "SrcEpoch": src.epoch,
        "Licenses": list(p.licenses),
        "Indirect": p.indirect,
        "Dev": p.dev,
        "Layer": layer_json(p.layer),
        "FilePath": p.file_path,
        "InstalledFiles": list(p.installed_files),
        "OSOwner": p.os_owner,
        "Excluded": excluded_reason(p),
        "VersionUnknownReason": p.version_unknown_reason,
    })


_PackageParts = tuple[str, str, dict[str, Any], dict[str, Any]]  # PkgID, PkgPath, PkgIdentifier, Layer


def _package_parts(p: Package) -> _PackageParts:
    return (p.id, p.file_path if p.type not in ("deb", "rpm", "apk", "opkg") else "",
            _compact({"PURL": p.purl, "UID": package_uid(p)}), layer_json(p.layer))


def vulnerability_json(f: Finding, parts: dict[int, _PackageParts] | None = None) -> dict[str, Any]:
    """``parts``: the package fields already written, by package (a package has many findings)."""
    p = f.package
    shared = parts.get(id(p)) if parts is not None else None
    if shared is None:
        shared = _package_parts(p)
        if parts is not None:
            parts[id(p)] = shared
    pkg_id, pkg_path, identifier, layer = shared
    ds_id, ds_name, ds_url = data_source(f.match.data_source)
    return _compact({
        "VulnerabilityID": f.vulnerability_id,
        "PkgID": pkg_id,
        "PkgName": p.name,
        "PkgPath": pkg_path,
        "PkgIdentifier": identifier,
        "InstalledVersion": p.version,
        "FixedVersion": f.fixed_version,
        "Status": f.status,
        "Layer": layer,
        "SeveritySource": f.severity_source,
        "PrimaryURL": primary_url(f),
        "DataSource": _compact({"ID": ds_id, "Name": ds_name, "URL": ds_url}),
        "Title": f.title,
        "Description": f.description,
        "Severity": f.severity or "UNKNOWN",
        "CweIDs": list(f.cwes),
        "VendorSeverity": {s.source: severity_number(s.level) for s in f.vendor_severity},
        "CVSS": cvss_by_source(f),
        "References": list(f.references),
        "PublishedDate": rfc3339(f.published),
        "LastModifiedDate": rfc3339(f.modified),
        "Aliases": list(f.aliases),
        "MatchDetail": _compact({
            "Namespace": f.match.namespace, "AdvisoryID": f.match.advisory_id,
            "PackageName": f.match.package_name, "Matched": f.match.matched,
            "DataSource": f.match.data_source}),
        "KEV": f.kev,
        "EPSS": _compact({"Score": f.epss, "Percentile": f.epss_percentile}),
        "BaseLayer": f.base_layer,
        "New": f.new,
    })


def modified_finding_json(f: Finding) -> dict[str, Any]:
    """A suppressed finding, in Trivy's ExperimentalModifiedFindings shape."""
    return {"Type": "vulnerability", "Status": suppression_status(f), "Statement": f.suppressed,
            "Source": _suppression_source(f.suppressed), "Finding": vulnerability_json(f)}


def _suppression_source(reason: str) -> str:
    if reason.startswith("ignored by "):
        return reason[len("ignored by "):].split(":", 1)[0]
    if reason.endswith(")") and "(" in reason:
        return reason.rsplit("(", 1)[1][:-1]
    return ""


def unknown_json(u: Unknown) -> dict[str, Any]:
    return _compact({"Path": u.path, "Reason": u.reason, "Analyzer": u.analyzer,
                     "Layer": layer_json(u.layer)})


def result_json(r: Result, report: ScanReport, with_packages: bool) -> dict[str, Any]:
    out: dict[str, Any] = {"Target": r.target, "Class": r.klass, "Type": r.type}
    if with_packages and r.packages:
        out["Packages"] = [package_json(p) for p in r.packages]
    if r.findings:
        parts: dict[int, _PackageParts] = {}  # the findings hold their packages while this runs
        out["Vulnerabilities"] = [vulnerability_json(f, parts) for f in r.findings]
    if r.suppressed:
        out["ExperimentalModifiedFindings"] = [modified_finding_json(f) for f in r.suppressed]
    if r.unknowns:
        out["Unknowns"] = [unknown_json(u) for u in r.unknowns]
    return out


def _image_config(meta: ImageMeta) -> dict[str, Any]:
    if not meta.config_json:
        return {}
    try:
        parsed = parse_json(meta.config_json)
    except LoadError:
        return {}
    if not isinstance(parsed, dict):
        return {}
    history = parsed.get("history")
    if isinstance(history, list):
        parsed["history"] = [_dated(h) if isinstance(h, dict) else h for h in history]
    return _dated(parsed)


def _dated(entry: dict[str, Any]) -> dict[str, Any]:
    """An image config (or history entry) with its ``created`` time in RFC 3339, or without it."""
    if "created" not in entry:
        return entry
    created = rfc3339(entry["created"])
    return {**entry, "created": created} if created else {k: v for k, v in entry.items() if k != "created"}


def metadata_json(report: ScanReport) -> dict[str, Any]:
    md: dict[str, Any] = {}
    if report.os:
        md["OS"] = _compact({"Family": report.os.family, "Name": report.os.name, "EOSL": report.os.eosl,
                             "Unsupported": report.unchecked_os_packages > 0})
    meta = report.image
    if meta:
        md.update(_compact({
            "ImageID": meta.image_id,
            "DiffIDs": list(meta.diff_ids),
            "RepoTags": list(meta.repo_tags),
            "RepoDigests": list(meta.repo_digests),
            "ImageConfig": _image_config(meta),
            "Layers": [_compact({"Index": layer.index, "Size": layer.size, "Digest": layer.digest,
                                 "DiffID": layer.diff_id, "CreatedBy": layer.created_by,
                                 "MediaType": layer.media_type})
                       for layer in meta.layers],
        }))
    return md


def policy_json(report: ScanReport) -> dict[str, Any]:
    pol = report.policy
    return _compact({"ExitCode": pol.exit_code, "Failing": pol.failing, "EOL": pol.eol,
                     "ExpiredIgnores": list(pol.expired_ignores),
                     "BaseLayers": pol.base_layers, "BaseBoundary": pol.base_boundary,
                     "BaseImage": pol.base_image, "BaseLayerFindings": pol.base_layer_findings,
                     "Baseline": pol.baseline, "NewFindings": pol.new_findings})


def report_json(report: ScanReport, *, with_packages: bool | None = None) -> dict[str, Any]:
    """The report as a JSON-ready dict (packages listed when ``report.list_all_pkgs``)."""
    pkgs = report.list_all_pkgs if with_packages is None else with_packages
    doc: dict[str, Any] = {
        "SchemaVersion": SCHEMA_VERSION,
        "CreatedAt": rfc3339(report.created_at),
        "ArtifactName": report.artifact_name,
        "ArtifactType": report.artifact_type,
        "Metadata": metadata_json(report),
        "Results": [result_json(r, report, pkgs) for r in report.results],
        "Layerscan": _compact({"Version": report.tool_version, "Schema": LAYERSCAN_SCHEMA,
                               "VulnerabilitiesScanned": report.vulnerabilities_scanned,
                               "UncheckedOSPackages": report.unchecked_os_packages,
                               "Policy": policy_json(report),
                               "Database": dict(report.db_metadata)}),
    }
    if report.fix_plan is not None:
        from layerscan.report.fixplan import plan_json

        doc["FixPlan"] = plan_json(report.fix_plan)
    if not doc["CreatedAt"]:  # an unreadable time is omitted, as every other date
        del doc["CreatedAt"]
    return doc


def write(report: ScanReport, stream: TextIO) -> None:
    doc = report_json(report)
    try:  # orjson (the [fast] extra) encodes a large report ~10x faster than json's indenting encoder
        import orjson

        data = orjson.dumps(doc, option=orjson.OPT_INDENT_2 | orjson.OPT_APPEND_NEWLINE)
    except (ImportError, TypeError):  # no [fast] extra, or a lone surrogate from hostile input
        stream.write(json.dumps(doc, indent=2, ensure_ascii=False) + "\n")
        return
    _write_utf8(data, stream)


def _write_utf8(data: bytes, stream: TextIO) -> None:
    """UTF-8 ``data`` to a text stream: straight to its byte buffer when the stream would
    encode to the same bytes (UTF-8, no newline translation), saving a decode and an encode
    of a report that can be megabytes; else as text."""
    buffer = getattr(stream, "buffer", None)
    encoding = getattr(stream, "encoding", None) or ""
    if buffer is not None and encoding and os.linesep == "\n" and codecs.lookup(encoding).name == "utf-8":
        stream.flush()
        buffer.write(data)
        buffer.flush()
        return
    stream.write(data.decode())
