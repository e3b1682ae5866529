"""OCI / Docker manifest parsing and platform selection, shared by every source.

Both the registry client and the OCI layout reader see the same documents
(image manifests, image indexes / manifest lists), so the rules live here once:
which media types we accept, how a descriptor looks, and how a platform is
picked from an index.
"""

from __future__ import annotations

import platform as _host
import re
from abc import abstractmethod
from dataclasses import dataclass

from layerscan.errors import ImageError
from layerscan.source.base import ImageConfig, ImageSource, LayerDescriptor, created_by_per_layer, diff_ids

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_SCHEMA1 = ("application/vnd.docker.distribution.manifest.v1+json",
                  "application/vnd.docker.distribution.manifest.v1+prettyjws")

IMAGE_MANIFEST_TYPES = (OCI_MANIFEST, DOCKER_MANIFEST)
INDEX_TYPES = (OCI_INDEX, DOCKER_LIST)
MANIFEST_ACCEPT = ", ".join(IMAGE_MANIFEST_TYPES + INDEX_TYPES)

OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"

LAYER_MEDIA_TYPES = frozenset({
    "application/vnd.oci.image.layer.v1.tar",
    "application/vnd.oci.image.layer.v1.tar+gzip",
    "application/vnd.oci.image.layer.v1.tar+zstd",
    "application/vnd.oci.image.layer.nondistributable.v1.tar",
    "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
    "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd",
    "application/vnd.docker.image.rootfs.diff.tar",
    "application/vnd.docker.image.rootfs.diff.tar.gzip",
    "application/vnd.docker.image.rootfs.diff.tar.zstd",
    "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
})

MAX_MANIFEST_BYTES = 4 * 1024 * 1024  # the limit distribution itself applies
MAX_CONFIG_BYTES = 32 * 1024 * 1024
MAX_INDEX_DEPTH = 4
_DIGEST_RE = re.compile(r"^(sha256:[0-9a-f]{64}|sha512:[0-9a-f]{128})$")


@dataclass(frozen=True)
class Platform:
    os: str
    architecture: str
    variant: str = ""

    def __str__(self) -> str:
        return "/".join(p for p in (self.os, self.architecture, self.variant) if p)


@dataclass(frozen=True)
class Descriptor:
    media_type: str
    digest: str
    size: int
    platform: Platform | None = None
    annotations: tuple[tuple[str, str], ...] = ()

    def annotation(self, key: str) -> str:
        return dict(self.annotations).get(key, "")


@dataclass(frozen=True)
class ImageManifest:
    """A single-platform image manifest: one config and the layers in order."""

    digest: str
    media_type: str
    config: Descriptor
    layers: tuple[Descriptor, ...]
    annotations: tuple[tuple[str, str], ...] = ()  # the manifest's own (org.opencontainers.image.base.name, ...)


def check_digest(value: object, what: str) -> str:
    """Validate a digest string (also keeps it safe to use in paths and URLs)."""
    if not isinstance(value, str) or not _DIGEST_RE.match(value):
        raise ImageError(f"{what}: invalid digest {str(value)[:100]!r}")
    return value


def parse_descriptor(obj: object, what: str) -> Descriptor:
    if not isinstance(obj, dict):
        raise ImageError(f"{what}: descriptor is not an object")
    digest = check_digest(obj.get("digest"), what)
    size = obj.get("size", -1)
    if not isinstance(size, int) or isinstance(size, bool) or size < -1:
        raise ImageError(f"{what}: invalid size {size!r}")
    media_type = obj.get("mediaType", "")
    plat = obj.get("platform")
    annotations = obj.get("annotations") or {}
    return Descriptor(
        media_type=media_type if isinstance(media_type, str) else "",
        digest=digest, size=size,
        platform=_parse_platform_obj(plat) if isinstance(plat, dict) else None,
        annotations=tuple(sorted((str(k), str(v)) for k, v in annotations.items()))
        if isinstance(annotations, dict) else (),
    )


def _parse_platform_obj(obj: dict) -> Platform:
    return Platform(str(obj.get("os", "")), str(obj.get("architecture", "")),
                    str(obj.get("variant", "") or ""))


def document_media_type(doc: dict, hint: str = "") -> str:
    """The document's media type: its own field, else the hint, else guessed from shape
    (umoci and some registries omit ``mediaType``)."""
    mt = doc.get("mediaType")
    if isinstance(mt, str) and mt:
        return mt
    if hint:
        return hint
    if "manifests" in doc:
        return OCI_INDEX
    if "layers" in doc and "config" in doc:
        return OCI_MANIFEST
    if doc.get("schemaVersion") == 1:
        return DOCKER_SCHEMA1[0]
    return ""


def ensure_supported(media_type: str, what: str) -> None:
    if media_type in DOCKER_SCHEMA1:
        raise ImageError(f"{what}: unsupported manifest media type {media_type} "
                         "(Docker schema 1 is deprecated; re-push the image with a current client)")
    if media_type not in IMAGE_MANIFEST_TYPES and media_type not in INDEX_TYPES:
        raise ImageError(f"{what}: unsupported manifest media type {media_type or '(none)'!r}")


