"""Pure, frozen data model shared by every stage of the pipeline.

Nothing in here imports another layerscan package: the model is the bottom of
the import graph.
"""

from layerscan.model.image import ImageMeta, LayerInfo, OSInfo
from layerscan.model.package import Package, Unknown
from layerscan.model.sbom import Sbom
from layerscan.model.advisory import Advisory, Affected, Range, Severity, CVSS
from layerscan.model.finding import Finding, MatchDetail

__all__ = [
    "Advisory", "Affected", "CVSS", "Finding", "ImageMeta", "LayerInfo", "MatchDetail",
    "OSInfo", "Package", "Range", "Sbom", "Severity", "Unknown",
]
