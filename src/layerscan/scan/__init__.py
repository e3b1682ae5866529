"""The scan as a library.

    scan.inventory   source -> walk -> analyzers -> squash -> Sbom (``scan_image``, ``scan_directory``)
    scan.config      ScanConfig: what a whole scan is asked to do (frozen, typed)
    scan.pipeline    Scanner(...).run(config) -> ScanOutcome: inventory, database refresh,
                     matching, end-of-life, policy and the report document
    scan.vulns       the matching step; scan.dbrefresh the refresh-before-scan step

The inventory API is re-exported here; import the pipeline from ``scan.pipeline``.
"""

from layerscan.scan.inventory import MODES, ScanOptions, analyze_image_layers, scan_directory, scan_image

__all__ = ["MODES", "ScanOptions", "analyze_image_layers", "scan_directory", "scan_image"]
