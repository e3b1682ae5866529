"""Read a saved JSON report back into a :class:`ScanReport` (``layerscan convert``).

Reads our report (docs/json-schema.md) and Trivy's (``SchemaVersion`` 2, whose
field names ours follow). What our writer derives (IDs, split versions,
data-source names, package UIDs) is derived again, so ``-f json`` of a
converted layerscan report gives the same document. What no JSON report carries
(the analyzer that found a package, the OS pretty name) stays empty.

The file is untrusted input: its size is bounded as a ``--baseline`` report's
is, every field is type-checked, and anything malformed is one UsageError that
names the field (``Results[2].Packages[0].Name must be a string``).
Trivy results that are not packages or vulnerabilities (secrets,
misconfigurations, licenses) cannot be rendered: they are listed in
``LoadedReport.skipped``.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Mapping

from layerscan.ecosystems import result_type_packages
from layerscan.errors import UsageError
from layerscan.model import (CVSS, Finding, ImageMeta, LayerInfo, MatchDetail, OSInfo, Package, Severity,
                             Unknown)
from layerscan.model.advisory import SEVERITIES
from layerscan.policy.baseline import MAX_BASELINE, read_report_file
from layerscan.report.document import LANG_CLASS, OS_CLASS, PolicySummary, Result, ScanReport, now_rfc3339
from layerscan.report.json_report import SCHEMA_VERSION
from layerscan.report.versions import VersionParts, join_version
from layerscan.source.base import created_by_per_layer
from layerscan.source.sbom.purls import PurlFacts, parse_purl, purl_facts
from layerscan.textload import LoadError, parse_json

MAX_REPORT_BYTES = MAX_BASELINE  # a baseline is such a report: one bound for both
MAX_MIB = MAX_REPORT_BYTES // (1024 * 1024)

# Result Type -> Package.type, for packages without a purl.
_APK_FAMILIES = frozenset({"alpine", "wolfi", "chainguard"})
_DEB_FAMILIES = frozenset({"debian", "ubuntu"})
_LANG_PACKAGE_TYPES: Mapping[str, str] = result_type_packages()  # from the ecosystem records
# Trivy's CVSS map keys -> CVSS versions ("V3" is 3.0 or 3.1: the vector says which).
_CVSS_KEYS = (("V2", "2.0"), ("V3", "3.1"), ("V40", "4.0"))
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")


@dataclass(frozen=True)
class LoadedReport:
    report: ScanReport
    skipped: tuple[str, ...] = ()  # results not converted: "license result 'OS Packages'"
    trivy: bool = False  # written by Trivy (no Layerscan section)


@dataclass(frozen=True)
class _Node:
    """One JSON object of the report and where it is, for typed reads with precise errors."""

    data: Mapping[str, Any]
    where: str
    name: str

    def _path(self, key: str) -> str:
        return f"{self.where}.{key}" if self.where else key

    def bad(self, key: str, what: str) -> UsageError:
        return UsageError(f"report {self.name}: {self._path(key)} {what}")

    def text(self, key: str) -> str:
        value = self.data.get(key)
        if value is None:
            return ""
        if not isinstance(value, str):
            raise self.bad(key, "must be a string")
        return value

    def integer(self, key: str) -> int | None:
        value = self.data.get(key)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise self.bad(key, "must be a non-negative integer")
        return value

    def count(self, key: str) -> int:
        return self.integer(key) or 0

    def flag(self, key: str) -> bool:
        value = self.data.get(key)
        if value is None:
            return False
        if not isinstance(value, bool):
            raise self.bad(key, "must be true or false")
        return value

    def number(self, key: str) -> float | None:
        value = self.data.get(key)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise self.bad(key, "must be a number")
        return value

    def texts(self, key: str) -> tuple[str, ...]:
        value = self.data.get(key)
        if value is None:
            return ()
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise self.bad(key, "must be a list of strings")
        return tuple(value)

    def mapping(self, key: str) -> Mapping[str, Any]:
        value = self.data.get(key)
        if value is None:
            return {}
        if not isinstance(value, dict):
            raise self.bad(key, "must be an object")
        return value

    def child(self, key: str) -> "_Node":
        return _Node(self.mapping(key), self._path(key), self.name)

    def children(self, key: str) -> list["_Node"]:
        value = self.data.get(key)
        if value is None:
            return []
        if not isinstance(value, list):
            raise self.bad(key, "must be a list")
        out = []
        for i, item in enumerate(value):
            if not isinstance(item, dict):
                raise self.bad(f"{key}[{i}]", "must be an object")
            out.append(_Node(item, f"{self._path(key)}[{i}]", self.name))
        return out

    def text_map(self, key: str) -> dict[str, str]:
        value = self.mapping(key)
        if not all(isinstance(v, str) for v in value.values()):
            raise self.bad(key, "must map names to strings")
        return dict(value)


@dataclass(frozen=True)
class _Layers:
    """The image's layers, to resolve the ``Layer`` of each package and finding."""

    by_diff_id: Mapping[str, LayerInfo] = field(default_factory=dict)

    def resolve(self, node: _Node) -> LayerInfo | None:
        diff_id, digest, index = node.text("DiffID"), node.text("Digest"), node.integer("Index")
        if not diff_id and not digest:
            return None
        created_by = node.text("CreatedBy")
        known = self.by_diff_id.get(diff_id)
        if known and index is None:  # Trivy: no Index; the image's layer list has it (and the step)
            return replace(known, digest=digest or known.digest, created_by=created_by or known.created_by)
        if known and (index, digest, created_by) == (known.index, known.digest, known.created_by):
            return known
        return LayerInfo(index=index or 0, diff_id=diff_id, digest=digest, created_by=created_by)


