"""`layerscan image|rootfs|fs|sbom`: the flags become one ScanConfig; the scan itself is
the library's (``scan.pipeline.Scanner``); this module writes the report."""

from __future__ import annotations

import contextlib
import logging
import os
import stat
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, ContextManager, Iterator, TextIO

from layerscan.errors import LayerscanError, UsageError
from layerscan.limits import Limits, limits_from_env
from layerscan.progress import Progress
from layerscan.scan.config import DatabaseConfig, InventoryConfig, ReportConfig, ScanConfig, Target
from layerscan.scan.inventory import ScanOptions

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


# ---- configuration (the flags, read once) ------------------------------------------------

def _password(opts: Options) -> str:
    if not opts["password_stdin"]:
        return opts["password"]
    data = sys.stdin.read(MAX_PASSWORD + 1)
    if len(data) > MAX_PASSWORD:
        raise UsageError("--password-stdin: password is too long")
    return data.rstrip("\r\n")


def inventory_config(command: str, target: str, opts: Options) -> InventoryConfig:
    """What to read and how: the target, how to open an image, how to walk it."""
    from layerscan.source.base import SourceOptions

    image = command == "image"  # the registry/archive flags exist only for images
    limits = limits_from_env(os.environ)  # LAYERSCAN_MAX_* (limits.py), read here, once per scan
    source = SourceOptions(platform=opts["platform"], username=opts["username"], password=_password(opts),
                           insecure=opts["insecure"], docker_config=opts["docker_config"],
                           timeout=float(opts["timeout"]), limits=limits) if image else SourceOptions()
    return InventoryConfig(Target(command, target, opts["input"] if image else ""), source,
                           _walk_options(command, opts, limits))


def _walk_options(command: str, opts: Options, limits: Limits) -> ScanOptions:
    from layerscan.scan import ScanOptions

    if command not in ("image", "rootfs", "fs"):
        return ScanOptions(mode="image")  # an SBOM file is read, not walked
    cache = None if opts["no_cache"] else Path(opts["cache_dir"]) / "layers"
    skip = tuple(d.strip() for d in f'{opts["skip_dirs"]},{opts["skip_files"]}'.split(",") if d.strip())
    return ScanOptions(mode=command, cache_dir=cache, include_dev_deps=opts["include_dev_deps"],
                       parallel=max(1, opts["parallel"]), skip_dirs=skip, limits=limits)


def database_config(opts: Options) -> DatabaseConfig:
    return DatabaseConfig(cache_dir=Path(opts["cache_dir"]),
                          skip_update=bool(opts["skip_db_update"] or opts["offline_scan"]),
                          repository=str(opts.get("db_repository") or ""),
                          timeout=float(opts.get("timeout") or 300), insecure=bool(opts.get("insecure")),
                          max_age=str(opts.get("db_max_age") or ""))


def scan_config(command: str, target: str, opts: Options, fmt: str, warn: Callable[[str], None]) -> ScanConfig:
    """The whole scan's configuration; every bad flag value is a usage error raised here,
    before anything is read."""
    from layerscan.policy.baselayers import parse_spec as parse_base_spec

    policy = policy_options(opts)
    base_layers = parse_base_spec(opts["exclude_base_layers"])
    vulnerabilities = wants_vulnerabilities(opts, fmt, warn)
    report = ReportConfig(format=fmt, list_all_pkgs=opts["list_all_pkgs"], show_suppressed=opts["show_suppressed"],
                          dockerfile=opts["dockerfile"])
    return ScanConfig(inventory=inventory_config(command, target, opts), database=database_config(opts),
                      policy=policy, report=report, vulnerabilities=vulnerabilities, base_layers=base_layers)


def progress_factory(opts: Options) -> Callable[[], ContextManager[Progress]]:
    """Progress bars on stderr for one step at a time (none when quiet or not a terminal)."""
    @contextlib.contextmanager
    def bars() -> Iterator[Progress]:
        from layerscan.cli.progress import make_progress, stop_progress

        progress = make_progress(opts["quiet"], opts["no_progress"])
        try:
            yield progress
        finally:
            stop_progress(progress)
    return bars


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


