"""`layerscan image|rootfs|fs|sbom`: SBOM -> vulnerabilities -> policy -> report."""

from __future__ import annotations

import dataclasses
import logging
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, TextIO

from layerscan.errors import ImageError, LayerscanError, UsageError, InputNotFoundError
from layerscan.model import Sbom
from layerscan.progress import Progress

log = logging.getLogger(__name__)
Options = dict[str, Any]
MAX_PASSWORD = 4096
TRIVY_IGNOREFILE = ".trivyignore"
DEFAULT_IGNOREFILE = ".layerscanignore"


def make_warn(opts: Options, stream: TextIO | None = None) -> Callable[[str], None]:
    def warn(message: str) -> None:
        if not opts.get("quiet"):
            from layerscan.report.document import printable

            print(f"layerscan: warning: {printable(message)}", file=stream or sys.stderr)
    return warn


# ---- policy -------------------------------------------------------------------------------

def _ignore_rules(opts: Options) -> tuple:
    from layerscan.policy.ignorefile import load_ignorefile

    path = opts["ignorefile"]
    if path == DEFAULT_IGNOREFILE and not Path(path).is_file() and Path(TRIVY_IGNOREFILE).is_file():
        path = TRIVY_IGNOREFILE
    return tuple(load_ignorefile(path, required=path not in (DEFAULT_IGNOREFILE, TRIVY_IGNOREFILE)))


def policy_options(opts: Options):
    """PolicyOptions from the flags; bad values are usage errors raised before any scanning."""
    from layerscan.policy.decision import (PolicyOptions, parse_pkg_types, parse_severities,
                                           parse_statuses)
    from layerscan.policy.baseline import load_baseline
    from layerscan.policy.vex import load_vex

    for name in ("exit_code", "exit_on_eol"):
        if not 0 <= opts[name] <= 255:
            raise UsageError(f"--{name.replace('_', '-')} must be between 0 and 255")
    severities = parse_severities(opts["severity"])
    kwargs: dict[str, Any] = dict(
        fail_on=parse_severities(opts["fail_on"], "--fail-on"),
        exit_code=opts["exit_code"], exit_on_eol=opts["exit_on_eol"],
        ignore_unfixed=opts["ignore_unfixed"], ignore_statuses=parse_statuses(opts["ignore_status"]),
        pkg_types=parse_pkg_types(opts["pkg_types"]), ignore_rules=_ignore_rules(opts),
        vex=tuple(st for path in opts["vex"] for st in load_vex(path)),
        baseline=load_baseline(opts["baseline"]) if opts["baseline"] else None,
        fail_on_kev=opts["fail_on_kev"], fail_on_unscanned_os=opts["fail_on_unscanned_os"])
    if severities is not None:
        kwargs["severities"] = severities
    return PolicyOptions(**kwargs)


# ---- SBOM ---------------------------------------------------------------------------------

def _scan_options(command: str, opts: Options):
    from layerscan.scan import ScanOptions

    cache = None if opts["no_cache"] else Path(opts["cache_dir"]) / "layers"
    skip = tuple(d.strip() for d in f'{opts["skip_dirs"]},{opts["skip_files"]}'.split(",") if d.strip())
    return ScanOptions(mode=command, cache_dir=cache, include_dev_deps=opts["include_dev_deps"],
                       parallel=max(1, opts["parallel"]), skip_dirs=skip)


def _password(opts: Options) -> str:
    if not opts["password_stdin"]:
        return opts["password"]
    data = sys.stdin.read(MAX_PASSWORD + 1)
    if len(data) > MAX_PASSWORD:
        raise UsageError("--password-stdin: password is too long")
    return data.rstrip("\r\n")


def image_sbom(name: str, opts: Options, progress: Progress) -> Sbom:
    if not name and not opts["input"]:
        raise UsageError("image: give an IMAGE name or --input PATH")
    from layerscan.source.base import SourceOptions
    from layerscan.source.open import open_image

    source_opts = SourceOptions(platform=opts["platform"], username=opts["username"],
                                password=_password(opts), insecure=opts["insecure"],
                                docker_config=opts["docker_config"], timeout=float(opts["timeout"]))
    with open_image(name or None, input_path=opts["input"] or None, options=source_opts,
                    progress=progress) as source:
        from layerscan.scan import scan_image

        return scan_image(source, _scan_options("image", opts), progress)


