"""The report document: one model every writer renders (DESIGN.md §2 Reporter).

Results are grouped as Trivy users know them: one ``os-pkgs`` result for the
distro packages, then ``lang-pkgs`` results (one per ecosystem for installed
packages in images/root filesystems, one per lockfile or binary otherwise).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Iterable

from layerscan.analyzers.catalog import result_type as analyzer_result_type
from layerscan.ecosystems import aggregated_results, per_file_results
from layerscan.model import Finding, LayerInfo, OSInfo, Package, Sbom, Unknown
from layerscan.model.advisory import SEVERITIES
from layerscan.model.image import ImageMeta
from layerscan.model.package import OS_TYPES

if TYPE_CHECKING:  # built only with --fix-plan / -f copa: not imported by every scan
    from layerscan.report.fixplan import FixPlan

OS_CLASS = "os-pkgs"
LANG_CLASS = "lang-pkgs"

# Installed packages that Trivy aggregates into one result per ecosystem: type -> (Target, Type).
_AGGREGATED: dict[str, tuple[str, str]] = aggregated_results()

# Installed packages reported per file (binaries, vendor manifests): type -> Type.
_PER_FILE_INSTALLED: dict[str, str] = per_file_results()

SEVERITY_RANK = {s: i for i, s in enumerate(SEVERITIES)}


@dataclass(frozen=True)
class Result:
    target: str
    klass: str  # os-pkgs | lang-pkgs
    type: str  # debian, alpine, python-pkg, gobinary, pip, npm, ...
    packages: tuple[Package, ...] = ()
    findings: tuple[Finding, ...] = ()
    suppressed: tuple[Finding, ...] = ()
    unknowns: tuple[Unknown, ...] = ()

    def severity_counts(self) -> dict[str, int]:
        return severity_counts(self.findings)


@dataclass(frozen=True)
class PolicySummary:
    exit_code: int = 0
    failing: int = 0
    eol: bool = False
    expired_ignores: tuple[str, ...] = ()  # sources ("FILE:LINE") of expired ignore entries
    base_layers: int = 0  # --exclude-base-layers: the first N layers are the base image's (0 = off)
    base_boundary: str = ""  # how the base boundary was decided ("auto: history CMD [\"bash\"]")
    base_image: str = ""  # the base image the labels declare (org.opencontainers.image.base.*)
    base_layer_findings: int = 0  # shown findings in the base layers (not gating)
    baseline: str = ""  # --baseline report name; empty = no baseline
    new_findings: int = 0  # shown findings not in the baseline (only these gate)


@dataclass(frozen=True)
class ScanReport:
    artifact_name: str
    artifact_type: str
    created_at: str  # RFC 3339, UTC
    tool_version: str
    os: OSInfo | None = None
    image: ImageMeta | None = None
    results: tuple[Result, ...] = ()
    list_all_pkgs: bool = False  # JSON/table list packages (SBOM writers always do)
    show_suppressed: bool = True  # table: list suppressed findings (the CLI hides them unless asked)
    vulnerabilities_scanned: bool = False  # False: SBOM only, no database was consulted
    unchecked_os_packages: int = 0  # OS packages not checked: the database has no data for the distribution
    policy: PolicySummary = field(default_factory=PolicySummary)
    db_metadata: tuple[tuple[str, str], ...] = ()
    dockerfile: str = ""  # SARIF results point here when given
    fix_plan: FixPlan | None = None  # --fix-plan / -f copa (remediate.fixplan): table section, JSON FixPlan

    @property
    def packages(self) -> tuple[Package, ...]:
        return tuple(p for r in self.results for p in r.packages)

    @property
    def findings(self) -> tuple[Finding, ...]:
        return tuple(f for r in self.results for f in r.findings)

    @property
    def suppressed(self) -> tuple[Finding, ...]:
        return tuple(f for r in self.results for f in r.suppressed)

    @property
    def layers(self) -> tuple[LayerInfo, ...]:
        return self.image.layers if self.image else ()


def count_severities(levels: Iterable[str]) -> dict[str, int]:
    counts = {s: 0 for s in SEVERITIES}
    for level in levels:
        counts[level if level in counts else "UNKNOWN"] += 1
    return counts


def severity_counts(findings: Iterable[Finding]) -> dict[str, int]:
    return count_severities(f.severity for f in findings)


def now_rfc3339() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


def unscanned_os_reason(os_info: OSInfo | None, count: int) -> str:
    """Why ``count`` OS packages were not checked (warning, table header)."""
    what = f"its {count} OS package was" if count == 1 else f"its {count} OS packages were"
    if os_info is None:
        return f"the distribution was not detected; {what} not checked"
    return f"the vulnerability database has no data for this distribution; {what} not checked"


def os_target(artifact_name: str, os_info: OSInfo | None) -> str:
    if os_info is None:
        return artifact_name
    return f"{artifact_name} ({os_info.family} {os_info.name})".replace("  ", " ")


def result_key(pkg: Package, artifact_name: str, artifact_type: str, os_info: OSInfo | None) -> tuple[str, str, str]:
    """(target, class, type) of the result a package belongs to. OS packages: one result
    typed by the distribution; installed packages Trivy gathers per ecosystem: that
    ecosystem's result; the others one result per file, typed by the analyzer that found
    them (``found_by`` -> ``Analyzer.result_type``; an SBOM's packages: by the analyzer
    that declares the file's name)."""
    if pkg.type in OS_TYPES:
        family = os_info.family if os_info else pkg.type
        return os_target(artifact_name, os_info), OS_CLASS, family
    if artifact_type == "filesystem":
        return _lockfile_key(pkg)
    if pkg.type in _AGGREGATED:
        target, rtype = _AGGREGATED[pkg.type]
        return target, LANG_CLASS, rtype
    path = outer_path(pkg.file_path)
    if pkg.type in _PER_FILE_INSTALLED:
        return path or pkg.type, LANG_CLASS, analyzer_result_type(pkg.found_by, path) or _PER_FILE_INSTALLED[pkg.type]
    return path or pkg.type, LANG_CLASS, pkg.type


def _lockfile_key(pkg: Package) -> tuple[str, str, str]:
    """One result per file, typed by the analyzer that read it (``Analyzer.result_type``)."""
    path = outer_path(pkg.file_path)
    rtype = analyzer_result_type(pkg.found_by, path)
    if not rtype and pkg.type in _AGGREGATED:
        rtype = _AGGREGATED[pkg.type][1]
    return path or pkg.type, LANG_CLASS, rtype or pkg.type


_CONTROL = {c: "?" for c in [*range(0x00, 0x20), *range(0x7f, 0xa0), 0x200b, 0x200e, 0x200f,
                              *range(0x202a, 0x202f), *range(0x2066, 0x206a), 0xfeff]}


def printable(text: str) -> str:
    """``text`` safe for a terminal: control, C1 and bidi-override characters become "?"
    (image content is hostile: a package name must not move the cursor or reorder text)."""
    return text.translate(_CONTROL)


def outer_path(file_path: str) -> str:
    """The file on disk for a nested location ("app.jar!/BOOT-INF/lib/x.jar" -> "app.jar")."""
    return file_path.split("!", 1)[0]


def layer_step(created_by: str) -> str:
    """A Dockerfile step from a history ``created_by``: "/bin/sh -c #(nop) ADD x" -> "ADD x",
    "/bin/sh -c pip install" -> "RUN pip install", BuildKit "RUN /bin/sh -c x" -> "RUN x",
    "|2 A=1 B=2 /bin/sh -c x" -> "RUN x"."""
    text = " ".join(created_by.split())
    if text.startswith("/bin/sh -c #(nop) "):
        return text[len("/bin/sh -c #(nop) "):]
    shell = "/bin/sh -c "
    if text.startswith(("|", "RUN ")) and shell in text:
        return "RUN " + text.split(shell, 1)[1]
    if text.startswith(shell):
        return "RUN " + text[len(shell):]
    return text


def layer_properties(layer: LayerInfo | None) -> list[tuple[str, str]]:
    """(name, value) pairs naming a package's layer, for the SBOM formats' properties."""
    if layer is None:
        return []
    return [("layer:index", str(layer.index)), ("layer:diff_id", layer.diff_id),
            ("layer:digest", layer.digest), ("layer:created_by", layer.created_by)]


def artifact_properties(report: ScanReport) -> list[tuple[str, str]]:
    """(name, value) pairs describing the scanned artifact, for the SBOM formats' root element."""
    pairs = [("artifact:type", report.artifact_type)]
    meta = report.image
    if meta:
        pairs.append(("image:id", meta.image_id))
        pairs += [("image:repo_tag", t) for t in meta.repo_tags]
        pairs += [("image:repo_digest", d) for d in meta.repo_digests]
        pairs += [(f"image:layer:{layer.index}", f"{layer.diff_id} {layer.created_by}".strip())
                  for layer in meta.layers]
    return pairs


def layer_label(layer: LayerInfo | None, width: int = 0) -> str:
    """"#3 RUN pip install flask" (shortened to ``width`` with an ellipsis when > 0)."""
    if layer is None:
        return ""
    step = layer_step(layer.created_by)
    text = f"#{layer.index} {step}".rstrip()
    if width and len(text) > width:
        text = text[: max(width - 1, 1)] + "…"
    return text


def _sort_findings(findings: Iterable[Finding]) -> tuple[Finding, ...]:
    return tuple(sorted(findings, key=lambda f: (
        f.package.name, f.package.version, f.package.file_path,
        -SEVERITY_RANK.get(f.severity, 0), f.vulnerability_id)))


def _sort_packages(packages: Iterable[Package]) -> tuple[Package, ...]:
    return tuple(sorted(packages, key=lambda p: (p.name, p.version, p.file_path, p.arch)))


def _group(sbom: Sbom, items: Iterable, pkg_of) -> dict[tuple[str, str, str], list]:
    groups: dict[tuple[str, str, str], list] = {}
    for item in items:
        key = result_key(pkg_of(item), sbom.artifact_name, sbom.artifact_type, sbom.os)
        groups.setdefault(key, []).append(item)
    return groups


def _result_order(key: tuple[str, str, str]) -> tuple[int, str, str]:
    return (0 if key[1] == OS_CLASS else 1, key[0], key[2])


def _assign_unknowns(unknowns: tuple[Unknown, ...], keys: list[tuple[str, str, str]],
                     packages: dict[tuple[str, str, str], list]) -> dict[tuple[str, str, str], list]:
    """Unknowns go to the result of their own file, else to one whose packages came from the same
    analyzer, else to the first one."""
    out: dict[tuple[str, str, str], list] = {}
    by_analyzer = {p.found_by: k for k in keys for p in packages.get(k, ()) if p.found_by}
    by_target = {(k[0], p.found_by): k for k in keys for p in packages.get(k, ()) if p.found_by}
    for u in unknowns:
        key = by_target.get((u.path, u.analyzer)) or by_analyzer.get(u.analyzer) or keys[0]
        out.setdefault(key, []).append(u)
    return out


def build_report(sbom: Sbom, findings: Iterable[Finding] = (), *,
                 suppressed: Iterable[Finding] = (),
                 tool_version: str = "",
                 created_at: str = "",
                 list_all_pkgs: bool = False,
                 show_suppressed: bool = True,
                 vulnerabilities_scanned: bool = False,
                 unchecked_os_packages: int = 0,
                 policy: PolicySummary | None = None,
                 db_metadata: Iterable[tuple[str, str]] = (),
                 dockerfile: str = "") -> ScanReport:
    """Group an SBOM and its (shown and suppressed) findings into Trivy-like results."""
    if not tool_version:
        from layerscan import __version__ as tool_version
    pkg_groups = _group(sbom, sbom.packages, lambda p: p)
    found = _group(sbom, findings, lambda f: f.package)
    supp = _group(sbom, suppressed, lambda f: f.package)
    keys = sorted(set(pkg_groups) | set(found) | set(supp), key=_result_order)
    if sbom.unknowns and not keys:
        keys = [(sbom.artifact_name, LANG_CLASS, "unknown")]
    unknowns = _assign_unknowns(sbom.unknowns, keys, pkg_groups) if sbom.unknowns else {}
    results = tuple(
        Result(target=k[0], klass=k[1], type=k[2],
               packages=_sort_packages(pkg_groups.get(k, ())),
               findings=_sort_findings(found.get(k, ())),
               suppressed=_sort_findings(supp.get(k, ())),
               unknowns=tuple(unknowns.get(k, ())))
        for k in keys)
    return ScanReport(
        artifact_name=sbom.artifact_name, artifact_type=sbom.artifact_type,
        created_at=created_at or now_rfc3339(), tool_version=tool_version,
        os=sbom.os, image=sbom.image, results=results, list_all_pkgs=list_all_pkgs,
        show_suppressed=show_suppressed,
        vulnerabilities_scanned=vulnerabilities_scanned, unchecked_os_packages=unchecked_os_packages,
        policy=policy or PolicySummary(), db_metadata=tuple(db_metadata), dockerfile=dockerfile)
