"""SPDX 2.x tag-value -> the SPDX JSON shape, so :mod:`spdx` reads both.

Only what a scan needs is kept: document name, packages (name, SPDXID,
version, purl external refs, purpose, source info, licences), relationships, and
the annotations naming a package (``SPDXREF``; ours carry the layers and their order).
"""

from __future__ import annotations

from typing import Any

from layerscan.errors import ImageError
from layerscan.source.sbom.builder import MAX_COMPONENTS

_PACKAGE_FIELDS = {
    "SPDXID": "SPDXID", "PackageVersion": "versionInfo", "PrimaryPackagePurpose": "primaryPackagePurpose",
    "PackageSourceInfo": "sourceInfo", "PackageLicenseDeclared": "licenseDeclared",
    "PackageLicenseConcluded": "licenseConcluded",
}
_MAX_TEXT_LINES = 10_000
_ANNOTATION_FIELDS = {"Annotator": "annotator", "AnnotationComment": "comment", "SPDXREF": "ref"}
MAX_ANNOTATIONS = 10 * MAX_COMPONENTS


def looks_like_tag_value(text: str) -> bool:
    for line in text.splitlines()[:50]:
        stripped = line.strip()
        if stripped and not stripped.startswith("#"):
            return stripped.startswith("SPDXVersion:")
    return False


def _lines(text: str) -> list[tuple[str, str]]:
    """(tag, value) pairs; <text>...</text> values may span lines."""
    out: list[tuple[str, str]] = []
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        tag, sep, value = lines[i].partition(":")
        i += 1
        if not sep or tag.strip().startswith("#"):
            continue
        value = value.strip()
        if value.startswith("<text>") and "</text>" not in value:
            parts = [value]
            while i < len(lines) and "</text>" not in lines[i] and len(parts) < _MAX_TEXT_LINES:
                parts.append(lines[i])
                i += 1
            if i < len(lines):
                parts.append(lines[i])
                i += 1
            value = "\n".join(parts)
        out.append((tag.strip(), value.removeprefix("<text>").removesuffix("</text>").strip()))
    return out


def _external_ref(value: str) -> dict[str, str] | None:
    parts = value.split()
    if len(parts) < 3:
        return None
    return {"referenceCategory": parts[0], "referenceType": parts[1], "referenceLocator": parts[2]}


def _attach(doc: dict[str, Any], annotations: list[dict[str, str]]) -> None:
    """Each annotation onto the package its SPDXREF names (others are dropped)."""
    by_id = {p.get("SPDXID"): p for p in doc["packages"]}
    for ann in annotations:
        target = by_id.get(ann.pop("ref", ""))
        if target is not None:
            target.setdefault("annotations", []).append(ann)


def to_spdx_json(text: str, location: str) -> dict[str, Any]:
    doc: dict[str, Any] = {"packages": [], "relationships": []}
    pkg: dict[str, Any] | None = None
    annotations: list[dict[str, str]] = []
    for tag, value in _lines(text):
        if tag == "Annotator":
            if len(annotations) >= MAX_ANNOTATIONS:
                raise ImageError(f"{location}: more than {MAX_ANNOTATIONS} annotations; refusing the SBOM")
            annotations.append({})
        if tag in _ANNOTATION_FIELDS and annotations:
            annotations[-1][_ANNOTATION_FIELDS[tag]] = value
            continue
        if tag == "SPDXVersion":
            doc["spdxVersion"] = value
        elif tag == "DocumentName" and pkg is None:
            doc["name"] = value
        elif tag == "PackageName":
            if len(doc["packages"]) >= MAX_COMPONENTS:
                raise ImageError(f"{location}: more than {MAX_COMPONENTS} packages; refusing the SBOM")
            pkg = {"name": value, "externalRefs": []}
            doc["packages"].append(pkg)
        elif tag in ("FileName", "SnippetSPDXID"):
            pkg = None  # a file or snippet section ends the package
        elif tag == "Relationship":
            parts = value.split()
            if len(parts) >= 3:
                doc["relationships"].append({"spdxElementId": parts[0], "relationshipType": parts[1],
                                             "relatedSpdxElement": parts[2]})
        elif pkg is not None and tag == "ExternalRef":
            ref = _external_ref(value)
            if ref:
                pkg["externalRefs"].append(ref)
        elif pkg is not None and tag in _PACKAGE_FIELDS:
            pkg[_PACKAGE_FIELDS[tag]] = value
    _attach(doc, annotations)
    return doc