def directory_sbom(command: str, target: str, opts: Options, progress: Progress) -> Sbom:
    path = Path(target)
    if not path.exists():
        raise InputNotFoundError("root filesystem" if command == "rootfs" else "project path", target)
    if command == "rootfs" and not path.is_dir():
        raise ImageError(f"{target}: not a directory")
    from layerscan.scan import scan_directory

    return scan_directory(path, _scan_options(command, opts), progress)


def sbom_file(target: str, opts: Options, progress: Progress) -> Sbom:
    from layerscan.source.sbom_input import load_sbom

    return load_sbom(target)


def produce_sbom(command: str, target: str, opts: Options, progress: Progress) -> Sbom:
    started = time.perf_counter()
    if command == "image":
        sbom = image_sbom(target, opts, progress)
    elif command in ("rootfs", "fs"):
        sbom = directory_sbom(command, target, opts, progress)
    else:
        sbom = sbom_file(target, opts, progress)
    log.debug("inventory of %s: %d packages, %d unknowns in %.3fs", sbom.artifact_name, len(sbom.packages),
              len(sbom.unknowns), time.perf_counter() - started)
    return sbom


# ---- report -------------------------------------------------------------------------------

def wants_vulnerabilities(opts: Options, fmt: str, warn: Callable[[str], None]) -> bool:
    """Match the database? Then it is required: a vulnerability scan without one is an
    error, never a package list that looks like a clean result. Trivy's other scanners
    (secret, misconfig, license) are accepted with one warning line: they are not run."""
    from layerscan.cli.flags import SCANNERS_NOT_RUN, SCANNERS_RUN
    from layerscan.report import SBOM_FORMATS

    asked = [s.strip().lower() for s in opts["scanners"].split(",") if s.strip()]
    unknown = [s for s in asked if s not in SCANNERS_RUN + SCANNERS_NOT_RUN]
    if unknown:
        raise UsageError(f"--scanners: unknown scanner {unknown[0]!r} (layerscan runs vuln or none)")
    not_run = [s for s in asked if s in SCANNERS_NOT_RUN]
    if not_run:
        warn(f"--scanners {','.join(not_run)}: not supported by layerscan, not run "
             "(only vulnerabilities in packages are scanned)")
    if opts["sbom_only"] or "none" in asked or (asked and "vuln" not in asked):
        return False
    return "vuln" in asked or fmt not in SBOM_FORMATS


TEMPLATE_FORMATS = {"html.tpl": "html", "junit.tpl": "junit", "gitlab.tpl": "gitlab"}


def report_format(opts: Options) -> str:
    """The writer to use: ``-f template -t @contrib/html.tpl`` maps Trivy's bundled
    templates to our own writers; any other template is a usage error."""
    if opts["format"] != "template":
        return str(opts["format"])
    template = opts["template"].strip()
    if not template:
        raise UsageError("-f template needs -t/--template (@html.tpl, @junit.tpl or @gitlab.tpl)")
    name = template.removeprefix("@").replace("\\", "/").rsplit("/", 1)[-1]
    if name not in TEMPLATE_FORMATS:
        raise UsageError(f"--template {template}: custom Go templates are not supported; Trivy's bundled "
                         "@html.tpl, @junit.tpl and @gitlab.tpl map to layerscan's html, junit and gitlab "
                         "formats; for anything else use -f json and a JSON tool such as jq")
    return TEMPLATE_FORMATS[name]


def check_unsupported(opts: Options, warn: Callable[[str], None]) -> None:
    """Trivy flags we accept but cannot honour: an error where ignoring would change the
    result (a Rego policy), one warning line where it only changes the presentation."""
    if opts["ignore_policy"]:
        raise UsageError(f"--ignore-policy {opts['ignore_policy']}: Rego policies are not supported; "
                         "use --ignorefile (id/purl/path/expires entries) or --vex")
    if opts["dependency_tree"]:
        warn("--dependency-tree: dependency trees are not drawn yet; findings are listed without them")
    if opts["detection_priority"] != "precise":
        log.debug("--detection-priority %s: layerscan always matches precisely", opts["detection_priority"])


def _umask() -> int:
    current = os.umask(0o022)
    os.umask(current)
    return current


