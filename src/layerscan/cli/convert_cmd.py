"""``layerscan convert REPORT.json -f FORMAT [-o FILE]`` (Trivy's ``convert``).

Re-renders a saved JSON report — ours or Trivy's — in any of our formats,
without the image or the database. Its flags are a subset of ``image``'s and
resolve as theirs do (command line > LAYERSCAN_* env > config > default).
``--severity`` and ``--ignore-unfixed`` narrow the shown findings;
``--exit-code``/``--exit-on-eol`` gate on what is shown, as a scan would. The
packages the report lists are kept (``--list-all-pkgs`` is implied by a report
written with it).
"""

from __future__ import annotations

import argparse
import dataclasses
from typing import TYPE_CHECKING, Any, Callable

from layerscan.cli.flags import BY_DEST, add_flags

if TYPE_CHECKING:
    from layerscan.policy.decision import PolicyOptions
    from layerscan.report.document import ScanReport

# image's flags that convert takes; OPTIONS_OF names the flag set they are resolved with
CONVERT_FLAGS = ("format", "template", "output", "list_all_pkgs", "show_suppressed", "dockerfile",
                 "severity", "ignore_unfixed", "exit_code", "exit_on_eol")
OPTIONS_OF = "image"
Options = dict[str, Any]


def register(subparsers: argparse._SubParsersAction[Any],
             add_global: Callable[[argparse.ArgumentParser], None]) -> None:
    summary = "re-render a saved layerscan or Trivy JSON report in another format"
    cmd = subparsers.add_parser("convert", help=summary, description=summary)
    cmd.add_argument("report", metavar="REPORT", help="JSON report written by 'layerscan ... -f json' or "
                                                      "'trivy ... -f json'")
    add_flags(cmd, [BY_DEST[dest] for dest in CONVERT_FLAGS])
    add_global(cmd)


def _policy_options(opts: Options) -> PolicyOptions:
    from layerscan.errors import UsageError
    from layerscan.policy.decision import PolicyOptions, parse_severities

    for name in ("exit_code", "exit_on_eol"):
        if not 0 <= opts[name] <= 255:
            raise UsageError(f"--{name.replace('_', '-')} must be between 0 and 255")
    kwargs: dict[str, Any] = {"exit_code": opts["exit_code"], "exit_on_eol": opts["exit_on_eol"],
                              "ignore_unfixed": opts["ignore_unfixed"]}
    severities = parse_severities(opts["severity"])
    if severities is not None:
        kwargs["severities"] = severities
    return PolicyOptions(**kwargs)


def apply_filters(report: ScanReport, policy: PolicyOptions) -> tuple[ScanReport, int]:
    """The report with only the findings the policy shows, and the exit code it decides."""
    from layerscan.policy.decision import apply_policy

    results, failing = [], 0
    for result in report.results:
        decided = apply_policy(result.findings, policy)
        failing += len(decided.failing)
        results.append(dataclasses.replace(result, findings=decided.shown))
    eol = bool(report.os and report.os.eosl)
    code = policy.exit_on_eol if eol and policy.exit_on_eol else policy.exit_code if failing else 0
    report = dataclasses.replace(report, results=tuple(results))
    if policy.exit_code or policy.exit_on_eol:  # this run gates: its decision replaces the saved one
        report = dataclasses.replace(report, policy=dataclasses.replace(
            report.policy, exit_code=code, failing=failing, eol=eol))
    return report, code


def run(path: str, opts: Options) -> int:
    from layerscan.cli.scan_cmd import make_warn, report_format, write_output
    from layerscan.report import SBOM_FORMATS, get_writer
    from layerscan.report.json_input import load_report

    warn = make_warn(opts)
    fmt = report_format(opts)
    writer = get_writer(fmt)  # unknown format: a usage error before reading anything
    policy = _policy_options(opts)
    loaded = load_report(path)
    if loaded.skipped:
        warn(f"{len(loaded.skipped)} result(s) not converted (only packages and vulnerabilities are): "
             f"{', '.join(loaded.skipped[:5])}" + (", ..." if len(loaded.skipped) > 5 else ""))
    report, code = apply_filters(loaded.report, policy)
    report = dataclasses.replace(
        report, list_all_pkgs=report.list_all_pkgs or opts["list_all_pkgs"] or fmt in SBOM_FORMATS,
        show_suppressed=opts["show_suppressed"], dockerfile=opts["dockerfile"])
    write_output(lambda stream: writer(report, stream), opts["output"])
    return code
