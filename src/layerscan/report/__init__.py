"""Reports: one ScanReport document (document.py), one writer module per format.

``get_writer(fmt)`` returns the format's ``write(report, stream)``; writer
modules are imported only when asked for (start-up time matters).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Callable, TextIO

from layerscan.errors import UsageError

if TYPE_CHECKING:
    from layerscan.report.document import ScanReport

# format name -> writer module
WRITERS: dict[str, str] = {
    "table": "layerscan.report.table",
    "json": "layerscan.report.json_report",
    "cyclonedx": "layerscan.report.cyclonedx",
    "spdx-json": "layerscan.report.spdx",
    "sarif": "layerscan.report.sarif",
    "html": "layerscan.report.html",
    "junit": "layerscan.report.junit",
    "gitlab": "layerscan.report.gitlab",
    "github": "layerscan.report.github",
    "spdx": "layerscan.report.spdx_tv",
    "copa": "layerscan.report.copa",
}
FORMATS = tuple(WRITERS)
# Formats that are an SBOM: they always list every package.
# (Trivy's SupportedSBOMFormats: without --scanners they list packages and scan nothing.)
SBOM_FORMATS = frozenset({"cyclonedx", "spdx-json", "spdx", "github"})

Writer = Callable[..., None]


def get_writer(fmt: str) -> Callable[[ScanReport, TextIO], None]:
    module_name = WRITERS.get(fmt)
    if module_name is None:
        raise UsageError(f"unknown format {fmt!r} (use {', '.join(FORMATS)})")
    return importlib.import_module(module_name).write