def write_output(text_writer: Callable[[TextIO], None], output: str) -> None:
    """Write to stdout, or atomically to ``output`` (no partial report on failure)."""
    if not output or output == "-":
        if hasattr(sys.stdout, "reconfigure"):
            sys.stdout.reconfigure(errors="replace")  # box drawing on a non-UTF-8 terminal
        text_writer(sys.stdout)
        sys.stdout.flush()
        return
    target = Path(output)
    directory = target.parent if str(target.parent) else Path(".")
    try:
        fd, tmp = tempfile.mkstemp(prefix=".layerscan-", suffix=".tmp", dir=directory)
    except OSError as exc:
        raise LayerscanError(f"cannot write report to {output}: {exc.strerror or exc}") from None
    try:
        # errors="replace": a lone surrogate (hostile JSON input "\\ud800") becomes "?", never a crash
        with os.fdopen(fd, "w", encoding="utf-8", errors="replace", newline="\n") as stream:
            text_writer(stream)
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, target)
    except BaseException as exc:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(exc, OSError):
            raise LayerscanError(f"cannot write report to {output}: {exc.strerror or exc}") from None
        raise


def run(command: str, target: str, opts: Options) -> int:
    from layerscan.cli.progress import make_progress, stop_progress
    from layerscan.cli.vulnscan import find_vulnerabilities
    from layerscan.policy.baselayers import parse_spec as parse_base_spec, resolve_boundary
    from layerscan.policy.decision import apply_policy
    from layerscan.report import get_writer
    from layerscan.report.document import PolicySummary, build_report, unscanned_os_reason

    warn = make_warn(opts)
    fmt = report_format(opts)
    writer = get_writer(fmt)  # unknown/unavailable format: usage error before scanning
    check_unsupported(opts, warn)
    policy = policy_options(opts)
    base_spec = parse_base_spec(opts["exclude_base_layers"])
    scan_vulns = wants_vulnerabilities(opts, fmt, warn)
    progress = make_progress(opts["quiet"], opts["no_progress"])
    try:
        sbom = produce_sbom(command, target, opts, progress)
    finally:
        stop_progress(progress)
    outcome = None
    if scan_vulns:
        from layerscan.cli.dbrefresh import refresh_database

        progress = make_progress(opts["quiet"], opts["no_progress"])
        try:
            refresh_database(opts, progress, warn)
        finally:
            stop_progress(progress)
        outcome = find_vulnerabilities(sbom, Path(opts["cache_dir"]))
        if outcome.unknowns:
            sbom = dataclasses.replace(sbom, unknowns=sbom.unknowns + outcome.unknowns)
        if outcome.os_eol and sbom.os and not sbom.os.eosl:
            sbom = dataclasses.replace(sbom, os=dataclasses.replace(sbom.os, eosl=True))
    if sbom.os and sbom.os.eosl:
        warn(f"{sbom.os.family} {sbom.os.name} is end-of-life: the distribution no longer publishes "
             "security fixes for it (see --exit-on-eol)")
    scanned = bool(outcome and outcome.scanned)
    unchecked = outcome.unchecked_os_packages if outcome and "os" in policy.pkg_types else 0
    if unchecked:
        reason = unscanned_os_reason(sbom.os, unchecked)
        warn((f"{sbom.os.family} {sbom.os.name}: {reason}" if sbom.os else reason)
             + " (see --fail-on-unscanned-os)")
    boundary = resolve_boundary(base_spec, sbom.image)
    if boundary.warning:
        warn(boundary.warning)
    policy = dataclasses.replace(policy, base_layers=boundary.layers)
    result = apply_policy(outcome.findings if outcome else (), policy, os_eosl=bool(sbom.os and sbom.os.eosl),
                          unscanned_os=bool(unchecked))
    for rule in result.expired_rules:
        warn(f"ignore entry {rule.id} ({rule.source}) expired on {rule.expires}; it no longer suppresses")
    from layerscan.report import SBOM_FORMATS

    report = build_report(
        sbom, result.shown, suppressed=result.suppressed, show_suppressed=opts["show_suppressed"],
        list_all_pkgs=opts["list_all_pkgs"] or fmt in SBOM_FORMATS,
        vulnerabilities_scanned=scanned, unchecked_os_packages=unchecked,
        policy=PolicySummary(exit_code=result.exit_code, failing=len(result.failing), eol=result.eol,
                             expired_ignores=tuple(r.source for r in result.expired_rules),
                             base_layers=boundary.layers, base_boundary=boundary.how,
                             base_image=boundary.base_image, base_layer_findings=result.base_layer_findings,
                             baseline=policy.baseline.source if policy.baseline else "",
                             new_findings=result.new_findings),
        db_metadata=outcome.db_metadata if outcome else (), dockerfile=opts["dockerfile"])
    started = time.perf_counter()
    write_output(lambda stream: writer(report, stream), opts["output"])
    log.debug("%s report written to %s in %.3fs; exit code %d", fmt, opts["output"] or "stdout",
              time.perf_counter() - started, result.exit_code)
    return result.exit_code