def parse_image_manifest(doc: dict, digest: str, media_type: str, what: str) -> ImageManifest:
    config = parse_descriptor(doc.get("config"), f"{what} config")
    if config.media_type and config.media_type not in (OCI_CONFIG, DOCKER_CONFIG):
        raise ImageError(f"{what}: unsupported config media type {config.media_type!r} "
                         "(not a container image; an OCI artifact?)")
    raw_layers = doc.get("layers")
    if not isinstance(raw_layers, list):
        raise ImageError(f"{what}: manifest has no layers list")
    layers = tuple(parse_descriptor(item, f"{what} layer {i}") for i, item in enumerate(raw_layers))
    for layer in layers:
        if layer.media_type not in LAYER_MEDIA_TYPES:
            raise ImageError(f"{what}: unsupported layer media type {layer.media_type!r} "
                             f"for {layer.digest}")
    raw_annotations = doc.get("annotations")
    annotations = tuple(sorted((str(k), str(v)) for k, v in raw_annotations.items())
                        if isinstance(raw_annotations, dict) else ())
    return ImageManifest(digest=digest, media_type=media_type, config=config, layers=layers,
                         annotations=annotations)


def parse_index(doc: dict, what: str) -> list[Descriptor]:
    items = doc.get("manifests")
    if not isinstance(items, list):
        raise ImageError(f"{what}: index has no manifests list")
    return [parse_descriptor(item, f"{what} entry {i}") for i, item in enumerate(items)]


def host_platform() -> Platform:
    machine = _host.machine().lower()
    arch = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}.get(machine, "amd64")
    return Platform("linux", arch, "v8" if arch == "arm64" else "")


def parse_platform(text: str) -> Platform:
    """``os/arch[/variant]``; empty -> linux/<host arch>."""
    if not text:
        return host_platform()
    parts = text.strip().split("/")
    if len(parts) not in (2, 3) or not all(parts):
        raise ImageError(f"invalid platform {text!r}: expected os/arch[/variant]")
    return Platform(parts[0], parts[1], parts[2] if len(parts) == 3 else "")


def _variant_ok(wanted: Platform, candidate: Platform) -> bool:
    if not wanted.variant or wanted.variant == candidate.variant:
        return True
    # arm64 images commonly omit the v8 variant
    return wanted.architecture == "arm64" and wanted.variant == "v8" and not candidate.variant


def select_platform(entries: list[Descriptor], platform: str, what: str) -> Descriptor:
    """Pick the entry for ``platform`` (``""`` = host default) from an index."""
    wanted = parse_platform(platform)
    images = [e for e in entries if not (e.platform and e.platform.os == "unknown")]  # skip attestations
    for entry in images:
        if entry.platform and _platform_matches(wanted, entry.platform):
            return entry
    if not platform and len(images) == 1:
        return images[0]
    available = ", ".join(sorted({str(e.platform) for e in images if e.platform})) or "none"
    raise ImageError(f"{what}: no manifest for platform {wanted} (available: {available})",
                     hint="pick one with --platform os/arch[/variant]")


def _platform_matches(wanted: Platform, p: Platform) -> bool:
    return p.os == wanted.os and p.architecture == wanted.architecture and _variant_ok(wanted, p)


def check_image_platform(config: dict, platform: str, what: str) -> None:
    """An explicitly requested ``--platform`` must match a single-platform image's config
    (an index was already resolved by platform; this catches plain manifests and archives)."""
    if not platform:
        return
    wanted = parse_platform(platform)
    os_name, arch = config.get("os"), config.get("architecture")
    if not isinstance(os_name, str) or not isinstance(arch, str) or not os_name or not arch:
        return  # no platform recorded: nothing to contradict
    variant = config.get("variant") if isinstance(config.get("variant"), str) else ""
    actual = Platform(os_name, arch, variant or "")
    if not _platform_matches(wanted, actual):
        raise ImageError(f"{what}: no image for platform {wanted} (available: {actual})",
                         hint=f"drop --platform, or pass --platform {actual}")


class ManifestImageSource(ImageSource):
    """An image described by a single-platform manifest (OCI layout, registry): the config
    blob is read once through ``read_config``; layers join the manifest with the config."""

    manifest: ImageManifest
    index_entries: tuple[Descriptor, ...] = ()  # the index ``manifest`` was picked from (attestations live there)
    _config: ImageConfig | None = None
    _layers: list[LayerDescriptor] | None = None

    @abstractmethod
    def read_config(self, digest: str) -> bytes:
        """The raw config blob, bounded by MAX_CONFIG_BYTES and digest-verified."""

    @abstractmethod
    def read_manifest(self, digest: str) -> bytes:
        """Another manifest of the image's index (an attestation manifest), bounded by
        MAX_MANIFEST_BYTES and digest-verified."""

    @abstractmethod
    def read_blob(self, digest: str, limit: int, what: str) -> bytes:
        """A small blob (an attestation statement) in memory: ImageError above ``limit`` bytes;
        digest-verified."""

    def config(self) -> ImageConfig:
        if self._config is None:
            digest = self.manifest.config.digest
            self._config = ImageConfig(digest=digest, raw=self.read_config(digest))
        return self._config

    def layers(self) -> list[LayerDescriptor]:
        if self._layers is None:
            self._layers = layer_descriptors(self.manifest, self.config().parsed())
        return self._layers

    @property
    def annotations(self) -> tuple[tuple[str, str], ...]:  # type: ignore[override]
        return self.manifest.annotations


def layer_descriptors(manifest: ImageManifest, config: dict) -> list[LayerDescriptor]:
    """Join manifest layers with the config's diff_ids and history."""
    ids = diff_ids(config)
    if len(ids) != len(manifest.layers):
        raise ImageError(f"image {manifest.digest}: {len(manifest.layers)} layers in the manifest "
                         f"but {len(ids)} diff_ids in the config")
    for i in ids:
        check_digest(i, "config rootfs.diff_ids")
    created = created_by_per_layer(config, len(ids))
    return [LayerDescriptor(index=i, digest=d.digest, diff_id=ids[i], media_type=d.media_type,
                            size=d.size, created_by=created[i])
            for i, d in enumerate(manifest.layers)]