PLAN_FORMATS = ("table", "json", "copa", "html", "gitlab")  # the writers rendering ScanReport.fix_plan
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


def _is_special(target: Path) -> bool:
    """An existing device, FIFO or socket (``-o /dev/null``, ``-o >(gzip)``): renaming a
    temp file over it would replace the node itself, so it is written in place."""
    try:
        mode = target.stat().st_mode
    except OSError:
        return False
    return not stat.S_ISREG(mode) and not stat.S_ISDIR(mode)


def _write_in_place(text_writer: Callable[[TextIO], None], target: Path, output: str) -> None:
    try:
        with open(target, "w", encoding="utf-8", errors="replace", newline="\n") as stream:
            text_writer(stream)
    except OSError as exc:
        raise LayerscanError(f"cannot write report to {output}: {exc.strerror or exc}") from None


def write_output(text_writer: Callable[[TextIO], None], output: str) -> None:
    """Write to stdout, or atomically to ``output`` (no partial report on failure); a device
    or FIFO is written in place and a symlink is written through."""
    if not output or output == "-":
        if hasattr(sys.stdout, "reconfigure"):
            sys.stdout.reconfigure(errors="replace")  # box drawing on a non-UTF-8 terminal
        text_writer(sys.stdout)
        sys.stdout.flush()
        return
    target = Path(os.path.realpath(output)) if os.path.islink(output) else Path(output)  # write through links
    if _is_special(target):
        _write_in_place(text_writer, target, output)
        return
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


def _with_fix_plan(scanner: Any, config: ScanConfig, opts: Options, fmt: str) -> tuple[Any, Any]:
    """The scan, its base image (``remediate.assess``) and its fix plan, in the report."""
    import dataclasses

    from layerscan.cli.cves_cmd import build_args
    from layerscan.remediate.assess import assess, read_dockerfile
    from layerscan.remediate.fixplan import plan_for

    if not config.vulnerabilities:
        raise UsageError(("-f copa" if fmt == "copa" else "--fix-plan")
                         + " needs the vulnerability scan (drop --scanners none / --sbom-only)")
    path = str(opts.get("dockerfile") or "")
    dockerfile = read_dockerfile(path)
    assessment = assess(scanner, config, dockerfile, build_args(opts))
    plan = plan_for(assessment, config.database.cache_dir, dockerfile, path)
    return assessment.outcome, dataclasses.replace(assessment.outcome.report, fix_plan=plan)


def run(command: str, target: str, opts: Options) -> int:
    """Parse the flags into a ScanConfig, run the library's scan, write the report."""
    from layerscan.report import get_writer
    from layerscan.scan.pipeline import Scanner

    warn = make_warn(opts)
    fmt = report_format(opts)
    writer = get_writer(fmt)  # unknown/unavailable format: usage error before scanning
    check_unsupported(opts, warn)
    config = scan_config(command, target, opts, fmt, warn)
    scanner = Scanner(warn=warn, progress=progress_factory(opts))
    if opts.get("fix_plan") and fmt not in PLAN_FORMATS:
        warn(f"--fix-plan: -f {fmt} does not show the fix plan (table, json, html, gitlab and copa do); not built")
    if (opts.get("fix_plan") and fmt in PLAN_FORMATS) or fmt == "copa":
        outcome, report = _with_fix_plan(scanner, config, opts, fmt)
    else:
        outcome = scanner.run(config)
        report = outcome.report
    started = time.perf_counter()
    write_output(lambda stream: writer(report, stream), opts["output"])
    log.debug("%s report written to %s in %.3fs; exit code %d", fmt, opts["output"] or "stdout",
              time.perf_counter() - started, outcome.exit_code)
    return outcome.exit_code