def _history_steps(config: Mapping[str, Any], count: int) -> list[str]:
    if not count or not isinstance(config.get("history"), list):
        return [""] * count
    return [s if isinstance(s, str) else "" for s in created_by_per_layer(dict(config), count)]


def _image_layers(md: _Node, diff_ids: tuple[str, ...], config: Mapping[str, Any]) -> tuple[LayerInfo, ...]:
    nodes = md.children("Layers")
    if not nodes:
        steps = _history_steps(config, len(diff_ids))
        return tuple(LayerInfo(index=i, diff_id=d, created_by=steps[i]) for i, d in enumerate(diff_ids))
    steps = _history_steps(config, len(nodes))
    layers = []
    for i, node in enumerate(nodes):
        index = node.integer("Index")
        diff_id = node.text("DiffID") or (diff_ids[i] if i < len(diff_ids) else "")
        layers.append(LayerInfo(index=i if index is None else index, diff_id=diff_id, digest=node.text("Digest"),
                                created_by=node.text("CreatedBy") or steps[i], media_type=node.text("MediaType"),
                                size=node.count("Size")))
    return tuple(layers)


def _labels(config: Mapping[str, Any]) -> tuple[tuple[str, str], ...]:
    inner = config.get("config")
    labels = inner.get("Labels") if isinstance(inner, dict) else None
    if not isinstance(labels, dict):
        return ()
    return tuple((k, v) for k, v in labels.items() if isinstance(v, str))


def _config_str(config: Mapping[str, Any], key: str) -> str:
    value = config.get(key)
    return value if isinstance(value, str) else ""


def _config_text(config: Mapping[str, Any]) -> str:
    return json.dumps(config, ensure_ascii=False) if config else ""


def _image(md: _Node) -> ImageMeta | None:
    diff_ids, config = md.texts("DiffIDs"), md.mapping("ImageConfig")
    layers = _image_layers(md, diff_ids, config)
    if not (md.text("ImageID") or diff_ids or layers or config):
        return None
    return ImageMeta(image_id=md.text("ImageID"), diff_ids=diff_ids, repo_tags=md.texts("RepoTags"),
                     repo_digests=md.texts("RepoDigests"), layers=layers, os=_config_str(config, "os"),
                     architecture=_config_str(config, "architecture"), variant=_config_str(config, "variant"),
                     config_json=_config_text(config), labels=_labels(config))


