"""Entry point: ``layerscan COMMAND ...`` (docs/cli.md).

Exit codes: 0 ok; the --exit-code / --exit-on-eol value on a policy failure;
2 usage error; 3 runtime error (image, registry, database, I/O); 130 interrupted.
Start-up stays light: rich, requests and the scan pipeline are imported only
by the command that needs them.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any, Callable, Sequence, cast

from layerscan.cli import clean_cmd, convert_cmd, db_cmd, fleet_cmd, index_cmd, version_cmd
from layerscan.cli import compare_cmd, cves_cmd, quickview_cmd, recommendations_cmd  # remediation
from layerscan.cli.parser import EXIT_USAGE, PROG, CliParser
from layerscan.cli.flags import (ALL_COMMANDS, add_flags, default_config_yaml, environment, flags_for,
                                 resolve)
from layerscan.cachedir import check_cache_dir
from layerscan.errors import LayerscanError

EXIT_OK, EXIT_RUNTIME, EXIT_INTERRUPTED = 0, 3, 130
GLOBAL_GROUP = "global"

_COMMANDS = {
    "image": ("scan a container image (registry name or --input archive/OCI layout)", "IMAGE",
              "image name (registry reference); omit with --input"),
    "rootfs": ("scan an unpacked root filesystem (installed packages)", "PATH", "root filesystem directory"),
    "fs": ("scan a project directory (lockfiles and manifests)", "PATH", "directory or file"),
    "sbom": ("scan a CycloneDX, SPDX or Syft JSON SBOM", "FILE", "SBOM file"),
}


_REMEDIATION = {"cves": cves_cmd, "quickview": quickview_cmd, "compare": compare_cmd,
                "recommendations": recommendations_cmd}


def _global_flags() -> tuple:
    return tuple(f for f in flags_for("db") if f.group == GLOBAL_GROUP)


class _Unbuilt:
    """Stands in for the parser of a command that this run's arguments do not name: it takes
    the command's arguments and drops them (adding every command's flags to argparse cost
    ~4 ms of every run, and imports that only some commands need; benchmarks/README.md)."""

    def __getattr__(self, name: str) -> Callable[..., "_Unbuilt"]:
        return self._anything

    def _anything(self, *args: object, **kwargs: object) -> "_Unbuilt":
        return self


class _NamedOnly:
    """A subparsers action that lists every command (help, choices, errors) but builds in full
    only those in ``wanted`` (None: all of them)."""

    def __init__(self, sub: argparse._SubParsersAction[Any], wanted: frozenset[str] | None) -> None:
        self._sub = sub
        self._wanted = wanted
        self.built = 0  # commands built in full

    def add_parser(self, name: str, **kwargs: Any) -> argparse.ArgumentParser:
        parser = self._sub.add_parser(name, **kwargs)
        if self._wanted is None or not self._wanted.isdisjoint((name, *kwargs.get("aliases", ()))):
            self.built += 1
            return parser
        return cast(argparse.ArgumentParser, _Unbuilt())


def build_parser(argv: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """The whole command line; with ``argv``, only the commands named among its words are built
    in full (a superset of the one it runs: a word that is also a value costs nothing but time).
    Without any command word (``--help``, ``--version``) every command is built."""
    parser = CliParser(
        prog=PROG, description="Container-image vulnerability scanner with layer-attributed SBOMs.",
        epilog="exit codes: 0 ok, --exit-code/--exit-on-eol value on policy failure "
               "(--fail-on-kev/--fail-on-unscanned-os: --exit-code, else 1), "
               "2 usage error or missing input, 3 runtime error, 130 interrupted")
    parser.add_argument("--version", action="store_true", help="print the version and exit")
    parser.add_argument("--generate-default-config", action="store_true",
                        help="print a config file with every setting at its default and exit")
    add_flags(parser, _global_flags())
    only = _NamedOnly(parser.add_subparsers(dest="command", metavar="COMMAND"),
                      None if argv is None else frozenset(argv))
    sub = cast(argparse._SubParsersAction, only)
    for name, (summary, metavar, target_help) in _COMMANDS.items():
        cmd = sub.add_parser(name, help=summary, description=summary)
        nargs = "?" if name == "image" else None
        cmd.add_argument("target", nargs=nargs, default="", metavar=metavar, help=target_help)
        add_flags(cmd, flags_for(name))
    explain = sub.add_parser("explain", help="why a vulnerability matched a package of a target, or why not",
                             description="why a vulnerability matched a package of a target, or why not")
    explain.add_argument("vuln_id", metavar="VULN-ID", help="CVE-..., GHSA-..., PYSEC-..., ...")
    explain.add_argument("target", nargs="?", default="", metavar="IMAGE",
                         help="image name; or use --input, --rootfs, --fs, --sbom")
    add_flags(explain, flags_for("explain"))
    convert_cmd.register(sub, _add_global_flags)
    version = sub.add_parser("version", help="print the version (and the vulnerability database's)",
                             description="print the version (and the vulnerability database's)")
    version.add_argument("-f", "--format", dest="version_format", choices=version_cmd.FORMATS, default="table",
                         help="table (plain text) or json, as 'trivy version -f json'")
    _add_global_flags(version)
    db_cmd.register(sub)
    index_cmd.register(sub)
    clean_cmd.register(sub, _add_global_flags)
    for remediation in _REMEDIATION.values():
        remediation.register(sub)
    fleet_cmd.register(sub)
    if not only.built:  # no command word (--help, --version, a typo): the full parser, for help and errors
        return build_parser()
    return parser


def _add_global_flags(parser: argparse.ArgumentParser) -> None:
    add_flags(parser, _global_flags())


def _default_cache_dir() -> str:
    from platformdirs import user_cache_dir

    return str(Path(user_cache_dir("layerscan", appauthor=False)))


def resolve_options(args: argparse.Namespace, command: str) -> dict[str, Any]:
    """Effective option values (CLI > env > config > default), also set on ``args``."""
    from layerscan.cli.config import load_settings

    env = environment()
    explicit = getattr(args, "config", None) or env.get("LAYERSCAN_CONFIG", "")
    config, env = load_settings(explicit, env, os.environ)
    opts = resolve(args, command if command in ALL_COMMANDS else "db", env, config,
                   {"cache_dir": _default_cache_dir})
    for key, value in opts.items():
        setattr(args, key, value)
    if getattr(args, "command", "") != "convert":  # the one command that never touches the cache dir
        check_cache_dir(Path(opts["cache_dir"]))  # an unsafe one is refused (docs/cli.md, "Cache directory")
    return opts


def _options_of(args: argparse.Namespace) -> str:
    """The flag-table command whose flags ``args.command`` resolves."""
    if args.command == "convert":
        return convert_cmd.OPTIONS_OF
    if args.command == "db":
        return db_cmd.command_of(args.db_command)
    return str(args.command)


def dispatch(argv: Sequence[str], entry: bool = False) -> int:
    """Run the command ``argv`` names; ``entry``: this is the process's entry point."""
    parser = build_parser(argv)
    args = parser.parse_args(argv)
    if args.command not in fleet_cmd.COMMANDS:  # one-shot commands; the server and worker keep the defaults
        _tune_gc(freeze=entry)
    if args.version or args.command == "version":
        opts = resolve_options(args, "version")
        return version_cmd.run(Path(opts["cache_dir"]), getattr(args, "version_format", "table"),
                               bool(opts["quiet"]))
    if args.generate_default_config:
        sys.stdout.write(default_config_yaml())
        return EXIT_OK
    if not args.command:
        print(f"{PROG}: error: a command is required: image, rootfs, fs, sbom, explain, convert, db, clean, "
              f"server, worker or version (see '{PROG} --help')", file=sys.stderr)
        return EXIT_USAGE
    if args.command in fleet_cmd.COMMANDS:  # images are opened as `image` opens them
        return fleet_cmd.run(args, resolve_options(args, "image"))
    if args.command == index_cmd.COMMAND:  # registries are read with `image`'s flags
        return index_cmd.run(args, resolve_options(args, "image"))
    opts = resolve_options(args, _options_of(args))
    if args.command == "db":
        return db_cmd.run(args)
    if args.command == "clean":
        return clean_cmd.run(args, Path(opts["cache_dir"]))
    if args.command == "convert":
        return convert_cmd.run(args.report, opts)
    if args.command in _REMEDIATION:
        return _REMEDIATION[args.command].run(args, opts)
    if args.command == "explain":
        from layerscan.cli import explain_cmd

        return explain_cmd.run(args.vuln_id, args.target or "", opts)
    from layerscan.cli import scan_cmd

    return scan_cmd.run(args.command, args.target or "", opts)


