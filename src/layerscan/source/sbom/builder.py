"""What every SBOM format shares once its components are read: components ->
Packages (purl identity, source package, layer), the image's layers, the OS,
and the notes (Unknowns) about what the document did not say.

Format readers produce :class:`Component` records and a :class:`DocFacts`;
:func:`build_sbom` turns them into a :class:`~layerscan.model.Sbom`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace

from layerscan.ecosystems import pep503
from layerscan.model import ImageMeta, LayerInfo, OSInfo, Package, Sbom, Unknown
from layerscan.source.sbom.purls import ARTIFACT_TYPES, os_from_distro, parse_purl, purl_facts

ANALYZER = "sbom"
ARTIFACT_TYPE = "sbom"
# Bounds on a document (the byte size is bounded by the loader).
MAX_COMPONENTS = 200_000
MAX_DEPTH = 32
# OS package types whose advisories are keyed by the source package name.
_SOURCE_MATCHED = frozenset({"deb", "apk"})
# Tool metadata types for which "no upstream/source" means "same as the binary".
_AUTHORITATIVE_SOURCE = frozenset({"dpkg-db-entry", "apk-db-entry"})
_SYFT_DB_INFO = ("acquired package info from DPKG DB", "acquired package info from APK DB")
_PACKAGE_KINDS = frozenset({"library", "framework", ""})
_NOTE_NAMES = 8  # names listed in one aggregated note

Props = tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class Component:
    """One package-like entry of a document, before interpretation."""

    ref: str  # bom-ref / SPDXID, for messages
    name: str
    version: str = ""
    purl: str = ""
    properties: Props = ()  # namespaced "tool:key" -> value, in document order
    licenses: tuple[str, ...] = ()
    source_info: str = ""  # SPDX sourceInfo text
    kind: str = "library"  # CycloneDX type / SPDX purpose, lower-case; "" when not given


@dataclass(frozen=True)
class LayerRef:
    """A layer as a document names it; ``index`` is None when the document does not say
    where the layer is stacked."""

    diff_id: str
    digest: str = ""
    index: int | None = None
    created_by: str = ""


@dataclass(frozen=True)
class DocFacts:
    """Document-level facts: the artifact, its OS, the image's layers."""

    artifact_name: str
    os: OSInfo | None = None
    image_props: Props = ()  # properties of the described artifact (root component)
    notes: tuple[str, ...] = ()
    layers: tuple[LayerRef, ...] = ()  # the image's layers in stacking order, when the format lists them
    image_id: str = ""
    repo_tags: tuple[str, ...] = ()
    repo_digests: tuple[str, ...] = ()  # "repository@sha256:...", e.g. from a pkg:oci purl naming the image
    config_json: str = ""  # the image config, when the document embeds it (Syft JSON)
    labels: Props = ()  # the image config's labels


def first(props: Props, *keys: str) -> str:
    """The first non-empty value of any of ``keys``."""
    for key in keys:
        for name, value in props:
            if name == key and value:
                return value
    return ""


def all_values(props: Props, key: str) -> list[str]:
    return [value for name, value in props if name == key and value]


# ---------------------------------------------------------------- source package

def _join_version(version: str, release: str, epoch: str) -> str:
    text = version + (f"-{release}" if release and version else "")
    return f"{epoch}:{text}" if text and epoch and epoch != "0" else text


def _source_from_info(info: str) -> tuple[str, str]:
    """Trivy's SPDX ``sourceInfo``: "built package from: NAME VERSION"."""
    prefix = "built package from:"
    if not info.lower().startswith(prefix):
        return "", ""
    parts = info[len(prefix):].split()
    return (parts[0], parts[1] if len(parts) > 1 else "") if parts else ("", "")


def source_package(comp: Component, purl_src: tuple[str, str]) -> tuple[str, str]:
    """(src_name, src_version) from the properties any tool writes, else ("", "")."""
    props = comp.properties
    name = first(props, "layerscan:package:src_name", "aquasecurity:trivy:SrcName",
                 "syft:metadata:source") or purl_src[0]
    version = first(props, "layerscan:package:src_version", "syft:metadata:sourceVersion") or purl_src[1]
    if not version and first(props, "aquasecurity:trivy:SrcVersion"):
        version = _join_version(first(props, "aquasecurity:trivy:SrcVersion"),
                                first(props, "aquasecurity:trivy:SrcRelease"),
                                first(props, "aquasecurity:trivy:SrcEpoch"))
    if not name:
        name, info_version = _source_from_info(comp.source_info)
        version = version or info_version
    return name, version


