"""GitLab container-scanning report (``gl-container-scanning-report.json``,
security report schema 15.0.x): the scan (analyzer and scanner: layerscan), one
vulnerability per shown finding with a stable id, GitLab's severity words, an
upgrade solution when a fix exists, the package / OS / image location, and
identifiers (the vulnerability id first, then aliases and CWEs) and links.
Suppressed findings are not listed: GitLab would show them as open.

With ``--fix-plan``, ``remediations[]`` has one entry per fix-plan group that has a Dockerfile
patch (``remediate.fixpatch``; the schema requires ``diff``): ``fixes`` are the ids of the
vulnerabilities the group closes, ``summary`` its command, ``diff`` the patch in base64.
Groups without an exact patch are not remediations (their command is in the plan)."""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import json
import uuid
from typing import Any, TextIO

from layerscan.model import Finding
from layerscan.report.document import Result, ScanReport
from layerscan.report.fingerprint import fingerprint
from layerscan.report.fixplan import FixGroup, fixed_findings, summary
from layerscan.report.text import encodable
from layerscan.report.vulninfo import primary_url

SCHEMA_VERSION = "15.0.7"
SCHEMA_URL = ("https://gitlab.com/gitlab-org/security-products/security-report-schemas/-/raw/"
              f"v{SCHEMA_VERSION}/dist/container-scanning-report-format.json")
TOOL = {"id": "layerscan", "name": "layerscan", "vendor": {"name": "layerscan"}}
SEVERITY = {"CRITICAL": "Critical", "HIGH": "High", "MEDIUM": "Medium", "LOW": "Low", "UNKNOWN": "Unknown"}

# The schema's length limits.
MAX_NAME, MAX_DESCRIPTION, MAX_SOLUTION, MAX_IDENTIFIERS = 255, 1_048_576, 7_000, 20

_ID_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "https://github.com/layerscan/layerscan#gitlab")


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def gitlab_time(rfc3339: str) -> str:
    """The schema's "yyyy-mm-ddThh:mm:ss" (UTC, no zone) from an RFC 3339 timestamp."""
    try:
        when = dt.datetime.fromisoformat(rfc3339)
    except ValueError:
        when = dt.datetime.now(dt.UTC)
    if when.tzinfo is not None:
        when = when.astimezone(dt.UTC)
    return when.strftime("%Y-%m-%dT%H:%M:%S")


def vulnerability_uuid(artifact_name: str, f: Finding) -> str:
    """Stable across runs, tags and digests: a UUID version 5 of the finding key
    (report/fingerprint.py), the identity SARIF's partialFingerprints carry too."""
    return str(uuid.uuid5(_ID_NAMESPACE, fingerprint(artifact_name, f)))


def identifier_type(vid: str) -> str:
    """"cve" for CVE-*, "ghsa" for GHSA-*, else the id's lower-cased prefix (pysec, go, dsa, ...)."""
    prefix = vid.split("-", 1)[0].lower() if "-" in vid else ""
    return prefix or "layerscan"


def identifier(f: Finding, vid: str) -> dict[str, str]:
    entry = {"type": identifier_type(vid), "name": vid, "value": vid}
    url = primary_url(f if vid == f.vulnerability_id else dataclasses.replace(f, vulnerability_id=vid,
                                                                                primary_url=""))
    if url:
        entry["url"] = url
    return entry


def _cwe(cwe: str) -> dict[str, str]:
    number = cwe.upper().removeprefix("CWE-")
    entry = {"type": "cwe", "name": cwe, "value": number}
    if number.isdigit():
        entry["url"] = f"https://cwe.mitre.org/data/definitions/{number}.html"
    return entry


def identifiers(f: Finding) -> list[dict[str, str]]:
    ids = [i for i in dict.fromkeys((f.vulnerability_id, *f.aliases)) if i]
    out = [identifier(f, vid) for vid in ids] + [_cwe(c) for c in f.cwes if c]
    return out[:MAX_IDENTIFIERS]


def links(f: Finding) -> list[dict[str, str]]:
    urls = dict.fromkeys(u for u in (primary_url(f), *f.references) if u)
    return [{"url": u} for u in urls]


def operating_system(report: ScanReport) -> str:
    if report.os is None:
        return "Unknown"
    return f"{report.os.family} {report.os.name}".strip() or "Unknown"


def vulnerability(f: Finding, r: Result, report: ScanReport) -> dict[str, Any]:
    p = f.package
    vuln: dict[str, Any] = {
        "id": vulnerability_uuid(report.artifact_name, f),
        "name": _clip(f.title or f"{f.vulnerability_id} in {p.name}", MAX_NAME),
        "description": _clip(f.description or f.title or f.vulnerability_id, MAX_DESCRIPTION),
        "severity": SEVERITY.get(f.severity, "Unknown"),
    }
    if f.fixed_version:
        vuln["solution"] = _clip(f"Upgrade {p.name} to {f.fixed_version}", MAX_SOLUTION)
    vuln["location"] = {
        "dependency": {"package": {"name": p.name or "unknown"}, "version": p.version},
        "operating_system": operating_system(report),
        "image": report.artifact_name or "unknown",
    }
    vuln["identifiers"] = identifiers(f) or [identifier(f, "unknown")]
    found = links(f)
    if found:
        vuln["links"] = found
    return vuln


def vulnerabilities(report: ScanReport) -> list[dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for r in report.results:
        for f in r.findings:
            entry = vulnerability(f, r, report)
            out.setdefault(entry["id"], entry)  # the same finding twice: listed once
    return list(out.values())


def remediation(group: FixGroup, report: ScanReport, listed: set[str]) -> dict[str, Any] | None:
    """The group as a remediation; None without a patch or without a listed finding it fixes."""
    if not group.patch:
        return None
    ids = dict.fromkeys(vulnerability_uuid(report.artifact_name, f) for f in fixed_findings(group, report.findings))
    fixes = [{"id": i} for i in ids if i in listed]
    if not fixes:
        return None
    return {"fixes": fixes, "summary": summary(group),
            "diff": base64.b64encode(group.patch.encode("utf-8")).decode("ascii")}


def remediations(report: ScanReport, listed: list[dict[str, Any]]) -> list[dict[str, Any]]:
    if report.fix_plan is None:
        return []
    ids = {v["id"] for v in listed}
    found = (remediation(g, report, ids) for g in report.fix_plan.groups)
    return [r for r in found if r is not None]


def scan(report: ScanReport) -> dict[str, Any]:
    tool = {**TOOL, "version": report.tool_version or "unknown"}
    when = gitlab_time(report.created_at)
    return {"analyzer": tool, "scanner": tool, "type": "container_scanning",
            "start_time": when, "end_time": when, "status": "success"}


def gitlab_report(report: ScanReport) -> dict[str, Any]:
    listed = vulnerabilities(report)
    return {"version": SCHEMA_VERSION, "schema": SCHEMA_URL, "scan": scan(report),
            "vulnerabilities": listed, "remediations": remediations(report, listed)}


def write(report: ScanReport, stream: TextIO) -> None:
    stream.write(encodable(json.dumps(gitlab_report(report), indent=2, ensure_ascii=False)))
    stream.write("\n")
