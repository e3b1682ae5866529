"""Trivy-like text tables: per target a header, severity totals, and one row
per finding with the layer (index + shortened Dockerfile step) that introduced
the package. Without a vulnerability scan (or with --list-all-pkgs) the
packages themselves are listed. Plain text (no rich): fast and pipe-friendly.

Width: ``COLUMNS``, else the terminal's, else 120 (pipes and ``-o`` files). Cells
that a reader acts on (package, version, fixed version, ID, path) wrap onto more
lines rather than being clipped; only the Title and Layer columns are clipped
with an ellipsis. Severities are coloured on a terminal unless ``NO_COLOR`` is set.
Warnings (end-of-life, expired ignore entries) are the CLI's, on stderr: never here."""

from __future__ import annotations

import os
import re
import shutil
import sys
import textwrap
from typing import Sequence, TextIO

from layerscan.model import Finding, Package
from layerscan.model.advisory import SEVERITIES
from layerscan.report.document import OS_CLASS, Result, ScanReport, layer_label, printable, unscanned_os_reason

MIN_WIDTH, DEFAULT_WIDTH, MAX_WIDTH = 80, 120, 1000
ELLIPSIS = "…"
SEVERITY_COLORS = {"CRITICAL": "\x1b[1;31m", "HIGH": "\x1b[31m", "MEDIUM": "\x1b[33m", "LOW": "\x1b[34m",
                   "UNKNOWN": "\x1b[2m"}
RESET = "\x1b[0m"
_SEVERITY_CELL = re.compile(r"(?<=│ )(CRITICAL|HIGH|MEDIUM|LOW|UNKNOWN)(?= +│)")

VULN_HEADERS = ("Library", "Vulnerability", "Severity", "Status", "Installed Version",
                "Fixed Version", "Layer", "Title")
PKG_HEADERS = ("Package", "Version", "Type", "Layer", "Path")
SUPPRESSED_HEADERS = ("Library", "Vulnerability", "Severity", "Status", "Statement")


def _isatty(stream: TextIO) -> bool:
    return bool(getattr(stream, "isatty", None) and stream.isatty())


def terminal_width(stream: TextIO) -> int:
    """``COLUMNS``, else the stream's terminal width, else 120 (not a terminal)."""
    if os.environ.get("COLUMNS", "").isdigit():
        width = int(os.environ["COLUMNS"])
    elif _isatty(stream):
        width = shutil.get_terminal_size((DEFAULT_WIDTH, 24)).columns
    else:
        width = DEFAULT_WIDTH
    return max(MIN_WIDTH, min(MAX_WIDTH, width))


def use_color(stream: TextIO) -> bool:
    """Colour on a terminal; ``NO_COLOR`` (any value) turns it off, ``FORCE_COLOR`` on."""
    if os.environ.get("NO_COLOR"):
        return False
    if os.environ.get("FORCE_COLOR"):
        return True
    return _isatty(stream) and os.environ.get("TERM", "") != "dumb"


def colorize(text: str) -> str:
    """Colour the severity cells of rendered tables (cells are already sanitised text)."""
    return _SEVERITY_CELL.sub(lambda m: f"{SEVERITY_COLORS[m.group(1)]}{m.group(1)}{RESET}", text)


def _clean(text: str) -> str:
    return printable(" ".join(text.split()))


def _clip(text: str, width: int) -> str:
    text = _clean(text)
    if len(text) <= width:
        return text
    return text[: max(width - 1, 0)] + ELLIPSIS if width > 0 else ""


def _cell_lines(text: str, width: int, clip: bool) -> list[str]:
    """The cell as the lines it takes: clipped to one, or wrapped (long words split)."""
    text = _clean(text)
    if len(text) <= width or width <= 0 or clip:
        return [_clip(text, width)]
    return textwrap.wrap(text, width, break_long_words=True, break_on_hyphens=False) or [""]


