"""Trivy-like text tables: per target a header, severity totals, and one row
per finding with the layer (index + shortened Dockerfile step) that introduced
the package. Without a vulnerability scan (or with --list-all-pkgs) the
packages themselves are listed. Plain text (no rich): fast and pipe-friendly."""

from __future__ import annotations

import os
import shutil
import sys
from typing import Sequence, TextIO

from layerscan.model import Finding, Package
from layerscan.model.advisory import SEVERITIES
from layerscan.report.document import Result, ScanReport, layer_label, printable

MIN_WIDTH, MAX_WIDTH = 80, 160
ELLIPSIS = "…"

VULN_HEADERS = ("Library", "Vulnerability", "Severity", "Status", "Installed Version",
                "Fixed Version", "Layer", "Title")
PKG_HEADERS = ("Package", "Version", "Type", "Layer", "Path")
SUPPRESSED_HEADERS = ("Library", "Vulnerability", "Severity", "Status", "Statement")


def terminal_width(stream: TextIO) -> int:
    """The stream's terminal width clamped to 80..160; 120 when not a terminal."""
    if os.environ.get("COLUMNS", "").isdigit():
        width = int(os.environ["COLUMNS"])
    elif hasattr(stream, "isatty") and stream.isatty():
        width = shutil.get_terminal_size((120, 24)).columns
    else:
        width = 120
    return max(MIN_WIDTH, min(MAX_WIDTH, width))


def _clip(text: str, width: int) -> str:
    text = printable(" ".join(text.split()))
    if len(text) <= width:
        return text
    return text[: max(width - 1, 0)] + ELLIPSIS if width > 0 else ""


def _fit(natural: list[int], budget: int, shrinkable: Sequence[int], floor: int = 12,
         last_resort: Sequence[int] = ()) -> list[int]:
    """Shrink columns in ``shrinkable`` order (each down to ``floor``) until the total fits
    ``budget``; if still too wide, shrink the widest of them and of ``last_resort``
    (columns such as versions that are only clipped when nothing else is left) down to 4."""
    widths = list(natural)
    for i in shrinkable:
        excess = sum(widths) - budget
        if excess <= 0:
            return widths
        widths[i] -= min(excess, max(widths[i] - floor, 0))
    while sum(widths) > budget:
        candidates = [i for i in (*shrinkable, *last_resort) if widths[i] > 4]
        if not candidates:
            break
        widths[max(candidates, key=lambda i: widths[i])] -= 1
    return widths


def render_table(headers: Sequence[str], rows: Sequence[Sequence[str]], width: int,
                 shrinkable: Sequence[int], last_resort: Sequence[int] = (), floor: int = 12) -> list[str]:
    """Box-drawn table no wider than ``width`` (shrinkable columns are clipped with …)."""
    n = len(headers)
    natural = [max([len(headers[i])] + [len(printable(" ".join(r[i].split()))) for r in rows]) for i in range(n)]
    widths = _fit(natural, width - (3 * n + 1), shrinkable, floor, last_resort)

    def line(left: str, mid: str, right: str) -> str:
        return left + mid.join("─" * (w + 2) for w in widths) + right

    def row(cells: Sequence[str]) -> str:
        return "│" + "│".join(f" {_clip(c, w):<{w}} " for c, w in zip(cells, widths)) + "│"

    out = [line("┌", "┬", "┐"), row(headers), line("├", "┼", "┤")]
    out += [row(r) for r in rows]
    out.append(line("└", "┴", "┘"))
    return out


def _totals(result: Result) -> str:
    counts = result.severity_counts()
    total = sum(counts.values())
    parts = ", ".join(f"{s}: {counts[s]}" for s in SEVERITIES)
    return f"Total: {total} ({parts})"


def _markers(f: Finding) -> str:
    """" [new]" (not in the --baseline report), " [base]" (from the base image's layers)."""
    return (" [new]" if f.new else "") + (" [base]" if f.base_layer else "")