def _source_is_binary(comp: Component) -> bool:
    """Syft's dpkg/apk entries omit the source when it equals the binary package
    (CycloneDX: metadataType property; SPDX: its sourceInfo wording)."""
    return (first(comp.properties, "syft:package:metadataType") in _AUTHORITATIVE_SOURCE
            or comp.source_info.startswith(_SYFT_DB_INFO))


# ---------------------------------------------------------------- layers

def _layer_ref(props: Props) -> LayerRef | None:
    diff_id = first(props, "layerscan:layer:diff_id", "aquasecurity:trivy:LayerDiffID",
                    "syft:location:0:layerID")
    if not diff_id:
        return None
    raw_index = first(props, "layerscan:layer:index")
    index = int(raw_index) if raw_index.isdigit() and len(raw_index) < 7 else None
    return LayerRef(diff_id=diff_id,
                    digest=first(props, "layerscan:layer:digest", "aquasecurity:trivy:LayerDigest"),
                    index=index, created_by=first(props, "layerscan:layer:created_by"))


def _image_layers(facts: DocFacts) -> list[LayerRef]:
    """The image's layers the document lists: in stacking order when it states one (ours:
    ``layerscan:image:layer:N``; Syft JSON: ``source.metadata.layers``), else without an index
    (Trivy's ``DiffID`` properties, which Trivy writes sorted by value, not stacked)."""
    ours: dict[int, LayerRef] = {}
    for name, value in facts.image_props:
        prefix = "layerscan:image:layer:"
        if name.startswith(prefix) and name[len(prefix):].isdigit() and len(name) - len(prefix) < 7:
            diff_id, _, created_by = value.partition(" ")
            index = int(name[len(prefix):])
            ours[index] = LayerRef(diff_id=diff_id, index=index, created_by=created_by)
    if ours:
        return [ours[i] for i in sorted(ours)]
    if facts.layers:
        return [replace(ref, index=i) for i, ref in enumerate(facts.layers)]
    return [LayerRef(diff_id=d) for d in all_values(facts.image_props, "aquasecurity:trivy:DiffID")]


class _Layers:
    """Resolves per-component layer references to shared LayerInfo values."""

    def __init__(self, listed: list[LayerRef], refs: Iterable[LayerRef]) -> None:
        self.guessed_order = False
        merged: dict[str, LayerRef] = {}
        for ref in [*listed, *refs]:
            known = merged.get(ref.diff_id)
            merged[ref.diff_id] = ref if known is None else replace(
                known, digest=known.digest or ref.digest,
                index=known.index if known.index is not None else ref.index,
                created_by=ref.created_by or known.created_by)  # components keep it verbatim
        unordered = [d for d, r in merged.items() if r.index is None]
        if unordered:
            # the document does not order these layers: number them, as they first appear,
            # after the ones it does order, and say so (ImageMeta.layer_order_known)
            self.guessed_order = True
            start = max((r.index for r in merged.values() if r.index is not None), default=-1) + 1
            for offset, diff_id in enumerate(unordered):
                merged[diff_id] = replace(merged[diff_id], index=start + offset)
        self.by_diff_id: dict[str, LayerInfo] = {
            d: LayerInfo(index=r.index or 0, diff_id=d, digest=r.digest, created_by=r.created_by)
            for d, r in merged.items()}

    def get(self, ref: LayerRef | None) -> LayerInfo | None:
        return self.by_diff_id.get(ref.diff_id) if ref else None

    def ordered(self) -> tuple[LayerInfo, ...]:
        return tuple(sorted(self.by_diff_id.values(), key=lambda layer: layer.index))


# ---------------------------------------------------------------- packages

@dataclass
class _Tally:
    """Names behind the aggregated notes."""

    no_purl: list[str] = field(default_factory=list)
    bad_purl: list[str] = field(default_factory=list)
    no_source: list[str] = field(default_factory=list)


def _display_name(pkg_type: str, purl_name: str, component_name: str) -> str:
    """PyPI purls carry the normalised name; the component keeps the project's spelling
    ("Jinja2"), as our analyzers do. Any other disagreement: the purl wins."""
    if pkg_type == "pypi" and component_name and pep503(component_name) == purl_name:
        return component_name
    return purl_name


def _file_path(comp: Component, pkg_type: str) -> str:
    path = first(comp.properties, "layerscan:package:file_path", "aquasecurity:trivy:FilePath")
    if not path and pkg_type not in _SOURCE_MATCHED | {"rpm"}:
        path = first(comp.properties, "syft:location:0:path").lstrip("/")
    return path