def _os(md: _Node) -> OSInfo | None:
    node = md.child("OS")
    family = node.text("Family")
    return OSInfo(family=family, name=node.text("Name"), eosl=node.flag("EOSL")) if family else None


@dataclass(frozen=True)
class _ResultContext:
    klass: str
    type: str
    layers: _Layers

    def package_type(self, facts: PurlFacts | None) -> str:
        if facts and facts.type:
            return facts.type
        if self.klass == OS_CLASS:
            return "apk" if self.type in _APK_FAMILIES else "deb" if self.type in _DEB_FAMILIES else "rpm"
        return _LANG_PACKAGE_TYPES.get(self.type, self.type)


def _facts(purl: str) -> PurlFacts | None:
    parsed = parse_purl(purl)
    return purl_facts(parsed) if parsed is not None else None


def _version(node: _Node, prefix: str) -> str:
    return join_version(VersionParts(node.text(f"{prefix}Version"), node.text(f"{prefix}Release"),
                                     node.count(f"{prefix}Epoch")))


def _package(node: _Node, ctx: _ResultContext) -> Package:
    name = node.text("Name")
    if not name:
        raise node.bad("Name", "is required")
    purl = node.child("Identifier").text("PURL")
    facts = _facts(purl)
    return Package(
        name=name, version=_version(node, ""), type=ctx.package_type(facts), purl=purl,
        arch=node.text("Arch") or (facts.arch if facts else ""), src_name=node.text("SrcName"),
        src_version=_version(node, "Src"), file_path=node.text("FilePath"),
        installed_files=node.texts("InstalledFiles"), licenses=node.texts("Licenses"),
        dev=node.flag("Dev"), indirect=node.flag("Indirect"),
        is_application=node.text("Excluded") == "application", os_owner=node.text("OSOwner"),
        version_unknown_reason=node.text("VersionUnknownReason"), layer=ctx.layers.resolve(node.child("Layer")))


@dataclass(frozen=True)
class _Packages:
    """A result's listed packages, found again by a finding's UID or name/version/path."""

    by_uid: Mapping[str, Package]
    by_identity: Mapping[tuple[str, str, str], Package]

    @classmethod
    def of(cls, nodes: list[_Node], packages: list[Package]) -> "_Packages":
        by_uid = {n.child("Identifier").text("UID"): p for n, p in zip(nodes, packages, strict=True)}
        by_uid.pop("", None)
        return cls(by_uid, {(p.name, p.version, p.file_path): p for p in packages})

    def find(self, uid: str, name: str, version: str, path: str) -> Package | None:
        return self.by_uid.get(uid) if uid in self.by_uid else (
            self.by_identity.get((name, version, path)) or self.by_identity.get((name, version, "")))


def _finding_package(node: _Node, ctx: _ResultContext, listed: _Packages) -> Package:
    name, version = node.text("PkgName"), node.text("InstalledVersion")
    ident = node.child("PkgIdentifier")
    found = listed.find(ident.text("UID"), name, version, node.text("PkgPath"))
    if found is not None:
        return found
    facts = _facts(ident.text("PURL"))
    return Package(name=name, version=version, type=ctx.package_type(facts), purl=ident.text("PURL"),
                   arch=facts.arch if facts else "", src_name=facts.src_name if facts else "",
                   file_path=node.text("PkgPath"), layer=ctx.layers.resolve(node.child("Layer")))


def _vendor_severity(node: _Node) -> tuple[Severity, ...]:
    out = []
    for source, level in node.mapping("VendorSeverity").items():
        if isinstance(level, bool) or not isinstance(level, int):
            raise node.bad(f"VendorSeverity.{source}", "must be an integer 0..4")
        out.append(Severity(source, SEVERITIES[level] if 0 <= level < len(SEVERITIES) else "UNKNOWN"))
    return tuple(out)