def gating_notes(report: ScanReport) -> list[str]:
    """Header lines for --exclude-base-layers and --baseline."""
    pol = report.policy
    lines = []
    if pol.base_layers:
        base = f" ({pol.base_image})" if pol.base_image else ""
        span = "layer 0" if pol.base_layers == 1 else f"layers 0-{pol.base_layers - 1}"
        lines.append(f"Base image{base}: {span} [{pol.base_boundary}]; "
                     f"{pol.base_layer_findings} findings in base image layers (not gating) [base]")
    if pol.baseline:
        lines.append(f"Baseline {pol.baseline}: {pol.new_findings} new findings [new]; "
                     "findings already in the baseline do not fail the build")
    return lines


def _vuln_rows(findings: Sequence[Finding]) -> list[list[str]]:
    rows: list[list[str]] = []
    previous: tuple[str, str, str] | None = None
    for f in findings:
        p = f.package
        key = (p.name, p.version, p.file_path)
        same = key == previous
        previous = key
        rows.append([
            "" if same else p.name, f.vulnerability_id + _markers(f), f.severity, f.status,
            "" if same else p.version, f.fixed_version, "" if same else layer_label(p.layer),
            f.title or f.description,
        ])
    return rows


def _vuln_table(rows: list[list[str]], width: int) -> list[str]:
    """Versions are what a reader acts on: on a narrow terminal the Title column
    goes before any version is clipped."""
    budget = width - (3 * len(VULN_HEADERS) + 1)
    natural = [max([len(VULN_HEADERS[i])] + [len(printable(" ".join(r[i].split()))) for r in rows])
               for i in range(len(VULN_HEADERS))]
    if _fit(natural, budget, (7, 6, 0), last_resort=(5, 4))[4:6] != natural[4:6]:
        return render_table(VULN_HEADERS[:-1], [r[:-1] for r in rows], width, (6, 0), floor=8,
                            last_resort=(5, 4))
    return render_table(VULN_HEADERS, rows, width, (7, 6, 0), last_resort=(5, 4))


def _pkg_rows(packages: Sequence[Package]) -> list[list[str]]:
    return [[p.name, p.version, p.type, layer_label(p.layer), p.file_path] for p in packages]


def _suppressed_rows(findings: Sequence[Finding]) -> list[list[str]]:
    return [[f.package.name, f.vulnerability_id, f.severity, f.status, f.suppressed] for f in findings]


def _section(title: str) -> list[str]:
    return ["", title, "=" * len(title)]


def render_result(result: Result, report: ScanReport, width: int) -> list[str]:
    lines = _section(f"{result.target} ({result.type})" if result.klass != "os-pkgs" else result.target)
    if report.vulnerabilities_scanned:
        lines.append(_totals(result))
        if result.findings:
            lines += [""] + _vuln_table(_vuln_rows(result.findings), width)
    if result.packages and (report.list_all_pkgs or not report.vulnerabilities_scanned):
        lines += ["", f"Packages: {len(result.packages)}"]
        lines += render_table(PKG_HEADERS, _pkg_rows(result.packages), width, (3, 4, 0, 1))
    if result.suppressed:
        lines += ["", f"Suppressed Vulnerabilities (Total: {len(result.suppressed)})"]
        lines += render_table(SUPPRESSED_HEADERS, _suppressed_rows(result.suppressed), width, (4, 0))
    if result.unknowns:
        lines += ["", f"Unreadable files: {len(result.unknowns)}"]
        lines += [f"  {_clip(u.path, width // 2)}: {_clip(u.reason, width // 2 - 4)}" for u in result.unknowns]
    return lines


def render(report: ScanReport, width: int = 120) -> str:
    lines: list[str] = []
    if report.os and report.os.eosl:
        lines.append(f"WARNING: {report.os.family} {report.os.name} is no longer supported "
                     "by the distribution (end of life)")
    lines += gating_notes(report)
    if not report.results:
        lines += _section(report.artifact_name) + ["No packages found."]
    for result in report.results:
        lines += render_result(result, report, width)
    if report.policy.expired_ignores:
        lines += ["", "Expired ignore entries (no longer suppressing): "
                  + ", ".join(report.policy.expired_ignores)]
    return "\n".join(printable(line) for line in lines).lstrip("\n") + "\n"


def write(report: ScanReport, stream: TextIO) -> None:
    stream.write(render(report, terminal_width(stream if stream is not None else sys.stdout)))
