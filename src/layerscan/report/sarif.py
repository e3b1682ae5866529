"""SARIF 2.1.0 for code-scanning UIs (GitHub): one rule per vulnerability id
(help text, severity as level and ``security-severity``), one result per
finding, located at the Dockerfile when given, else the package's file or the
image name. Suppressed findings are kept with a SARIF ``suppressions`` entry.
KEV-listed findings carry a ``kev`` rule tag and ``kev``/``epss``/``epssPercentile``
result properties.

For GitHub code scanning, results keep their identity across scans, tags and upgrades
that do not fix them: ``ruleId`` is the canonical vulnerability id, ``partialFingerprints``
carry the finding key (report/fingerprint.py: no version, tag or digest), locations never
name a tag (with ``--dockerfile``: the Dockerfile line that made the package's layer), and
``automationDetails.id`` names the image (repository and platform) so that several images
uploaded to one repository do not close each other's alerts. GitHub's limits
(25,000 results per run, 10 MB gzip-compressed per upload) are kept by dropping results from
the lowest severity up (suppressed ones first), with a warning notification in the run."""

from __future__ import annotations

import gzip
import json
from typing import Any, TextIO

from layerscan.model import Finding
from layerscan.report.dockerfile_map import layer_lines, read_dockerfile
from layerscan.report.document import SEVERITY_RANK, ScanReport, layer_label
from layerscan.report.fingerprint import FINGERPRINT_KEY, artifact_repository, fingerprint
from layerscan.report.vulninfo import best_cvss_score, primary_url

SARIF_VERSION = "2.1.0"
SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
INFO_URI = "https://github.com/layerscan/layerscan"

_LEVEL = {"CRITICAL": "error", "HIGH": "error", "MEDIUM": "warning", "LOW": "note", "UNKNOWN": "note"}
# security-severity when no CVSS score is known (GitHub buckets: >=9 critical, >=7 high, >=4 medium)
_DEFAULT_SCORE = {"CRITICAL": 9.5, "HIGH": 8.0, "MEDIUM": 5.5, "LOW": 2.0, "UNKNOWN": 0.0}
# GitHub code scanning's upload limits
MAX_RESULTS = 25_000
MAX_GZIP_BYTES = 10 * 1024 * 1024


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
    return path or artifact_repository(report.artifact_name)


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


