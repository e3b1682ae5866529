"""Image-level facts: layers, OS, config metadata."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from layerscan.ecosystems import os_release_families


@dataclass(frozen=True)
class LayerInfo:
    """One filesystem layer of an image, in stacking order (index 0 = base)."""

    index: int
    diff_id: str  # sha256 of the uncompressed tar ("sha256:...")
    digest: str = ""  # compressed blob digest; empty when the layer was stored uncompressed
    created_by: str = ""  # history entry's created_by (the Dockerfile step)
    media_type: str = ""
    size: int = 0  # compressed size in bytes when known


@dataclass(frozen=True)
class OSInfo:
    """Detected operating system. family: debian, ubuntu, alpine, redhat, centos,
    rocky, almalinux, oracle, amazon, fedora, photon, cbl-mariner, azurelinux,
    suse linux enterprise server, opensuse-leap, wolfi, chainguard, ..."""

    family: str
    name: str  # release as the family numbers it: "12", "3.19.1", "22.04", "8.9"
    pretty_name: str = ""
    codename: str = ""
    eosl: bool = False


# os-release ID -> OSInfo.family (analyzers.os.release reads os-release files; SBOM readers map OS names),
# from the distribution records (layerscan.ecosystems.DISTROS)
OS_RELEASE_FAMILIES: Mapping[str, str] = os_release_families()


@dataclass(frozen=True)
class ImageMeta:
    """Metadata of a container image (empty for rootfs/fs targets)."""

    image_id: str = ""  # config digest
    diff_ids: tuple[str, ...] = ()
    repo_tags: tuple[str, ...] = ()
    repo_digests: tuple[str, ...] = ()
    layers: tuple[LayerInfo, ...] = ()
    os: str = ""  # config "os" (linux)
    architecture: str = ""
    variant: str = ""
    config_json: str = ""  # the raw image config JSON text (kept as text so the dataclass stays hashable)
    labels: tuple[tuple[str, str], ...] = field(default=())
    annotations: tuple[tuple[str, str], ...] = ()  # the image manifest's annotations (OCI layout, registry)
    # False when the layers' stacking order is not known (an SBOM that names each package's layer
    # but not the order of the layers): ``layers`` is then numbered as listed, not as stacked
    layer_order_known: bool = True
