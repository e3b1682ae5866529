"""layerscan.source: open an image (registry, docker archive, OCI layout) as an ImageSource."""

from layerscan.source.base import ImageConfig, ImageSource, LayerDescriptor, SourceOptions
from layerscan.source.open import open_image

__all__ = ["ImageConfig", "ImageSource", "LayerDescriptor", "SourceOptions", "open_image"]
