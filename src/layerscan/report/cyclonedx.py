"""CycloneDX 1.6 JSON: the SBOM (every package, with purl and layer properties)
and, when findings exist, a ``vulnerabilities`` array; suppressed findings carry
a VEX ``analysis`` (state, justification, detail)."""

from __future__ import annotations

import json
import re
import uuid
from typing import Any, TextIO

from layerscan.analyzers.binary.engine import NAME as BINARY_CLASSIFIER
from layerscan.db.dates import rfc3339
from layerscan.model import Finding, Package
from layerscan.model.package import OS_TYPES
from layerscan.report.document import ScanReport, artifact_properties, layer_properties
from layerscan.report.vulninfo import data_source, package_uid, primary_url, suppression_status

SPEC_VERSION = "1.6"
PROP = "layerscan:"

_CVSS_METHOD = {"2.0": "CVSSv2", "3.0": "CVSSv3", "3.1": "CVSSv31", "4.0": "CVSSv4"}
# OpenVEX justification -> CycloneDX analysis.justification
_JUSTIFICATION = {
    "component_not_present": "code_not_present",
    "vulnerable_code_not_present": "code_not_present",
    "vulnerable_code_not_in_execute_path": "code_not_reachable",
    "vulnerable_code_cannot_be_controlled_by_adversary": "requires_environment",
    "inline_mitigations_already_exist": "protected_by_mitigating_control",
}
_CDX_JUSTIFICATIONS = frozenset({
    "code_not_present", "code_not_reachable", "requires_configuration", "requires_dependency",
    "requires_environment", "protected_by_compiler", "protected_at_runtime",
    "protected_at_perimeter", "protected_by_mitigating_control"})


def _props(pairs: list[tuple[str, str]]) -> list[dict[str, str]]:
    return [{"name": PROP + k, "value": v} for k, v in pairs if v != ""]


class _Refs:
    """bom-refs: the purl when it is unique in the document, else purl + package uid."""

    def __init__(self, packages: tuple[Package, ...]) -> None:
        counts: dict[str, int] = {}
        for p in packages:
            counts[p.purl] = counts.get(p.purl, 0) + 1
        self._counts = counts

    def ref(self, p: Package) -> str:
        if p.purl and self._counts.get(p.purl) == 1:
            return p.purl
        return f"{p.purl or p.type + ':' + p.name}#{package_uid(p)}"


def package_properties(p: Package) -> list[dict[str, str]]:
    pairs = [("package:type", p.type), ("package:src_name", p.src_name),
             ("package:src_version", p.src_version), ("package:file_path", p.file_path),
             ("package:found_by", p.found_by), ("package:os_owner", p.os_owner)]
    return _props(pairs + layer_properties(p.layer))


def group_and_name(p: Package) -> tuple[str, str]:
    """CycloneDX ``group`` and ``name``: a Maven groupId goes in ``group``, as Trivy,
    Syft and Dependency-Track expect. Every other name is kept whole (npm "@scope/name",
    Go module paths, composer "vendor/name"), as both Trivy and Syft read them; see
    docs/json-schema.md."""
    if p.type == "maven" and ":" in p.name:
        group, _, name = p.name.partition(":")
        return group, name
    return "", p.name


def component(p: Package, refs: _Refs) -> dict[str, Any]:
    # the scanned project itself (top-level package.json, main Go module) is not a dependency
    kind = "application" if p.is_application else "library"
    group, name = group_and_name(p)
    comp: dict[str, Any] = {"bom-ref": refs.ref(p), "type": kind}
    if group:
        comp["group"] = group
    comp["name"] = name
    if p.version:
        comp["version"] = p.version
    if p.licenses:
        comp["licenses"] = [{"license": {"name": lic}} for lic in p.licenses]
    if p.purl:
        comp["purl"] = p.purl
    props = package_properties(p)
    if props:
        comp["properties"] = props
    evidence = binary_evidence(p)
    if evidence:
        comp["evidence"] = evidence
    return comp


def binary_evidence(p: Package) -> dict[str, Any] | None:
    """CycloneDX ``evidence`` of a package a binary classifier identified from a version string:
    the file it is in and the string (``Package.evidence``)."""
    if p.found_by != BINARY_CLASSIFIER or not p.file_path or not p.evidence:
        return None
    method = {"technique": "binary-analysis", "confidence": 0.8, "value": p.evidence}
    return {"identity": [{"field": "version", "confidence": 0.8, "methods": [method]}],
            "occurrences": [{"location": "/" + p.file_path.lstrip("/")}]}


def _root_component(report: ScanReport) -> dict[str, Any]:
    kind = "container" if report.artifact_type == "container_image" else "application"
    root: dict[str, Any] = {"bom-ref": "layerscan:artifact", "type": kind, "name": report.artifact_name}
    props = _props(artifact_properties(report))
    if props:
        root["properties"] = props
    return root


def _os_component(report: ScanReport) -> dict[str, Any] | None:
    if report.os is None:
        return None
    comp: dict[str, Any] = {"bom-ref": "layerscan:os", "type": "operating-system",
                            "name": report.os.family, "version": report.os.name}
    if report.os.eosl:
        comp["properties"] = _props([("os:eosl", "true")])
    return comp


def _ratings(f: Finding) -> list[dict[str, Any]]:
    ratings: list[dict[str, Any]] = []
    for s in f.vendor_severity:
        ratings.append({"source": {"name": s.source}, "severity": s.level.lower()})
    if not f.vendor_severity:
        rating: dict[str, Any] = {"severity": (f.severity or "UNKNOWN").lower()}
        if f.severity_source:
            rating["source"] = {"name": f.severity_source}
        ratings.append(rating)
    for c in f.cvss:
        rating = {"source": {"name": c.source}, "method": _CVSS_METHOD.get(c.version, "other"),
                  "vector": c.vector}
        if c.score is not None:
            rating["score"] = c.score
        ratings.append(rating)
    return ratings


