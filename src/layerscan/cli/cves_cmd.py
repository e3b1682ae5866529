"""`layerscan cves IMAGE`: the findings grouped by package (docs/cli.md "Remediation").

The target is what ``layerscan image`` takes (a registry name, or ``--input`` archive /
OCI layout), or ``sbom://FILE`` / ``sbom:FILE``; every ``image`` flag applies. The scan is
``scan_cmd.scan_config`` + ``remediate.assess``; the helpers here are shared by
``quickview`` and ``compare``.
"""

from __future__ import annotations

import argparse
from typing import Any, Callable, TextIO

from layerscan.errors import UsageError

Options = dict[str, Any]
SBOM_PREFIXES = ("sbom://", "sbom:")
TEXT_FORMATS = ("table", "json")


def add_target(parser: argparse.ArgumentParser, command: str) -> None:
    from layerscan.cli.flags import add_flags, flags_for

    parser.add_argument("target", nargs="?", default="", metavar="IMAGE",
                        help="image name (registry reference), or sbom://FILE; omit with --input")
    add_flags(parser, flags_for(command))


def register(sub: argparse._SubParsersAction) -> None:
    summary = "vulnerabilities grouped by package, with filters (like 'docker scout cves')"
    add_target(sub.add_parser("cves", help=summary, description=summary), "cves")


def split_target(name: str, input_path: str = "") -> tuple[str, str]:
    """(command, target) for the scan: ("sbom", FILE) for sbom://FILE, else ("image", NAME)."""
    for prefix in SBOM_PREFIXES:
        if name.startswith(prefix):
            if input_path:
                raise UsageError("give either sbom://FILE or --input, not both")
            if not name[len(prefix):]:
                raise UsageError(f"{prefix}: give the SBOM file after it ({prefix}sbom.json)")
            return "sbom", name[len(prefix):]
    return "image", name


def write_text(text: str, opts: Options) -> None:
    """``text`` to stdout or ``-o FILE`` (atomically, as every report)."""
    from layerscan.cli.scan_cmd import write_output

    def writer(stream: TextIO) -> None:
        stream.write(text)
    write_output(writer, opts["output"])


def text_format(opts: Options, command: str) -> str:
    fmt = str(opts["format"])
    if fmt not in TEXT_FORMATS:
        raise UsageError(f"{command}: --format must be table or json, not {fmt}")
    return fmt


def build_args(opts: Options) -> dict[str, str]:
    out = {}
    for item in opts.get("build_arg") or ():
        name, sep, value = str(item).partition("=")
        if not sep or not name.strip():
            raise UsageError(f"--build-arg {str(item)[:60]!r}: expected NAME=VALUE")
        out[name.strip()] = value
    return out


def assess_target(command: str, name: str, opts: Options, warn: Callable[[str], None]):
    """Scan ``name`` as the ``image``/``sbom`` command would, then identify its base and EOL."""
    from layerscan.cli.scan_cmd import progress_factory, scan_config
    from layerscan.remediate.assess import assess, read_dockerfile
    from layerscan.scan.pipeline import Scanner

    kind, target = split_target(name, opts.get("input", ""))
    if kind == "image" and not target and not opts.get("input"):
        raise UsageError(f"{command}: give an IMAGE name, --input PATH or sbom://FILE")
    config = scan_config(kind, target, opts, "table", warn)
    if not config.vulnerabilities:
        raise UsageError(f"{command}: needs the vulnerability scan (drop --scanners none / --sbom-only)")
    dockerfile = read_dockerfile(str(opts.get("dockerfile") or ""))
    scanner = Scanner(warn=warn, progress=progress_factory(opts))
    return assess(scanner, config, dockerfile, build_args(opts))


def _filters(opts: Options):
    from layerscan.policy.decision import parse_severities
    from layerscan.remediate.cves import CveFilters

    if opts["only_base"] and opts["ignore_base"]:
        raise UsageError("--only-base and --ignore-base exclude each other")
    packages = frozenset(p.strip().lower() for p in str(opts["only_package"]).split(",") if p.strip())
    return CveFilters(only_fixed=bool(opts["only_fixed"]),
                      severities=parse_severities(opts["only_severity"], "--only-severity"),
                      packages=packages,
                      base="only" if opts["only_base"] else "ignore" if opts["ignore_base"] else "all")


def run(args: argparse.Namespace, opts: Options) -> int:
    import json

    from layerscan.cli.scan_cmd import make_warn
    from layerscan.remediate.cves import group_findings, groups_json, render_text
    from layerscan.remediate.quickview import base_json

    fmt = text_format(opts, "cves")
    filters = _filters(opts)  # bad values are usage errors before any scanning
    warn = make_warn(opts)
    view = assess_target("cves", args.target or "", opts, warn)
    groups = group_findings(view.findings, view.base, filters)
    if fmt == "json":
        doc = {"ArtifactName": view.outcome.sbom.artifact_name, "BaseImage": base_json(view),
               "Packages": groups_json(groups)}
        write_text(json.dumps(doc, indent=2) + "\n", opts)
    else:
        write_text(render_text(groups, view.base), opts)
    return view.outcome.exit_code