def _cvss(node: _Node) -> tuple[CVSS, ...]:
    out = []
    cvss = node.child("CVSS")
    for source in cvss.data:
        entry = cvss.child(source)
        for key, version in _CVSS_KEYS:
            vector, score = entry.text(f"{key}Vector"), entry.number(f"{key}Score")
            if not vector and score is None:
                continue
            if key == "V3" and vector.startswith("CVSS:3.0/"):
                version = "3.0"
            out.append(CVSS(source, version, vector, score))
    return tuple(out)


def _finding(node: _Node, ctx: _ResultContext, listed: _Packages, suppressed: str = "") -> Finding:
    vid = node.text("VulnerabilityID")
    if not vid or not node.text("PkgName"):
        raise UsageError(f"report {node.name}: {node.where}: a vulnerability needs VulnerabilityID and PkgName")
    fixed, md, epss = node.text("FixedVersion"), node.child("MatchDetail"), node.child("EPSS")
    severity = node.text("Severity").upper()
    return Finding(
        package=_finding_package(node, ctx, listed), vulnerability_id=vid,
        match=MatchDetail(namespace=md.text("Namespace"), advisory_id=md.text("AdvisoryID"),
                          package_name=md.text("PackageName"), matched=md.text("Matched"),
                          data_source=md.text("DataSource") or node.child("DataSource").text("ID")),
        aliases=node.texts("Aliases"), status=node.text("Status") or ("fixed" if fixed else "affected"),
        fixed_version=fixed, severity=severity if severity in SEVERITIES else "UNKNOWN",
        severity_source=node.text("SeveritySource"), vendor_severity=_vendor_severity(node), cvss=_cvss(node),
        cwes=node.texts("CweIDs"), title=node.text("Title"), description=node.text("Description"),
        references=node.texts("References"), primary_url=node.text("PrimaryURL"),
        published=node.text("PublishedDate"), modified=node.text("LastModifiedDate"), kev=node.flag("KEV"),
        epss=epss.number("Score"), epss_percentile=epss.number("Percentile"), suppressed=suppressed,
        base_layer=node.flag("BaseLayer"), new=node.flag("New"))


def _suppression(node: _Node) -> str:
    """Why a modified finding was suppressed: our Statement, else Trivy's Status and Source."""
    statement, status, source = node.text("Statement"), node.text("Status"), node.text("Source")
    if statement:
        return statement
    if status in ("", "ignored"):
        return f"ignored by {source or 'an ignore file'}"
    return f"VEX {status}" + (f" ({source})" if source else "")


def _unknown(node: _Node, layers: _Layers) -> Unknown:
    return Unknown(path=node.text("Path"), reason=node.text("Reason"), analyzer=node.text("Analyzer"),
                   layer=layers.resolve(node.child("Layer")))


def _result_class(node: _Node) -> str:
    klass = node.text("Class")
    if klass or not ("Packages" in node.data or "Vulnerabilities" in node.data):
        return klass
    # Trivy before Class existed: OS results are typed by the distribution
    rtype = node.text("Type")
    return OS_CLASS if rtype in _APK_FAMILIES | _DEB_FAMILIES or rtype not in _LANG_PACKAGE_TYPES else LANG_CLASS


def _result(node: _Node, layers: _Layers) -> Result:
    klass = _result_class(node)
    ctx = _ResultContext(klass, node.text("Type"), layers)
    pkg_nodes = node.children("Packages")
    packages = [_package(n, ctx) for n in pkg_nodes]
    listed = _Packages.of(pkg_nodes, packages)
    findings = tuple(_finding(n, ctx, listed) for n in node.children("Vulnerabilities"))
    suppressed = tuple(_finding(m.child("Finding"), ctx, listed, _suppression(m))
                       for m in node.children("ExperimentalModifiedFindings")
                       if m.text("Type") in ("", "vulnerability"))
    return Result(target=node.text("Target"), klass=klass, type=ctx.type, packages=tuple(packages),
                  findings=findings, suppressed=suppressed,
                  unknowns=tuple(_unknown(n, layers) for n in node.children("Unknowns")))


