"""Syft's own JSON (``syft -o syft-json``) -> Components and document facts.

Unlike Syft's CycloneDX and SPDX, it keeps the image: ``source.metadata.layers``
lists the layers in stacking order (``digest`` is the diff ID each package's
``locations[].layerID`` names) and ``source.metadata.config`` is the image
config (base64), whose history gives each layer's ``created_by``. Artifacts
become components carrying the properties Syft's CycloneDX writes for them
(``syft:location:N:layerID``, ``syft:package:metadataType``, ``syft:metadata:*``),
so the shared builder reads all three formats alike.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping

from layerscan.errors import ImageError
from layerscan.model import OSInfo
from layerscan.source.sbom.builder import MAX_COMPONENTS, Component, DocFacts, LayerRef
from layerscan.source.sbom.purls import os_from_name
from layerscan.textload import LoadError, as_dict, as_list, as_str, parse_json

MAX_CONFIG_BYTES = 4 * 1024 * 1024  # an image config is a few KB; history of 1,000 steps is ~200 KB
MAX_LOCATIONS = 64  # locations kept per artifact (the first is the primary evidence)
_DIGEST_PREFIX = "sha256:"


def is_syft_json(doc: Mapping[str, object]) -> bool:
    schema = as_dict(doc.get("schema"))
    return "anchore/syft" in as_str(schema.get("url")) or (
        isinstance(doc.get("artifacts"), list) and as_str(as_dict(doc.get("descriptor")).get("name")) == "syft")


def _scalar(value: object) -> str:
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        return ""
    return str(value).strip()


def _properties(artifact: Mapping[str, object]) -> tuple[tuple[str, str], ...]:
    props: list[tuple[str, str]] = []
    for i, loc in enumerate(as_list(artifact.get("locations"))[:MAX_LOCATIONS]):
        loc = as_dict(loc)
        for key, name in (("layerID", "layerID"), ("path", "path")):
            if as_str(loc.get(key)):
                props.append((f"syft:location:{i}:{name}", as_str(loc.get(key))))
    if as_str(artifact.get("metadataType")):
        props.append(("syft:package:metadataType", as_str(artifact.get("metadataType"))))
    for key, value in as_dict(artifact.get("metadata")).items():
        if isinstance(key, str) and _scalar(value):
            props.append((f"syft:metadata:{key}", _scalar(value)))
    return tuple(props)


def _licenses(artifact: Mapping[str, object]) -> tuple[str, ...]:
    out = []
    for lic in as_list(artifact.get("licenses")):
        text = as_str(lic) if isinstance(lic, str) else (as_str(as_dict(lic).get("spdxExpression"))
                                                         or as_str(as_dict(lic).get("value")))
        if text:
            out.append(text)
    return tuple(out)


def _component(artifact: Mapping[str, object]) -> Component:
    name = as_str(artifact.get("name"))
    return Component(ref=as_str(artifact.get("id")) or name, name=name, version=as_str(artifact.get("version")),
                     purl=as_str(artifact.get("purl")), properties=_properties(artifact),
                     licenses=_licenses(artifact))


def _config(metadata: Mapping[str, object]) -> dict[str, object]:
    """The image config Syft embeds (base64 JSON); {} when absent, oversized or unreadable."""
    raw = as_str(metadata.get("config"))
    if not raw or len(raw) > MAX_CONFIG_BYTES * 4 // 3 + 4:
        return {}
    try:
        config = parse_json(base64.b64decode(raw, validate=True))
    except (binascii.Error, LoadError):
        return {}
    return as_dict(config)


def _created_by(config: Mapping[str, object], count: int) -> list[str]:
    """The ``created_by`` of each filesystem layer, when the history has one step per layer."""
    steps = [as_dict(h) for h in as_list(config.get("history"))]
    created = [h["created_by"] if isinstance(h.get("created_by"), str) else "" for h in steps
               if h.get("empty_layer") is not True]  # verbatim, as the config has it
    return created if len(created) == count else [""] * count


def _layers(metadata: Mapping[str, object], config: Mapping[str, object]) -> tuple[LayerRef, ...]:
    digests = [as_str(as_dict(layer).get("digest")) for layer in as_list(metadata.get("layers"))]
    if not digests or not all(d.startswith(_DIGEST_PREFIX) for d in digests) or len(set(digests)) != len(digests):
        return ()  # an unreadable list orders nothing
    return tuple(LayerRef(diff_id=d, index=i, created_by=c)
                 for i, (d, c) in enumerate(zip(digests, _created_by(config, len(digests)))))


def _os(distro: Mapping[str, object]) -> OSInfo | None:
    return os_from_name(as_str(distro.get("id")), as_str(distro.get("versionID")) or as_str(distro.get("version")),
                        pretty_name=as_str(distro.get("prettyName")), codename=as_str(distro.get("versionCodename")))


def read_syft_json(doc: Mapping[str, object], location: str) -> tuple[DocFacts, list[Component]]:
    artifacts = [as_dict(a) for a in as_list(doc.get("artifacts"))]
    if len(artifacts) > MAX_COMPONENTS:
        raise ImageError(f"{location}: more than {MAX_COMPONENTS} artifacts; refusing the SBOM")
    source = as_dict(doc.get("source"))
    metadata = as_dict(source.get("metadata")) if as_str(source.get("type")) == "image" else {}
    config = _config(metadata)
    labels = as_dict(as_dict(config.get("config")).get("Labels"))
    facts = DocFacts(
        artifact_name=as_str(metadata.get("userInput")) or as_str(source.get("name")) or location,
        os=_os(as_dict(doc.get("distro"))), layers=_layers(metadata, config),
        image_id=as_str(metadata.get("imageID")),
        repo_tags=tuple(t for t in (as_str(x) for x in as_list(metadata.get("tags"))) if t),
        config_json=json.dumps(config) if config else "",
        labels=tuple((str(k), _scalar(v)) for k, v in labels.items() if _scalar(v)))
    return facts, [_component(a) for a in artifacts if a]