def _debug_requested(argv: Sequence[str]) -> bool:
    if any(a in ("-d", "--debug") for a in argv):
        return True
    return os.environ.get("LAYERSCAN_DEBUG", "").lower() in ("1", "true", "yes", "on")


def report_error(exc: BaseException, debug: bool) -> int:
    if debug:
        import traceback

        traceback.print_exception(exc, file=sys.stderr)
    from layerscan.report.document import printable

    if isinstance(exc, LayerscanError):
        message = printable(" ".join(str(exc).split())) or type(exc).__name__
        print(f"{PROG}: error: {message}", file=sys.stderr)
        if exc.hint:
            print(f"{PROG}: hint: {exc.hint}", file=sys.stderr)
        return exc.exit_code
    message = printable(" ".join(str(exc).split()))[:300]
    print(f"{PROG}: error: unexpected {type(exc).__name__}: {message}"
          + ("" if debug else " (run with --debug for details)"), file=sys.stderr)
    return EXIT_RUNTIME


def _configure_logging(debug: bool) -> None:
    """``--debug``: every module's ``logging.getLogger(__name__)`` to stderr, with elapsed time."""
    if not debug:
        return
    import logging

    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(f"{PROG}: debug: %(relativeCreated)6.0fms %(name)s: %(message)s"))
    handler.set_name("layerscan-debug")
    root = logging.getLogger("layerscan")
    if not any(h.get_name() == "layerscan-debug" for h in root.handlers):
        root.addHandler(handler)
    root.setLevel(logging.DEBUG)


