"""CycloneDX JSON (1.2-1.6) -> Components and document facts.

Ours, Trivy's and Syft's documents are read alike: packages are the
components with a purl (nested components included), ``metadata.component``
is the scanned artifact (its ``pkg:oci`` purl, when it has one, the image's repo digest), a
component of type ``operating-system`` is the OS.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping

from layerscan.errors import ImageError
from layerscan.model import OSInfo
from layerscan.source.sbom.builder import (MAX_COMPONENTS, MAX_DEPTH, Component, DocFacts, Props, first,
                                           properties)
from layerscan.source.sbom.purls import os_from_name, parse_purl
from layerscan.textload import as_dict, as_list, as_str


def is_cyclonedx(doc: Mapping[str, object]) -> bool:
    return doc.get("bomFormat") == "CycloneDX"


def _licenses(comp: Mapping[str, object]) -> tuple[str, ...]:
    out: list[str] = []
    for entry in as_list(comp.get("licenses")):
        entry = as_dict(entry)
        lic = as_dict(entry.get("license"))
        text = as_str(lic.get("id")) or as_str(lic.get("name")) or as_str(entry.get("expression"))
        if text:
            out.append(text)
    return tuple(out)


def _walk(components: object, location: str) -> Iterator[Mapping[str, object]]:
    """Every component, nested ones included, depth- and count-bounded."""
    stack: list[tuple[int, object]] = [(0, c) for c in reversed(as_list(components))]
    seen = 0
    while stack:
        depth, item = stack.pop()
        comp = as_dict(item)
        if not comp:
            continue
        seen += 1
        if seen > MAX_COMPONENTS:
            raise ImageError(f"{location}: more than {MAX_COMPONENTS} components; refusing the SBOM")
        yield comp
        children = as_list(comp.get("components"))
        if children and depth + 1 >= MAX_DEPTH:
            raise ImageError(f"{location}: components nested deeper than {MAX_DEPTH} levels")
        stack.extend((depth + 1, c) for c in reversed(children))


def _qualified_name(group: str, name: str) -> str:
    """Our package name from CycloneDX ``group`` + ``name``: an npm scope joins with
    "/" ("@babel/core"), any other group (a Maven groupId) with ":"."""
    if not group or ":" in name or name.startswith(group + "/"):
        return name
    return f"{group}/{name}" if group.startswith("@") else f"{group}:{name}"


def _component(comp: Mapping[str, object]) -> Component:
    name = as_str(comp.get("name"))
    group = as_str(comp.get("group"))
    return Component(ref=as_str(comp.get("bom-ref")) or name,
                     name=_qualified_name(group, name),
                     version=as_str(comp.get("version")), purl=as_str(comp.get("purl")),
                     properties=properties(comp.get("properties")), licenses=_licenses(comp),
                     kind=as_str(comp.get("type")).lower())


def _os(comp: Mapping[str, object]) -> OSInfo | None:
    props: Props = properties(comp.get("properties"))
    name = first(props, "syft:distro:id") or as_str(comp.get("name"))
    version = as_str(comp.get("version")) or first(props, "syft:distro:versionID")
    found = os_from_name(name, version, pretty_name=first(props, "syft:distro:prettyName"),
                         codename=first(props, "syft:distro:versionCodename"))
    if found and first(props, "layerscan:os:eosl") == "true":
        found = OSInfo(found.family, found.name, found.pretty_name, found.codename, eosl=True)
    return found


def read_cyclonedx(doc: Mapping[str, object], location: str) -> tuple[DocFacts, list[Component]]:
    metadata = as_dict(doc.get("metadata"))
    root = as_dict(metadata.get("component"))
    os_info: OSInfo | None = None
    components: list[Component] = []
    for comp in _walk(doc.get("components"), location):
        if comp.get("type") == "operating-system":
            os_info = os_info or _os(comp)
            continue
        components.append(_component(comp))
    artifact = as_str(root.get("name")) or location
    notes = () if str(doc.get("specVersion", "")).startswith("1.") else (
        f"unexpected CycloneDX specVersion {str(doc.get('specVersion'))[:20]!r}; read as 1.6",)
    return DocFacts(artifact_name=artifact, os=os_info, image_props=properties(root.get("properties")),
                    repo_digests=_oci_digest(as_str(root.get("purl"))), notes=notes), components


def _oci_digest(purl_text: str) -> tuple[str, ...]:
    """The repo digest a ``pkg:oci/name@sha256:...?repository_url=registry/repo`` purl names (the
    described image's manifest digest, as Trivy writes it); () for anything else."""
    purl = parse_purl(purl_text)
    if purl is None or purl.type != "oci" or not re.fullmatch(r"sha256:[0-9a-f]{64}", purl.version or ""):
        return ()
    quals = purl.qualifiers if isinstance(purl.qualifiers, dict) else {}
    return (f"{quals.get('repository_url') or purl.name}@{purl.version}",)