def _fit(natural: list[int], budget: int, shrinkable: Sequence[int], floor: int = 12,
         last_resort: Sequence[int] = (), minimum: Sequence[int] = ()) -> list[int]:
    """Shrink columns in ``shrinkable`` order (each down to ``floor``) until the total fits
    ``budget``; if still too wide, shrink the widest of them and of ``last_resort``
    (columns such as versions that only wrap when nothing else is left) down to their
    ``minimum`` (default 4; a header word is never split)."""
    widths = list(natural)
    least = list(minimum) or [4] * len(widths)
    for i in shrinkable:
        excess = sum(widths) - budget
        if excess <= 0:
            return widths
        widths[i] -= min(excess, max(widths[i] - floor, 0))
    while sum(widths) > budget:
        candidates = [i for i in (*shrinkable, *last_resort) if widths[i] > least[i]]
        if not candidates:
            break
        widths[max(candidates, key=lambda i: widths[i])] -= 1
    return widths


def _natural(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> list[int]:
    return [max([len(headers[i])] + [len(_clean(r[i])) for r in rows]) for i in range(len(headers))]


def _minimum(headers: Sequence[str], rows: Sequence[Sequence[str]] = (), unsplit: Sequence[int] = ()) -> list[int]:
    """Narrowest width of each column: its longest header word (at least 4); for the
    ``unsplit`` columns (IDs followed by markers) also the longest word of any cell."""
    least = [max(4, *(len(word) for word in h.split())) for h in headers]
    for i in unsplit:
        least[i] = max([least[i]] + [len(word) for r in rows for word in _clean(r[i]).split()])
    return least


def render_table(headers: Sequence[str], rows: Sequence[Sequence[str]], width: int,
                 shrinkable: Sequence[int], last_resort: Sequence[int] = (), floor: int = 12,
                 clipped: Sequence[int] = (), unsplit: Sequence[int] = ()) -> list[str]:
    """Box-drawn table no wider than ``width``: narrowed cells wrap onto more lines,
    except those in ``clipped`` columns, which are cut with …; words of ``unsplit``
    columns are never split."""
    n = len(headers)
    widths = _fit(_natural(headers, rows), width - (3 * n + 1), shrinkable, floor, last_resort,
                  _minimum(headers, rows, unsplit))

    def line(left: str, mid: str, right: str) -> str:
        return left + mid.join("─" * (w + 2) for w in widths) + right

    def row(cells: Sequence[str]) -> list[str]:
        columns = [_cell_lines(c, w, i in clipped) for i, (c, w) in enumerate(zip(cells, widths))]
        height = max(len(c) for c in columns)
        return ["│" + "│".join(f" {(col[k] if k < len(col) else ''):<{w}} " for col, w in zip(columns, widths))
                + "│" for k in range(height)]

    out = [line("┌", "┬", "┐"), *row(headers), line("├", "┼", "┤")]
    for r in rows:
        out += row(r)
    out.append(line("└", "┴", "┘"))
    return out


def _totals(result: Result) -> str:
    counts = result.severity_counts()
    total = sum(counts.values())
    parts = ", ".join(f"{s}: {counts[s]}" for s in SEVERITIES)
    return f"Total: {total} ({parts})"


def _markers(f: Finding) -> str:
    """" [KEV]" (CISA Known Exploited Vulnerabilities), " [new]" (not in the --baseline report),
    " [base]" (from the base image's layers)."""
    return (" [KEV]" if f.kev else "") + (" [new]" if f.new else "") + (" [base]" if f.base_layer else "")


def epss_label(score: float) -> str:
    """"EPSS 73%", "EPSS 0.21%", "EPSS <0.01%" (FIRST's score is a probability)."""
    percent = score * 100
    if 0 < percent < 0.01:
        return "EPSS <0.01%"
    return f"EPSS {percent:.2f}".rstrip("0").rstrip(".") + "%"


def _title(f: Finding) -> str:
    text = f.title or f.description
    return f"{epss_label(f.epss)}: {text}" if f.epss is not None else text


def legend(report: ScanReport, width: int) -> list[str]:
    """What [KEV] and EPSS mean, when a shown finding carries either (wrapped to ``width``)."""
    parts = []
    if any(f.kev for f in report.findings):
        parts.append("[KEV]: listed in CISA's Known Exploited Vulnerabilities catalogue.")
    if any(f.epss is not None for f in report.findings):
        parts.append("EPSS n% (before the title): FIRST's probability of exploitation in the next 30 days.")
    return textwrap.wrap(" ".join(parts), width) if parts else []


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
            _title(f),
        ])
    return rows