def result(f: Finding, rule_index: int, report: ScanReport, line: int = 1) -> dict[str, Any]:
    """One result; ``line``: the Dockerfile line of the package's layer (with ``--dockerfile``)."""
    res: dict[str, Any] = {
        "ruleId": f.vulnerability_id,
        "ruleIndex": rule_index,
        "level": level(f.severity),
        "message": {"text": _message(f, report)},
        "locations": [{
            "physicalLocation": {
                "artifactLocation": {"uri": _location_uri(f, report), "uriBaseId": "ROOTPATH"},
                "region": {"startLine": line, "startColumn": 1, "endLine": line, "endColumn": 1},
            },
            "message": {"text": f"{artifact_repository(report.artifact_name)}: {f.package.name}@{f.package.version}"},
        }],
        "partialFingerprints": {FINGERPRINT_KEY: fingerprint(report.artifact_name, f)},
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


def automation_id(report: ScanReport) -> str:
    """``layerscan/<type>/<repository>[/<os>/<arch>[/<variant>]]/``: a category (the trailing
    slash) per image and platform, the same for every tag of it."""
    parts = ["layerscan", report.artifact_type or "artifact", artifact_repository(report.artifact_name)]
    meta = report.image
    if meta and meta.os and meta.architecture:
        parts += [meta.os, meta.architecture, *([meta.variant] if meta.variant else [])]
    return "/".join(p.strip("/") for p in parts if p.strip("/")) + "/"


def _by_importance(findings: tuple[Finding, ...]) -> list[Finding]:
    """Shown findings before suppressed ones, then CRITICAL first; otherwise in report order."""
    return sorted(findings, key=lambda f: (bool(f.suppressed), -SEVERITY_RANK.get(f.severity, 0)))


def _line(f: Finding, lines: dict[str, int]) -> int:
    layer = f.package.layer
    return lines.get(layer.diff_id, 1) if layer else 1


def _run(report: ScanReport, findings: list[Finding], notes: list[str], lines: dict[str, int]) -> dict[str, Any]:
    index: dict[str, int] = {}
    rules: list[dict[str, Any]] = []
    for f in findings:
        if f.vulnerability_id not in index:
            index[f.vulnerability_id] = len(rules)
            rules.append(rule(f))
    run: dict[str, Any] = {
        "tool": {"driver": {"name": "layerscan", "fullName": "layerscan container image scanner",
                            "informationUri": INFO_URI, "version": report.tool_version,
                            "rules": rules}},
        "automationDetails": {"id": automation_id(report)},
        "results": [result(f, index[f.vulnerability_id], report, _line(f, lines)) for f in findings],
        "columnKind": "utf16CodeUnits",
        "originalUriBaseIds": {"ROOTPATH": {"uri": "file:///"}},
        "properties": {"artifactName": report.artifact_name, "artifactType": report.artifact_type,
                       **({"imageID": report.image.image_id} if report.image and report.image.image_id else {})},
    }
    if notes:
        run["invocations"] = [{"executionSuccessful": True, "toolExecutionNotifications": [
            {"level": "warning", "message": {"text": note}} for note in notes]}]
    return run


def _document(runs: list[dict[str, Any]]) -> dict[str, Any]:
    return {"$schema": SARIF_SCHEMA, "version": SARIF_VERSION, "runs": runs}


def _fits(doc: dict[str, Any], max_gzip_bytes: int) -> bool:
    """Whether the log, gzip-compressed, stays within ``max_gzip_bytes`` (a log that small
    uncompressed is not compressed to find out)."""
    text = json.dumps(doc, ensure_ascii=False).encode("utf-8", "surrogatepass")
    return len(text) <= max_gzip_bytes or len(gzip.compress(text, compresslevel=6)) <= max_gzip_bytes


def log(report: ScanReport, max_results: int = MAX_RESULTS, max_gzip_bytes: int = MAX_GZIP_BYTES) -> dict[str, Any]:
    findings = (*report.findings, *report.suppressed)
    lines = layer_lines(read_dockerfile(report.dockerfile), report.layers) if report.dockerfile else {}
    kept = list(findings)
    if len(kept) > max_results:
        kept = _by_importance(findings)[:max_results]
    doc = _document([_run(report, kept, [], lines)])
    if not _fits(doc, max_gzip_bytes):  # fewer results until it fits (a halving search on the count)
        ordered, low, high = _by_importance(findings)[:len(kept)], 0, len(kept)
        while low < high:
            middle = (low + high + 1) // 2
            if _fits(_document([_run(report, ordered[:middle], [], lines)]), max_gzip_bytes):
                low = middle
            else:
                high = middle - 1
        kept = ordered[:low]
    if len(kept) < len(findings):
        lowest = min((f.severity for f in kept), key=lambda level: SEVERITY_RANK.get(level, 0), default="none")
        note = (f"SARIF truncated to GitHub's limits ({max_results} results, {max_gzip_bytes // (1024 * 1024)} MB "
                f"gzip): {len(findings) - len(kept)} of {len(findings)} results left out, suppressed and lowest "
                f"severity first; the lowest severity kept is {lowest}. The JSON report has every finding.")
        keep = {id(f) for f in kept}
        doc = _document([_run(report, [f for f in findings if id(f) in keep], [note], lines)])  # report order
    return doc


def write(report: ScanReport, stream: TextIO) -> None:
    json.dump(log(report), stream, indent=2, ensure_ascii=False)
    stream.write("\n")
