"""SPDX 2.3 JSON: every package with its purl (externalRefs), DESCRIBES /
CONTAINS relationships, and the introducing layer as package annotations.
SPDX 2.3 has no vulnerability section: this format is an SBOM only."""

from __future__ import annotations

import json
import re
import uuid
from typing import Any, TextIO

from layerscan.model import Package
from layerscan.model.package import OS_TYPES
from layerscan.report.document import ScanReport, artifact_properties, layer_properties
from layerscan.report.vulninfo import package_uid

SPDX_VERSION = "SPDX-2.3"
DOCUMENT_ID = "SPDXRef-DOCUMENT"
ROOT_ID = "SPDXRef-Artifact"
OS_ID = "SPDXRef-OperatingSystem"
NAMESPACE_BASE = "https://layerscan.invalid/spdx/"

_PURPOSE = {"container_image": "CONTAINER", "filesystem": "SOURCE"}


def _spdx_id(prefix: str, text: str) -> str:
    return f"SPDXRef-{prefix}-" + re.sub(r"[^A-Za-z0-9.-]", "-", text)


def _annotations(report: ScanReport, pairs: list[tuple[str, str]]) -> list[dict[str, str]]:
    return [{"annotationDate": report.created_at, "annotationType": "OTHER",
             "annotator": f"Tool: layerscan-{report.tool_version}", "comment": f"layerscan:{k}={v}"}
            for k, v in pairs if v != ""]


def _base(spdx_id: str, name: str, version: str) -> dict[str, Any]:
    pkg: dict[str, Any] = {"SPDXID": spdx_id, "name": name or "unknown"}
    if version:
        pkg["versionInfo"] = version
    pkg.update({"downloadLocation": "NONE", "filesAnalyzed": False,
                "licenseConcluded": "NOASSERTION", "licenseDeclared": "NOASSERTION",
                "copyrightText": "NOASSERTION"})
    return pkg


def package(p: Package, report: ScanReport) -> dict[str, Any]:
    pkg = _base(_spdx_id("Package", package_uid(p)), p.name, p.version)
    if p.licenses:
        pkg["licenseComments"] = "declared: " + ", ".join(p.licenses)
    if p.src_name:
        pkg["sourceInfo"] = f"built package from: {p.src_name} {p.src_version}".rstrip()
    if p.purl:
        pkg["externalRefs"] = [{"referenceCategory": "PACKAGE-MANAGER", "referenceType": "purl",
                                "referenceLocator": p.purl}]
    pkg["primaryPackagePurpose"] = "LIBRARY"
    pairs = [("package:type", p.type), ("package:file_path", p.file_path), ("package:os_owner", p.os_owner)]
    annotations = _annotations(report, pairs + layer_properties(p.layer))
    if annotations:
        pkg["annotations"] = annotations
    return pkg


def _root(report: ScanReport) -> dict[str, Any]:
    root = _base(ROOT_ID, report.artifact_name, "")
    root["primaryPackagePurpose"] = _PURPOSE.get(report.artifact_type, "OTHER")
    root["annotations"] = _annotations(report, artifact_properties(report))
    return root


def _os(report: ScanReport) -> dict[str, Any] | None:
    if report.os is None:
        return None
    pkg = _base(OS_ID, report.os.family, report.os.name)
    pkg["primaryPackagePurpose"] = "OPERATING-SYSTEM"
    return pkg


def _rel(a: str, kind: str, b: str) -> dict[str, str]:
    return {"spdxElementId": a, "relationshipType": kind, "relatedSpdxElement": b}


def namespace(report: ScanReport) -> str:
    seed = "\x00".join((report.artifact_name, report.created_at,
                        report.image.image_id if report.image else ""))
    name = re.sub(r"[^A-Za-z0-9._-]", "-", report.artifact_name)[:100] or "artifact"
    return f"{NAMESPACE_BASE}{name}-{uuid.uuid5(uuid.NAMESPACE_URL, 'layerscan:' + seed)}"


def document(report: ScanReport) -> dict[str, Any]:
    packages: dict[str, dict[str, Any]] = {}
    rels = [_rel(DOCUMENT_ID, "DESCRIBES", ROOT_ID)]
    os_pkg = _os(report)
    if os_pkg:
        rels.append(_rel(ROOT_ID, "CONTAINS", OS_ID))
    for p in report.packages:
        entry = package(p, report)
        if entry["SPDXID"] in packages:
            continue  # identical occurrence
        packages[entry["SPDXID"]] = entry
        parent = OS_ID if (os_pkg and p.type in OS_TYPES) else ROOT_ID
        rels.append(_rel(parent, "CONTAINS", entry["SPDXID"]))
    return {
        "spdxVersion": SPDX_VERSION,
        "dataLicense": "CC0-1.0",
        "SPDXID": DOCUMENT_ID,
        "name": report.artifact_name or "layerscan-sbom",
        "documentNamespace": namespace(report),
        "creationInfo": {"created": report.created_at,
                         "creators": [f"Tool: layerscan-{report.tool_version}"]},
        "packages": [_root(report), *([os_pkg] if os_pkg else []), *packages.values()],
        "relationships": rels,
    }


def write(report: ScanReport, stream: TextIO) -> None:
    json.dump(document(report), stream, indent=2, ensure_ascii=False)
    stream.write("\n")
