"""SPDX 2.x JSON -> Components and document facts.

Packages with a ``purl`` external reference are the packages; the OS is a
package of ``primaryPackagePurpose`` OPERATING-SYSTEM (else the purls'
``distro`` qualifier); the described element is the artifact. Trivy writes its
properties as annotations ("LayerDiffID: sha256:..."); they are read back as
``aquasecurity:trivy:*`` properties, ours ("layerscan:key=value", the layers and
their order included) as the ``layerscan:*`` properties of our CycloneDX. Syft
names a package's layer on the file that evidences it (``files[].comment``
"layerID: sha256:...", linked by an "evident-by" relationship); it is read back
as ``syft:location:0:layerID``.
"""

from __future__ import annotations

from collections.abc import Mapping

from layerscan.errors import ImageError
from layerscan.model import OSInfo
from layerscan.source.sbom.builder import MAX_COMPONENTS, Component, DocFacts, Props
from layerscan.source.sbom.purls import os_from_name
from layerscan.textload import as_dict, as_list, as_str

_NO_VALUE = frozenset({"", "NOASSERTION", "NONE"})
_TRIVY_PREFIX = "aquasecurity:trivy:"
_OUR_PREFIX = "layerscan:"
_SYFT_LAYER = "layerID: "


def is_spdx(doc: Mapping[str, object]) -> bool:
    return isinstance(doc.get("spdxVersion"), str) and str(doc["spdxVersion"]).startswith("SPDX-")


def _purl(pkg: Mapping[str, object]) -> str:
    for ref in as_list(pkg.get("externalRefs")):
        ref = as_dict(ref)
        if as_str(ref.get("referenceType")).lower() == "purl":
            return as_str(ref.get("referenceLocator"))
    return ""


def _annotation_props(pkg: Mapping[str, object]) -> Props:
    """Trivy's "Key: value" annotations as aquasecurity:trivy:Key properties; ours
    ("layerscan:key=value", layers included) as the layerscan:key properties of our CycloneDX."""
    out: list[tuple[str, str]] = []
    for ann in as_list(pkg.get("annotations")):
        ann = as_dict(ann)
        annotator = as_str(ann.get("annotator")).lower()
        raw = ann.get("comment")
        comment = raw if isinstance(raw, str) else ""
        if annotator.startswith("tool: layerscan") and comment.startswith(_OUR_PREFIX):
            key, sep, value = comment.partition("=")
            if sep:
                out.append((key, value))  # verbatim: created_by keeps its spaces
            continue
        if not annotator.startswith("tool: trivy"):
            continue
        key, sep, value = as_str(comment).partition(": ")
        if sep and key.isalnum():
            out.append((_TRIVY_PREFIX + key, value.strip()))
    return tuple(out)


def _licenses(pkg: Mapping[str, object]) -> tuple[str, ...]:
    for key in ("licenseDeclared", "licenseConcluded"):
        text = as_str(pkg.get(key))
        if text not in _NO_VALUE:
            return (text,)
    return ()


def _evidence_layers(doc: Mapping[str, object]) -> dict[str, str]:
    """Package SPDXID -> the layer of the first file Syft says evidences it."""
    file_layer = {}
    for item in as_list(doc.get("files"))[:MAX_COMPONENTS]:
        item = as_dict(item)
        comment = as_str(item.get("comment"))
        if comment.startswith(_SYFT_LAYER):
            file_layer[as_str(item.get("SPDXID"))] = comment[len(_SYFT_LAYER):].strip()
    out: dict[str, str] = {}
    if not file_layer:
        return out
    for rel in as_list(doc.get("relationships")):
        rel = as_dict(rel)
        layer = file_layer.get(as_str(rel.get("relatedSpdxElement")))
        if layer and as_str(rel.get("comment")).startswith("evident-by"):
            out.setdefault(as_str(rel.get("spdxElementId")), layer)
    return out


def _component(pkg: Mapping[str, object], layer: str = "") -> Component:
    props = _annotation_props(pkg) + ((("syft:location:0:layerID", layer),) if layer else ())
    return Component(ref=as_str(pkg.get("SPDXID")), name=as_str(pkg.get("name")),
                     version=as_str(pkg.get("versionInfo")), purl=_purl(pkg),
                     properties=props, licenses=_licenses(pkg),
                     source_info=as_str(pkg.get("sourceInfo")), kind=_purpose(pkg).lower())


def _described(doc: Mapping[str, object]) -> set[str]:
    ids = {as_str(x) for x in as_list(doc.get("documentDescribes"))}
    for rel in as_list(doc.get("relationships")):
        rel = as_dict(rel)
        if as_str(rel.get("relationshipType")) == "DESCRIBES" and \
                as_str(rel.get("spdxElementId")) == "SPDXRef-DOCUMENT":
            ids.add(as_str(rel.get("relatedSpdxElement")))
    ids.discard("")
    return ids


def _purpose(pkg: Mapping[str, object]) -> str:
    return as_str(pkg.get("primaryPackagePurpose")).upper().replace("_", "-")


def read_spdx(doc: Mapping[str, object], location: str) -> tuple[DocFacts, list[Component]]:
    packages = [as_dict(p) for p in as_list(doc.get("packages"))]
    if len(packages) > MAX_COMPONENTS:
        raise ImageError(f"{location}: more than {MAX_COMPONENTS} packages; refusing the SBOM")
    described = _described(doc)
    layers = _evidence_layers(doc)
    os_info: OSInfo | None = None
    root: Mapping[str, object] = {}
    components: list[Component] = []
    for pkg in packages:
        purpose = _purpose(pkg)
        if purpose == "OPERATING-SYSTEM":
            os_info = os_info or os_from_name(as_str(pkg.get("name")), as_str(pkg.get("versionInfo")))
            continue
        if purpose == "CONTAINER" or (as_str(pkg.get("SPDXID")) in described and not root):
            root = root or pkg
            if purpose == "CONTAINER" or not _purl(pkg):
                continue
        components.append(_component(pkg, layers.get(as_str(pkg.get("SPDXID")), "")))
    artifact = as_str(root.get("name")) or as_str(doc.get("name")) or location
    image_props = _annotation_props(root) if root else ()
    return DocFacts(artifact_name=artifact, os=os_info, image_props=image_props), components