def _tune_gc(freeze: bool) -> None:
    """A scan allocates millions of short-lived containers (decoded rows, findings, report dicts);
    CPython's default thresholds run ~150 collections over them and everything alive, 0.1-0.2 s
    of a 0.5 s scan (benchmarks/README.md, issue 11). Collect young objects rarely and the old
    generation almost never; refcounting frees everything acyclic as before, and cycles are
    still collected.
    ``freeze`` (the process's entry point): what start-up imported is also moved out of the
    collector's view (it lives as long as the process); not when called in-process (tests)."""
    import gc

    if freeze:
        gc.freeze()
    gc.set_threshold(100_000, 50, 100)


def _exit_now(code: int) -> None:
    """End the process (the command's entry point) without the interpreter's teardown, which
    frees every object of a scan one by one (~20 ms after a full scan; benchmarks/README.md,
    issue 11): atexit handlers run and the standard streams are flushed first. Nothing happens
    while a non-daemon thread still runs (the normal exit waits for it)."""
    import threading

    if any(t is not threading.current_thread() and not t.daemon for t in threading.enumerate()):
        return
    import atexit

    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    os._exit(code)


def main(argv: Sequence[str] | None = None) -> int:
    code = _main(argv)
    if argv is None:
        _exit_now(code)
    return code


def _main(argv: Sequence[str] | None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    debug = _debug_requested(args)
    _configure_logging(debug)
    try:
        return dispatch(args, entry=argv is None)
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # the reader went away (`layerscan ... | head`): stop quietly
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
        except OSError:
            pass
        return EXIT_OK
    except Exception as exc:  # noqa: BLE001 - the one place that turns errors into exit codes
        return report_error(exc, debug)


if __name__ == "__main__":
    sys.exit(main())