def _vuln_table(rows: list[list[str]], width: int) -> list[str]:
    """Versions are what a reader acts on: on a narrow terminal the Title column
    goes before any version is clipped."""
    budget = width - (3 * len(VULN_HEADERS) + 1)
    natural = _natural(VULN_HEADERS, rows)
    least = _minimum(VULN_HEADERS, rows, unsplit=(1,))  # an ID is never split; its markers wrap
    if _fit(natural, budget, (7, 6, 0), last_resort=(5, 4, 1), minimum=least)[4:6] != natural[4:6]:
        return render_table(VULN_HEADERS[:-1], [r[:-1] for r in rows], width, (6, 0), floor=8,
                            last_resort=(5, 4, 1), clipped=(6,), unsplit=(1,))
    return render_table(VULN_HEADERS, rows, width, (7, 6, 0), last_resort=(5, 4, 1), clipped=(6, 7),
                        unsplit=(1,))


def _pkg_rows(packages: Sequence[Package]) -> list[list[str]]:
    return [[p.name, p.version, p.type, layer_label(p.layer), p.file_path] for p in packages]


def _suppressed_rows(findings: Sequence[Finding]) -> list[list[str]]:
    return [[f.package.name, f.vulnerability_id, f.severity, f.status, f.suppressed] for f in findings]


def _section(title: str) -> list[str]:
    return ["", title, "=" * len(title)]


def _scan_line(result: Result, report: ScanReport) -> str:
    """Severity totals, or for OS packages the database had no data for: "Not scanned: why"."""
    if result.klass == OS_CLASS and report.unchecked_os_packages:
        return "Not scanned: " + unscanned_os_reason(report.os, report.unchecked_os_packages)
    return _totals(result)


def render_result(result: Result, report: ScanReport, width: int) -> list[str]:
    lines = _section(f"{result.target} ({result.type})" if result.klass != "os-pkgs" else result.target)
    if report.vulnerabilities_scanned:
        lines.append(_scan_line(result, report))
        if result.findings:
            lines += [""] + _vuln_table(_vuln_rows(result.findings), width)
    if result.packages and (report.list_all_pkgs or not report.vulnerabilities_scanned):
        lines += ["", f"Packages: {len(result.packages)}"]
        lines += render_table(PKG_HEADERS, _pkg_rows(result.packages), width, (3, 4, 0, 1), clipped=(3,))
    if result.suppressed and report.show_suppressed:
        lines += ["", f"Suppressed Vulnerabilities (Total: {len(result.suppressed)})"]
        lines += render_table(SUPPRESSED_HEADERS, _suppressed_rows(result.suppressed), width, (4, 0))
    elif result.suppressed:
        lines += ["", f"Suppressed: {len(result.suppressed)} (list them with --show-suppressed)"]
    if result.unknowns:
        lines += ["", f"Unreadable files: {len(result.unknowns)}"]
        lines += [f"  {_clip(u.path, width // 2)}: {_clip(u.reason, width // 2 - 4)}" for u in result.unknowns]
    return lines


def render(report: ScanReport, width: int = DEFAULT_WIDTH, color: bool = False) -> str:
    lines: list[str] = gating_notes(report) + legend(report, width)
    if not report.results:
        lines += _section(report.artifact_name) + ["No packages found."]
    for result in report.results:
        lines += render_result(result, report, width)
    if report.fix_plan is not None:
        from layerscan.report.fixplan import render_plan

        lines += render_plan(report.fix_plan, width)
    text = "\n".join(printable(line) for line in lines).lstrip("\n") + "\n"
    return colorize(text) if color else text


def write(report: ScanReport, stream: TextIO) -> None:
    target = stream if stream is not None else sys.stdout
    stream.write(render(report, terminal_width(target), use_color(target)))
