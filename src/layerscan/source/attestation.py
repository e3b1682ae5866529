"""BuildKit provenance attestations stored in an image index ("Image attestation storage",
docs.docker.com/build/metadata/attestations/attestation-storage).

An index entry annotated ``vnd.docker.reference.type: attestation-manifest`` and
``vnd.docker.reference.digest: <image manifest digest>`` is an image manifest whose layers are
attestation blobs; a layer of media type ``application/vnd.in-toto+json`` is an in-toto
statement. SLSA provenance statements name the build's inputs: v0.2 in
``predicate.materials[]``, v1 in ``predicate.buildDefinition.resolvedDependencies[]``, each
``{"uri": ..., "digest": {"sha256": ...}}``; the ``pkg:docker/...`` ones are the images the
build pulled (the bases of every stage, and the frontend image).

Every document is read size-capped and digest-verified, JSON through ``layerscan.textload``
(bounded depth). A bad attestation is never an error: it becomes a warning and is ignored.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from layerscan.errors import LayerscanError
from layerscan.source.base import load_json_document
from layerscan.source.manifest import (Descriptor, ManifestImageSource, check_digest,
                                       parse_descriptor)
from layerscan.source.sbom.purls import parse_purl
from layerscan.textload import as_dict, as_list, as_str

REF_TYPE = "vnd.docker.reference.type"
REF_DIGEST = "vnd.docker.reference.digest"
ATTESTATION_MANIFEST = "attestation-manifest"
IN_TOTO = "application/vnd.in-toto+json"
PREDICATE_ANNOTATION = "in-toto.io/predicate-type"
SLSA_V02 = "https://slsa.dev/provenance/v0.2"
SLSA_V1 = "https://slsa.dev/provenance/v1"
PREDICATES = {SLSA_V02: "SLSA v0.2 provenance", SLSA_V1: "SLSA v1 provenance"}
MAX_STATEMENT_BYTES = 8 * 1024 * 1024
MAX_STATEMENTS = 16  # attestation blobs read per manifest
MAX_MATERIALS = 1000


@dataclass(frozen=True)
class Material:
    """An image the build pulled: ``pkg:docker/<repo>@<tag>?platform=...`` and its digest."""

    uri: str
    digest: str  # "sha256:..."
    repo: str = ""
    tag: str = ""
    platform: str = ""

    @property
    def reference(self) -> str:
        return (self.repo or self.uri) + (f":{self.tag}" if self.tag else "") + f"@{self.digest}"


@dataclass(frozen=True)
class Provenance:
    """What the image's provenance attestation says (empty when there is none)."""

    attestation: str = ""  # digest of the attestation manifest
    predicate_type: str = ""
    materials: tuple[Material, ...] = ()  # the images among the build's inputs, in statement order
    warnings: tuple[str, ...] = ()

    @property
    def kind(self) -> str:
        return PREDICATES.get(self.predicate_type, self.predicate_type)


def attestation_entry(entries: tuple[Descriptor, ...], manifest_digest: str) -> Descriptor | None:
    """The index entry holding the attestations of the image manifest ``manifest_digest``."""
    for entry in entries:
        if entry.annotation(REF_TYPE) == ATTESTATION_MANIFEST and entry.annotation(REF_DIGEST) == manifest_digest:
            return entry
    return None


def read_provenance(source: ManifestImageSource) -> Provenance | None:
    """The provenance attestation of the source's image, None when its index has none."""
    entry = attestation_entry(source.index_entries, source.manifest.digest)
    if entry is None:
        return None
    what = f"attestation manifest {entry.digest}"
    try:
        doc = load_json_document(source.read_manifest(entry.digest), what)
        layers = [parse_descriptor(item, f"{what} layer {i}") for i, item in enumerate(as_list(doc.get("layers")))]
    except LayerscanError as exc:
        return Provenance(entry.digest, warnings=(_ignored(what, exc),))
    warnings: list[str] = []
    for layer in [la for la in layers if la.media_type == IN_TOTO][:MAX_STATEMENTS]:
        if layer.annotation(PREDICATE_ANNOTATION) not in ("", *PREDICATES):
            continue  # an SBOM or another predicate, said by its annotation: not read
        found = _statement(source, layer, source.manifest.digest, warnings)
        if found is not None:
            predicate_type, materials = found
            return Provenance(entry.digest, predicate_type, materials, tuple(warnings))
    if not warnings:
        warnings.append(f"{what}: no SLSA provenance statement; ignored")
    return Provenance(entry.digest, warnings=tuple(warnings))


def _ignored(what: str, exc: LayerscanError) -> str:
    message = str(exc)
    return (message if message.startswith(what) else f"{what}: {message}") + "; ignored"


def _statement(source: ManifestImageSource, layer: Descriptor, subject: str,
               warnings: list[str]) -> tuple[str, tuple[Material, ...]] | None:
    what = f"attestation {layer.digest}"
    if layer.size > MAX_STATEMENT_BYTES:
        warnings.append(f"{what}: {layer.size} bytes, more than {MAX_STATEMENT_BYTES}; ignored")
        return None
    try:
        doc = load_json_document(source.read_blob(layer.digest, MAX_STATEMENT_BYTES, what), what)
    except LayerscanError as exc:
        warnings.append(_ignored(what, exc))
        return None
    predicate_type = as_str(doc.get("predicateType"))
    if predicate_type not in PREDICATES:
        return None
    subjects = [as_str(as_dict(as_dict(s).get("digest")).get("sha256")) for s in as_list(doc.get("subject"))]
    if subjects and subject.partition(":")[2] not in subjects:
        warnings.append(f"{what}: its subject is not this image ({subject}); ignored")
        return None
    predicate = as_dict(doc.get("predicate"))
    items = (as_list(predicate.get("materials")) if predicate_type == SLSA_V02
             else as_list(as_dict(predicate.get("buildDefinition")).get("resolvedDependencies")))
    return predicate_type, tuple(m for m in (_material(i) for i in items[:MAX_MATERIALS]) if m is not None)


def _material(item: Any) -> Material | None:
    """A ``pkg:docker`` material with a valid sha256 digest, None for anything else."""
    uri = as_str(as_dict(item).get("uri"))
    purl = parse_purl(uri)
    if purl is None or purl.type != "docker":
        return None
    try:
        digest = check_digest("sha256:" + as_str(as_dict(as_dict(item).get("digest")).get("sha256")), uri[:200])
    except LayerscanError:
        return None
    repo = "/".join(p for p in (purl.namespace, purl.name) if p)
    qualifiers = purl.qualifiers if isinstance(purl.qualifiers, dict) else {}
    return Material(uri[:1000], digest, repo[:256], (purl.version or "")[:128],
                    str(qualifiers.get("platform", ""))[:64])
