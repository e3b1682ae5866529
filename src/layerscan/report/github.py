"""GitHub dependency submission snapshot (``trivy -f github``): one manifest per
result, every package with a purl resolved under it (packages without one
cannot be submitted and are left out). The commit, ref and job come from the
GitHub Actions environment (GITHUB_SHA, GITHUB_REF, GITHUB_WORKFLOW, GITHUB_JOB,
GITHUB_RUN_ID) when present. An SBOM format: vulnerabilities are not part of it."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from typing import Any, TextIO

from layerscan.model import Package
from layerscan.report.document import Result, ScanReport
from layerscan.report.sarif import INFO_URI
from layerscan.report.text import encodable

SNAPSHOT_VERSION = 0


def resolved_package(p: Package) -> dict[str, Any]:
    return {"package_url": p.purl,
            "relationship": "indirect" if p.indirect else "direct",
            "scope": "development" if p.dev else "runtime",
            "dependencies": []}


def image_reference(report: ScanReport) -> str:
    """"repo:tag@sha256:..." when the image has a tag and a repo digest, else the artifact name."""
    meta = report.image
    if meta and meta.repo_tags and meta.repo_digests and "@" in meta.repo_digests[0]:
        return f"{meta.repo_tags[0]}@{meta.repo_digests[0].split('@', 1)[1]}"
    if meta and meta.repo_tags:
        return meta.repo_tags[0]
    return report.artifact_name


def source_location(r: Result, report: ScanReport) -> str:
    """The image for an image's results (there is no file in the repository), else the target path."""
    if report.artifact_type == "container_image":
        return image_reference(report)
    return r.target


def manifest(r: Result, report: ScanReport) -> dict[str, Any] | None:
    resolved = {p.purl: resolved_package(p) for p in r.packages if p.purl}
    if not resolved:
        return None
    return {"name": r.type or r.target, "file": {"source_location": source_location(r, report)},
            "resolved": resolved}


def job(env: Mapping[str, str]) -> dict[str, str]:
    parts = [env.get("GITHUB_WORKFLOW", ""), env.get("GITHUB_JOB", "")]
    correlator = "_".join(p for p in parts if p) or "layerscan"
    return {"correlator": correlator, "id": env.get("GITHUB_RUN_ID", "")}


def snapshot(report: ScanReport, env: Mapping[str, str] | None = None) -> dict[str, Any]:
    env = os.environ if env is None else env
    manifests: dict[str, dict[str, Any]] = {}
    for r in report.results:
        entry = manifest(r, report)
        if entry is None:
            continue
        if r.target in manifests:  # two results with one target: one manifest
            manifests[r.target]["resolved"].update(entry["resolved"])
        else:
            manifests[r.target] = entry
    return {
        "version": SNAPSHOT_VERSION,
        "detector": {"name": "layerscan", "version": report.tool_version, "url": INFO_URI},
        "job": job(env),
        "sha": env.get("GITHUB_SHA", ""),
        "ref": env.get("GITHUB_REF", ""),
        "scanned": report.created_at,
        "manifests": manifests,
    }


def write(report: ScanReport, stream: TextIO) -> None:
    stream.write(encodable(json.dumps(snapshot(report), indent=2, ensure_ascii=False)))
    stream.write("\n")
