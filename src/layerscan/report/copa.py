"""``-f copa``: a Copacetic update manifest, API version ``v1alpha2`` (what ``copa patch -r``
reads from a scanner plugin): ``metadata.os`` (type, version), ``metadata.config`` (arch,
variant) and one ``osupdates`` entry per installed OS package and vulnerability the fix
plan fixes (name, installedVersion, fixedVersion, vulnerabilityID, type, class).

Only OS packages: language packages are not Copa's to patch, so ``langupdates`` is empty.
The fix plan is built by the CLI (``remediate.fixplan``) for this format.
"""

from __future__ import annotations

import json
from typing import Any, TextIO

from layerscan.model.package import OS_TYPES
from layerscan.report.document import OS_CLASS, ScanReport

API_VERSION = "v1alpha2"


def manifest(report: ScanReport) -> dict[str, Any]:
    os_info, image = report.os, report.image
    config: dict[str, Any] = {"arch": image.architecture if image else ""}
    if image and image.variant:
        config["variant"] = image.variant
    updates: list[dict[str, str]] = []
    seen: set[tuple[str, str]] = set()
    for item in report.fix_plan.items if report.fix_plan else ():
        if item.type not in OS_TYPES:
            continue
        for name, installed in item.binaries:
            for vuln in item.fixes:
                if (name, vuln) in seen:
                    continue
                seen.add((name, vuln))
                updates.append({"name": name, "installedVersion": installed, "fixedVersion": item.target,
                                "vulnerabilityID": vuln, "type": item.type, "class": OS_CLASS})
    updates.sort(key=lambda u: (u["name"], u["vulnerabilityID"]))
    return {
        "apiVersion": API_VERSION,
        "metadata": {"os": {"type": os_info.family if os_info else "", "version": os_info.name if os_info else ""},
                     "config": config},
        "osupdates": updates,
        "langupdates": [],
    }


def write(report: ScanReport, stream: TextIO) -> None:
    stream.write(json.dumps(manifest(report), indent=2, ensure_ascii=False) + "\n")
