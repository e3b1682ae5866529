"""SBOM documents into the fleet (``POST /sboms``, ``layerscan server sbom add FILE``).

A document is read with the readers ``layerscan sbom`` uses (``source.sbom_input.parse_sbom``:
CycloneDX JSON, SPDX JSON or tag-value, Syft JSON) or, when it is a layerscan (or Trivy) JSON
report, with ``report.json_input.parse_report`` (its packages keep their layers). It is stored as
an image (``fleet.ingest``) under the image digest the document names (a repo digest, else the
image id) or, when it names none, under the sha256 of the document's bytes: uploading the same
document twice stores one image.

Bounds: ``MAX_UPLOAD`` bytes (the CLI's SBOM limit) and ``MAX_JSON_TOKENS`` structural JSON tokens
(counted before parsing); nesting deeper than the JSON parser allows is refused, and so is a
document that lists no package. Every refusal is an ``SbomRejected`` with one line that says why.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import TYPE_CHECKING

from layerscan.errors import LayerscanError
from layerscan.fleet.ingest import IngestResult, image_digest, ingest_sbom
from layerscan.fleet.rematch import VulnDb, ensure_generation
from layerscan.model import Package, Sbom
from layerscan.source.sbom_input import MAX_JSON_TOKENS, MAX_SBOM_BYTES, json_tokens

if TYPE_CHECKING:
    import psycopg

    from layerscan.report.document import ScanReport

MAX_UPLOAD = MAX_SBOM_BYTES
MAX_NAME = 1000  # the ?name= / --name reference stored with the image
# a layerscan or Trivy JSON report opens with its SchemaVersion (both writers put it first)
_REPORT_START = re.compile(rb'^\s*\{\s*"SchemaVersion"\s*:')


class SbomRejected(Exception):
    """The document is not one the fleet stores (too large, not an SBOM, malformed); the message says why."""


class TooLarge(SbomRejected):
    pass


def sbom_from_report(report: ScanReport) -> Sbom:
    """The SBOM a JSON report lists: its packages, and the packages only its findings name."""
    packages: dict[tuple[str, str, str, str], Package] = {}
    for pkg in (*report.packages, *(f.package for f in (*report.findings, *report.suppressed))):
        packages.setdefault((pkg.type, pkg.name, pkg.version, pkg.file_path), pkg)
    return Sbom(report.artifact_name, report.artifact_type, os=report.os, image=report.image,
                packages=tuple(packages.values()))


def read_document(data: bytes, location: str = "sbom") -> Sbom:
    """The SBOM in ``data`` (SbomRejected when it is not a readable one)."""
    from layerscan.source.sbom_input import parse_sbom

    if len(data) > MAX_UPLOAD:
        raise TooLarge(f"{location}: larger than {MAX_UPLOAD // (1024 * 1024)} MiB")
    try:
        if _REPORT_START.match(data[:4096].removeprefix(b"\xef\xbb\xbf")):
            from layerscan.report.json_input import parse_report

            if json_tokens(data, MAX_JSON_TOKENS) > MAX_JSON_TOKENS:
                raise SbomRejected(f"{location}: more than {MAX_JSON_TOKENS} JSON values and keys")
            return sbom_from_report(parse_report(data, location).report)
        return parse_sbom(data, location)
    except LayerscanError as exc:
        raise SbomRejected(f"{exc}{f' ({exc.hint})' if exc.hint else ''}") from None
    except RecursionError:  # a reader walking a deeply nested document
        raise SbomRejected(f"{location}: JSON nested too deeply") from None


def document_digest(sbom: Sbom, data: bytes) -> str:
    """The image digest the SBOM names; else the sha256 of the document."""
    if sbom.image and (sbom.image.image_id or any("@" in d for d in sbom.image.repo_digests)):
        return image_digest(sbom)
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _printable(name: str) -> bool:
    return len(name) <= MAX_NAME and not any(ord(c) < 0x20 or ord(c) == 0x7F for c in name)


def check_name(name: str) -> str:
    if not _printable(name):
        raise SbomRejected(f"the name must be at most {MAX_NAME} printable characters")
    return name


def store_document(conn: psycopg.Connection, data: bytes, vulndb: VulnDb, name: str = "",
                   location: str = "sbom") -> IngestResult:
    """Read, store and match one SBOM document; ``name`` is the reference it is listed under (default:
    the document's own artifact name)."""
    sbom = read_document(data, location)
    if not sbom.packages:  # the readers are lenient ("components": 5 reads as none): nothing to match
        raise SbomRejected(f"{location}: the document lists no packages; nothing to store")
    generation = ensure_generation(conn, vulndb)
    ref = check_name(name) if name else (sbom.artifact_name if _printable(sbom.artifact_name) else "")
    return ingest_sbom(conn, sbom, ref, vulndb, generation, digest=document_digest(sbom, data))


def read_file(path: Path) -> bytes:
    """A document from disk, read up to one byte past the bound (TooLarge beyond it)."""
    try:
        with open(path, "rb") as fh:
            data = fh.read(MAX_UPLOAD + 1)
    except OSError as exc:
        raise SbomRejected(f"cannot read {path}: {exc.strerror or exc}") from None
    if len(data) > MAX_UPLOAD:
        raise TooLarge(f"{path}: larger than {MAX_UPLOAD // (1024 * 1024)} MiB")
    return data