def _package(comp: Component, layers: _Layers, tally: _Tally) -> Package | None:
    purl = parse_purl(comp.purl)
    if purl is None:
        if comp.purl:
            tally.bad_purl.append(comp.name or comp.ref)
        elif comp.kind in _PACKAGE_KINDS:  # lockfile/application/file entries carry no purl by design
            tally.no_purl.append(comp.name or comp.ref)
        return None
    if purl.type in ARTIFACT_TYPES:
        return None
    facts = purl_facts(purl)
    name = _display_name(facts.type, facts.name, comp.name)
    src_name, src_version = source_package(comp, (facts.src_name, facts.src_version))
    version = facts.version or comp.version
    if facts.type in _SOURCE_MATCHED and not src_name:
        if not _source_is_binary(comp):
            tally.no_source.append(name)
        src_name = name
    if src_name and not src_version and facts.type in _SOURCE_MATCHED:
        src_version = version
    pkg = Package(
        name=name, version=version, type=facts.type, purl=comp.purl, arch=facts.arch,
        src_name=src_name, src_version=src_version, file_path=_file_path(comp, facts.type),
        licenses=comp.licenses, found_by=ANALYZER, evidence="sbom",
        os_owner=first(comp.properties, "layerscan:package:os_owner"),
        layer=layers.get(_layer_ref(comp.properties)))
    if not version:
        pkg = replace(pkg, version_unknown_reason="no version in the SBOM")
    return pkg


def _note(template: str, names: list[str]) -> str:
    shown = ", ".join(names[:_NOTE_NAMES]) + (", ..." if len(names) > _NOTE_NAMES else "")
    return template.format(n=len(names), names=shown)


def _notes(tally: _Tally, layers: _Layers) -> list[str]:
    notes = []
    if tally.no_source:
        notes.append(_note("no source package for {n} OS package(s) ({names}): "
                           "matched by the binary package name", tally.no_source))
    if tally.no_purl:
        notes.append(_note("{n} component(s) without a purl skipped ({names})", tally.no_purl))
    if tally.bad_purl:
        notes.append(_note("{n} component(s) with an invalid purl skipped ({names})", tally.bad_purl))
    if layers.guessed_order:
        notes.append("the SBOM names the layers but not their order: layers are numbered as they first appear, "
                     "and base layers cannot be excluded (--exclude-base-layers)")
    return notes


# ---------------------------------------------------------------- document

def _os_from_packages(packages: Iterable[Package]) -> OSInfo | None:
    """The OS the first ``distro`` qualifier names (Syft's SPDX has no OS package)."""
    for pkg in packages:
        purl = parse_purl(pkg.purl)
        if purl is None:
            continue
        facts = purl_facts(purl)
        found = os_from_distro(facts.distro, facts.namespace) if facts.distro else None
        if found:
            return found
    return None


def _image_meta(facts: DocFacts, layers: _Layers) -> ImageMeta | None:
    props = facts.image_props
    image_id = first(props, "layerscan:image:id", "aquasecurity:trivy:ImageID") or facts.image_id
    ordered = layers.ordered()
    if not (image_id or ordered or facts.repo_digests):
        return None
    return ImageMeta(image_id=image_id, diff_ids=tuple(layer.diff_id for layer in ordered),
                     repo_tags=tuple(all_values(props, "layerscan:image:repo_tag")
                                     or all_values(props, "aquasecurity:trivy:RepoTag")) or facts.repo_tags,
                     repo_digests=tuple(all_values(props, "layerscan:image:repo_digest")
                                        or all_values(props, "aquasecurity:trivy:RepoDigest")) or facts.repo_digests,
                     layers=ordered, config_json=facts.config_json, labels=facts.labels,
                     layer_order_known=not layers.guessed_order)


def build_sbom(facts: DocFacts, components: list[Component], location: str) -> Sbom:
    """The Sbom of a document; ``location`` (the file) names the notes."""
    layers = _Layers(_image_layers(facts),
                     (r for r in (_layer_ref(c.properties) for c in components) if r))
    tally = _Tally()
    packages = tuple(p for p in (_package(c, layers, tally) for c in components) if p)
    os_info = facts.os or _os_from_packages(packages)
    unknowns = tuple(Unknown(path=location, reason=text, analyzer=ANALYZER)
                     for text in [*facts.notes, *_notes(tally, layers)])
    return Sbom(artifact_name=facts.artifact_name, artifact_type=ARTIFACT_TYPE, os=os_info,
                image=_image_meta(facts, layers), packages=packages, unknowns=unknowns)


def properties(items: object) -> Props:
    """A CycloneDX ``properties`` array as pairs (malformed entries dropped)."""
    if not isinstance(items, list):
        return ()
    return tuple((str(p["name"]), str(p.get("value", ""))) for p in items
                 if isinstance(p, dict) and isinstance(p.get("name"), str)
                 and isinstance(p.get("value", ""), (str, int, float)))
