"""SARIF 2.1.0 for code-scanning UIs (GitHub): one rule per vulnerability id
(help text, severity as level and ``security-severity``), one result per
finding, located at the Dockerfile when given, else the package's file or the
image name. Suppressed findings are kept with a SARIF ``suppressions`` entry.
KEV-listed findings carry a ``kev`` rule tag and ``kev``/``epss``/``epssPercentile``
result properties."""

from __future__ import annotations

import json
from typing import Any, TextIO

from layerscan.model import Finding
from layerscan.report.document import ScanReport, layer_label
from layerscan.report.vulninfo import best_cvss_score, primary_url

SARIF_VERSION = "2.1.0"
SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
INFO_URI = "https://github.com/layerscan/layerscan"

_LEVEL = {"CRITICAL": "error", "HIGH": "error", "MEDIUM": "warning", "LOW": "note", "UNKNOWN": "note"}
# security-severity when no CVSS score is known (GitHub buckets: >=9 critical, >=7 high, >=4 medium)
_DEFAULT_SCORE = {"CRITICAL": 9.5, "HIGH": 8.0, "MEDIUM": 5.5, "LOW": 2.0, "UNKNOWN": 0.0}


def level(severity: str) -> str:
    return _LEVEL.get(severity, "note")


def security_severity(f: Finding) -> str:
    score = best_cvss_score(f)
    if score is None:
        score = _DEFAULT_SCORE.get(f.severity, 0.0)
    return f"{score:.1f}"


def _help_text(f: Finding) -> str:
    p = f.package
    lines = [f"Vulnerability {f.vulnerability_id}", f"Severity: {f.severity}",
             f"Package: {p.name}", f"Installed Version: {p.version}",
             f"Fixed Version: {f.fixed_version or '(none: ' + f.status + ')'}"]
    if f.title:
        lines.append(f"Title: {f.title}")
    url = primary_url(f)
    if url:
        lines.append(f"Link: {url}")
    return "\n".join(lines)


def _help_markdown(f: Finding) -> str:
    p = f.package
    url = primary_url(f)
    head = f"**Vulnerability {f.vulnerability_id}**\n"
    table = ("| Severity | Package | Fixed Version | Link |\n| --- | --- | --- | --- |\n"
             f"| {f.severity} | {p.name} | {f.fixed_version or f.status} | "
             f"{f'[{f.vulnerability_id}]({url})' if url else ''} |\n")
    return head + "\n" + table + ("\n" + f.description if f.description else "")


def rule(f: Finding) -> dict[str, Any]:
    short = f.title or f"{f.vulnerability_id} in {f.package.name}"
    r: dict[str, Any] = {
        "id": f.vulnerability_id,
        "name": "OsPackageVulnerability" if f.package.type in ("deb", "rpm", "apk", "opkg")
        else "LanguageSpecificPackageVulnerability",
        "shortDescription": {"text": short},
        "fullDescription": {"text": f.description or short},
        "defaultConfiguration": {"level": level(f.severity)},
        "help": {"text": _help_text(f), "markdown": _help_markdown(f)},
        "properties": {"precision": "very-high", "security-severity": security_severity(f),
                       "tags": ["vulnerability", "security", f.severity, *(["kev"] if f.kev else [])]},
    }
    url = primary_url(f)
    if url:
        r["helpUri"] = url
    return r


def _location_uri(f: Finding, report: ScanReport) -> str:
    if report.dockerfile:
        return report.dockerfile
    path = f.package.file_path.split("!", 1)[0]
    return path or report.artifact_name


def _message(f: Finding, report: ScanReport) -> str:
    p = f.package
    text = (f"Package: {p.name}\nInstalled Version: {p.version}\nVulnerability {f.vulnerability_id}\n"
            f"Severity: {f.severity}\nFixed Version: {f.fixed_version or f.status}\n")
    label = layer_label(p.layer)
    if label:
        text += f"Layer: {label}\n"
    if f.primary_url or f.vulnerability_id:
        text += f"Link: [{f.vulnerability_id}]({primary_url(f)})"
    return text


def result(f: Finding, rule_index: int, report: ScanReport) -> dict[str, Any]:
    res: dict[str, Any] = {
        "ruleId": f.vulnerability_id,
        "ruleIndex": rule_index,
        "level": level(f.severity),
        "message": {"text": _message(f, report)},
        "locations": [{
            "physicalLocation": {
                "artifactLocation": {"uri": _location_uri(f, report), "uriBaseId": "ROOTPATH"},
                "region": {"startLine": 1, "startColumn": 1, "endLine": 1, "endColumn": 1},
            },
            "message": {"text": f"{report.artifact_name}: {f.package.name}@{f.package.version}"},
        }],
    }
    if f.suppressed:
        res["suppressions"] = [{"kind": "external", "justification": f.suppressed}]
    if report.policy.baseline:  # SARIF's own notion of a baseline comparison
        res["baselineState"] = "new" if f.new else "unchanged"
    properties = result_properties(f)
    if properties:
        res["properties"] = properties
    return res


def result_properties(f: Finding) -> dict[str, Any]:
    """``kev`` (CISA KEV-listed), ``epss``/``epssPercentile`` (FIRST), ``baseLayer``: set ones only."""
    props: dict[str, Any] = {}
    if f.kev:
        props["kev"] = True
    if f.epss is not None:
        props["epss"] = f.epss
    if f.epss_percentile is not None:
        props["epssPercentile"] = f.epss_percentile
    if f.base_layer:
        props["baseLayer"] = True
    return props


def log(report: ScanReport) -> dict[str, Any]:
    findings = (*report.findings, *report.suppressed)
    index: dict[str, int] = {}
    rules: list[dict[str, Any]] = []
    for f in findings:
        if f.vulnerability_id not in index:
            index[f.vulnerability_id] = len(rules)
            rules.append(rule(f))
    return {
        "$schema": SARIF_SCHEMA,
        "version": SARIF_VERSION,
        "runs": [{
            "tool": {"driver": {"name": "layerscan", "fullName": "layerscan container image scanner",
                                "informationUri": INFO_URI, "version": report.tool_version,
                                "rules": rules}},
            "results": [result(f, index[f.vulnerability_id], report) for f in findings],
            "columnKind": "utf16CodeUnits",
            "originalUriBaseIds": {"ROOTPATH": {"uri": "file:///"}},
            "properties": {"artifactName": report.artifact_name, "artifactType": report.artifact_type,
                           **({"imageID": report.image.image_id} if report.image and report.image.image_id else {})},
        }],
    }


def write(report: ScanReport, stream: TextIO) -> None:
    json.dump(log(report), stream, indent=2, ensure_ascii=False)
    stream.write("\n")