def _cwes(f: Finding) -> list[int]:
    out = []
    for cwe in f.cwes:
        m = re.fullmatch(r"(?:CWE-)?(\d{1,6})", cwe.strip(), re.IGNORECASE)
        if m:
            out.append(int(m.group(1)))
    return sorted(set(out))


def _analysis(f: Finding) -> dict[str, Any]:
    status = suppression_status(f)
    if status == "ignored":
        return {"state": "exploitable", "response": ["will_not_fix"], "detail": f.suppressed}
    analysis: dict[str, Any] = {"state": "resolved" if status == "fixed" else "not_affected",
                                "detail": f.suppressed}
    parts = [part.strip() for part in f.suppressed.split(":")]
    if len(parts) > 1:
        word = parts[1].split(" (", 1)[0]
        just = _JUSTIFICATION.get(word, word if word in _CDX_JUSTIFICATIONS else "")
        if just:
            analysis["justification"] = just
    return analysis


def _vulnerability(findings: list[Finding], refs: _Refs) -> dict[str, Any]:
    f = findings[0]
    ds_id, ds_name, ds_url = data_source(f.match.data_source)
    vuln: dict[str, Any] = {"bom-ref": f"{f.vulnerability_id}#{refs.ref(f.package)}",
                            "id": f.vulnerability_id,
                            "source": {"name": ds_name, **({"url": ds_url} if ds_url else {})},
                            "ratings": _ratings(f)}
    if _cwes(f):
        vuln["cwes"] = _cwes(f)
    if f.description or f.title:
        vuln["description"] = f.description or f.title
    if f.fixed_version:
        vuln["recommendation"] = f"Upgrade to {f.fixed_version}"
    urls = [u for u in dict.fromkeys([primary_url(f), *f.references]) if u]
    if urls:
        vuln["advisories"] = [{"url": u} for u in urls]
    for key, date in (("published", rfc3339(f.published)), ("updated", rfc3339(f.modified))):
        if date:
            vuln[key] = date
    vuln["affects"] = [{"ref": refs.ref(x.package),
                        "versions": [{"version": x.package.version or "unknown", "status": "affected"}]}
                       for x in findings]
    if f.suppressed:
        vuln["analysis"] = _analysis(f)
    props = _props([("kev", "true" if f.kev else ""), ("epss", "" if f.epss is None else str(f.epss)),
                    ("aliases", ",".join(f.aliases)), ("status", f.status),
                    ("match:namespace", f.match.namespace), ("match:advisory_id", f.match.advisory_id),
                    ("match:matched", f.match.matched), ("match:data_source", ds_id)])
    if props:
        vuln["properties"] = props
    return vuln


def _vulnerabilities(report: ScanReport, refs: _Refs) -> list[dict[str, Any]]:
    groups: dict[tuple[str, str], list[Finding]] = {}
    for f in (*report.findings, *report.suppressed):
        groups.setdefault((f.vulnerability_id, f.suppressed), []).append(f)
    # one entry per (id, suppression): bom-refs stay unique because the first package differs
    return [_vulnerability(fs, refs) for (_, _), fs in sorted(groups.items())]


def _dependencies(report: ScanReport, refs: _Refs, os_comp: dict[str, Any] | None) -> list[dict[str, Any]]:
    os_refs = [refs.ref(p) for p in report.packages if p.type in OS_TYPES]
    lang_refs = [refs.ref(p) for p in report.packages if p.type not in OS_TYPES]
    deps: list[dict[str, Any]] = []
    top = lang_refs + ([os_comp["bom-ref"]] if os_comp else os_refs)
    deps.append({"ref": "layerscan:artifact", "dependsOn": sorted(set(top))})
    if os_comp:
        deps.append({"ref": os_comp["bom-ref"], "dependsOn": sorted(set(os_refs))})
    deps += [{"ref": r} for r in sorted(set(os_refs + lang_refs))]
    return deps


def serial_number(report: ScanReport) -> str:
    seed = "\x00".join((report.artifact_name, report.created_at,
                        report.image.image_id if report.image else ""))
    return uuid.uuid5(uuid.NAMESPACE_URL, "layerscan:" + seed).urn


def bom(report: ScanReport) -> dict[str, Any]:
    packages = report.packages
    refs = _Refs(packages)
    os_comp = _os_component(report)
    unique = {refs.ref(p): component(p, refs) for p in packages}  # identical occurrences once
    components = ([os_comp] if os_comp else []) + list(unique.values())
    doc: dict[str, Any] = {
        "$schema": "http://cyclonedx.org/schema/bom-1.6.schema.json",
        "bomFormat": "CycloneDX",
        "specVersion": SPEC_VERSION,
        "serialNumber": serial_number(report),
        "version": 1,
        "metadata": {
            "timestamp": report.created_at,
            "tools": {"components": [{"type": "application", "group": "layerscan", "name": "layerscan",
                                      "version": report.tool_version}]},
            "component": _root_component(report),
        },
        "components": components,
        "dependencies": _dependencies(report, refs, os_comp),
    }
    vulns = _vulnerabilities(report, refs)
    if vulns:
        doc["vulnerabilities"] = vulns
    return doc


def write(report: ScanReport, stream: TextIO) -> None:
    json.dump(bom(report), stream, indent=2, ensure_ascii=False)
    stream.write("\n")
