"""The software bill of materials of one scan target."""

from __future__ import annotations

from dataclasses import dataclass

from layerscan.model.image import ImageMeta, OSInfo
from layerscan.model.package import Package, Unknown


@dataclass(frozen=True)
class Sbom:
    artifact_name: str
    artifact_type: str  # container_image, rootfs, filesystem, sbom
    os: OSInfo | None = None
    image: ImageMeta | None = None
    packages: tuple[Package, ...] = ()
    unknowns: tuple[Unknown, ...] = ()