def _policy(node: _Node) -> PolicySummary:
    return PolicySummary(
        exit_code=node.count("ExitCode"), failing=node.count("Failing"), eol=node.flag("EOL"),
        expired_ignores=node.texts("ExpiredIgnores"), base_layers=node.count("BaseLayers"),
        base_boundary=node.text("BaseBoundary"), base_image=node.text("BaseImage"),
        base_layer_findings=node.count("BaseLayerFindings"), baseline=node.text("Baseline"),
        new_findings=node.count("NewFindings"))


def _no_constant(word: str) -> Any:
    raise ValueError(f"{word} is not a JSON number")


def _without_lone_surrogates(value: Any) -> Any:
    """``"\\ud800"`` escapes decode to lone surrogates, which no UTF-8 writer can encode: "?"."""
    if isinstance(value, str):
        return value.encode("utf-8", "replace").decode("utf-8")
    if isinstance(value, list):
        return [_without_lone_surrogates(v) for v in value]
    if isinstance(value, dict):
        return {_without_lone_surrogates(k): _without_lone_surrogates(v) for k, v in value.items()}
    return value


def _document(data: bytes, name: str) -> _Node:
    try:
        doc = parse_json(data.decode("utf-8-sig"), parse_constant=_no_constant)
        if _SURROGATE_ESCAPE.search(data):
            doc = _without_lone_surrogates(doc)
    except RecursionError:  # the surrogate clean-up walks the document recursively
        raise UsageError(f"report {name}: JSON nested too deeply") from None
    except UnicodeDecodeError:
        raise UsageError(f"report {name}: not UTF-8 text") from None
    except LoadError as exc:
        if exc.too_deep:
            raise UsageError(f"report {name}: JSON nested too deeply") from None
        raise UsageError(f"report {name}: not valid JSON ({' '.join(exc.detail.split())[:120]})") from None
    if not isinstance(doc, dict) or "SchemaVersion" not in doc:
        raise UsageError(f"report {name}: not a layerscan or Trivy JSON report (no SchemaVersion)")
    version = doc["SchemaVersion"]
    if version != SCHEMA_VERSION or isinstance(version, bool):
        raise UsageError(f"report {name}: SchemaVersion {str(version)[:20]} is not supported "
                         f"(expected {SCHEMA_VERSION})")
    return _Node(doc, "", name)


def parse_report(data: bytes, name: str = "report") -> LoadedReport:
    """The ScanReport in a JSON report's bytes (UsageError for anything malformed)."""
    if len(data) > MAX_REPORT_BYTES:
        raise UsageError(f"report {name} is larger than {MAX_MIB} MiB")
    doc = _document(data, name)
    md, ours = doc.child("Metadata"), doc.child("Layerscan")
    image = _image(md)
    layers = _Layers({layer.diff_id: layer for layer in (image.layers if image else ()) if layer.diff_id})
    results, skipped = [], []
    for node in doc.children("Results"):
        if _result_class(node) in (OS_CLASS, LANG_CLASS):
            results.append(_result(node, layers))
        else:
            skipped.append(f"{node.text('Class') or 'unclassified'} result {node.text('Target')!r}")
    trivy = "Layerscan" not in doc.data
    if trivy:
        from layerscan import __version__ as tool_version
    else:
        tool_version = ours.text("Version")
    report = ScanReport(
        artifact_name=doc.text("ArtifactName"), artifact_type=doc.text("ArtifactType"),
        created_at=doc.text("CreatedAt") or now_rfc3339(), tool_version=tool_version, os=_os(md), image=image,
        results=tuple(results), list_all_pkgs=any(r.packages for r in results),
        vulnerabilities_scanned=trivy or ours.flag("VulnerabilitiesScanned"),
        policy=_policy(ours.child("Policy")), db_metadata=tuple(ours.text_map("Database").items()))
    return LoadedReport(report, tuple(skipped), trivy)


def load_report(path: str | Path) -> LoadedReport:
    """Read and parse a JSON report file (bounded while it is read)."""
    return parse_report(read_report_file(path), Path(path).name)


__all__ = ["LoadedReport", "MAX_REPORT_BYTES", "load_report", "parse_report"]
