"""SPDX 2.3 tag-value: the document ``spdx.document`` builds for ``spdx-json``,
rendered as tag-value (same packages, purls, relationships and annotations).

Tag-value has no escapes, so image content is made inert: single-line values
lose line breaks and control characters (``report.text``), free text goes in
<text>...</text>, and a "<text>" / "</text>" inside a value gets a space
("< text>") so it cannot open or close a text block."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any, TextIO

from layerscan.report import spdx
from layerscan.report.document import ScanReport
from layerscan.report.text import multi_line, one_line

_TEXT_MARK = re.compile(r"<(/?)text>", re.IGNORECASE)

Lines = Iterator[str]


def _defuse(value: str) -> str:
    return _TEXT_MARK.sub(r"<\1 text>", value)


def line(tag: str, value: Any) -> Lines:
    if isinstance(value, bool):
        value = "true" if value else "false"
    text = _defuse(one_line(str(value)))
    if text:
        yield f"{tag}: {text}"


def text(tag: str, value: Any) -> Lines:
    body = _defuse(multi_line(str(value)))
    if body.strip():
        yield f"{tag}: <text>{body}</text>"


def line_or_text(tag: str, value: Any) -> Lines:
    """NOASSERTION / NONE stay keywords; anything else is free text."""
    return line(tag, value) if value in ("NOASSERTION", "NONE") else text(tag, value)


def _external_ref(ref: dict[str, str]) -> Lines:
    locator = re.sub(r"\s", lambda m: f"%{ord(m.group()):02X}", ref["referenceLocator"])
    yield from line("ExternalRef", f"{ref['referenceCategory']} {ref['referenceType']} {locator}")
    if ref.get("comment"):
        yield from text("ExternalRefComment", ref["comment"])


# JSON package key -> how it is written. Keys absent here are not written
# (tests/test_report_spdx_tv.py checks that spdx.document emits none of those).
_Render = Callable[[Any], Lines]
PACKAGE_FIELDS: dict[str, _Render] = {
    "name": lambda v: line("PackageName", v),
    "SPDXID": lambda v: line("SPDXID", v),
    "versionInfo": lambda v: line("PackageVersion", v),
    "packageFileName": lambda v: line("PackageFileName", v),
    "supplier": lambda v: line("PackageSupplier", v),
    "originator": lambda v: line("PackageOriginator", v),
    "downloadLocation": lambda v: line("PackageDownloadLocation", v),
    "filesAnalyzed": lambda v: line("FilesAnalyzed", v),
    "homepage": lambda v: line("PackageHomePage", v),
    "sourceInfo": lambda v: text("PackageSourceInfo", v),
    "licenseConcluded": lambda v: line("PackageLicenseConcluded", v),
    "licenseDeclared": lambda v: line("PackageLicenseDeclared", v),
    "licenseComments": lambda v: text("PackageLicenseComments", v),
    "copyrightText": lambda v: line_or_text("PackageCopyrightText", v),
    "summary": lambda v: text("PackageSummary", v),
    "description": lambda v: text("PackageDescription", v),
    "comment": lambda v: text("PackageComment", v),
    "externalRefs": lambda refs: (out for ref in refs for out in _external_ref(ref)),
    "primaryPackagePurpose": lambda v: line("PrimaryPackagePurpose", v),
    "annotations": lambda _: iter(()),  # written after the package, naming it (SPDXREF)
}


def annotation(element_id: str, a: dict[str, str]) -> Lines:
    yield from line("Annotator", a["annotator"])
    yield from line("AnnotationDate", a["annotationDate"])
    yield from line("AnnotationType", a["annotationType"])
    yield from line("SPDXREF", element_id)
    yield from text("AnnotationComment", a["comment"])


def package(pkg: dict[str, Any]) -> Lines:
    yield f"##### Package: {_defuse(one_line(str(pkg.get('name', ''))))}"
    yield ""
    for key, render in PACKAGE_FIELDS.items():
        if key in pkg:
            yield from render(pkg[key])
    for a in pkg.get("annotations", ()):
        yield ""
        yield from annotation(pkg["SPDXID"], a)
    yield ""


def document_lines(doc: dict[str, Any]) -> Lines:
    info = doc["creationInfo"]
    yield from line("SPDXVersion", doc["spdxVersion"])
    yield from line("DataLicense", doc["dataLicense"])
    yield from line("SPDXID", doc["SPDXID"])
    yield from line("DocumentName", doc["name"])
    yield from line("DocumentNamespace", doc["documentNamespace"])
    if doc.get("comment"):
        yield from text("DocumentComment", doc["comment"])
    for creator in info["creators"]:
        yield from line("Creator", creator)
    yield from line("Created", info["created"])
    yield ""
    for pkg in doc["packages"]:
        yield from package(pkg)
    for rel in doc["relationships"]:
        yield from line("Relationship", f"{rel['spdxElementId']} {rel['relationshipType']} "
                                        f"{rel['relatedSpdxElement']}")


def render(doc: dict[str, Any]) -> str:
    return "\n".join(document_lines(doc)) + "\n"


def write(report: ScanReport, stream: TextIO) -> None:
    stream.write(render(spdx.document(report)))
