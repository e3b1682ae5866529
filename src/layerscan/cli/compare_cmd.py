"""`layerscan compare IMAGE_A IMAGE_B` (alias ``diff``): packages added, removed and upgraded,
findings introduced, fixed and unchanged from A to B (docs/cli.md "Remediation").

Each side is a registry name, a local archive or OCI layout path (read as ``--input``), or
``sbom://FILE``. Both are scanned now under the same database. ``--exit-code N`` exits N
when B introduces findings (of the shown ``--severity`` levels).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from layerscan.errors import UsageError

Options = dict[str, Any]


def register(sub: argparse._SubParsersAction) -> None:
    from layerscan.cli.flags import add_flags, flags_for

    summary = "what changed from IMAGE_A to IMAGE_B: packages and vulnerabilities (like 'docker scout compare')"
    parser = sub.add_parser("compare", aliases=["diff"], help=summary, description=summary)
    parser.add_argument("image_a", metavar="IMAGE_A", help="the baseline: image name, archive/OCI layout path, "
                                                            "or sbom://FILE")
    parser.add_argument("image_b", metavar="IMAGE_B", help="the image compared with it")
    parser.set_defaults(command="compare")  # also when called as "diff"
    add_flags(parser, flags_for("compare"))


def _side(name: str, opts: Options) -> tuple[str, Options]:
    """(target, options) scanning one side: a local path becomes ``--input``."""
    from layerscan.cli.cves_cmd import SBOM_PREFIXES

    if not name.strip():
        raise UsageError("compare: IMAGE_A and IMAGE_B must not be empty")
    if not name.startswith(SBOM_PREFIXES) and Path(name.split("@", 1)[0]).exists():
        return "", dict(opts, input=name)
    return name, opts


def run(args: argparse.Namespace, opts: Options) -> int:
    import json

    from layerscan.cli.cves_cmd import assess_target, text_format, write_text
    from layerscan.cli.scan_cmd import make_warn
    from layerscan.remediate.compare import compare_scans, render_text, to_json

    fmt = text_format(opts, "compare")
    if opts.get("input"):
        raise UsageError("compare: give both images as arguments (a path is read as --input)")
    warn = make_warn(opts)
    sides = [_side(args.image_a, opts), _side(args.image_b, opts)]
    views = [assess_target("compare", target, side_opts, warn) for target, side_opts in sides]
    a, b = (v.outcome for v in views)
    cmp = compare_scans(a.sbom.artifact_name, a.sbom.packages, a.policy.shown,
                        b.sbom.artifact_name, b.sbom.packages, b.policy.shown)
    if fmt == "json":
        doc = to_json(cmp, a.policy.shown, b.policy.shown)
        write_text(json.dumps(doc, indent=2) + "\n", opts)
    else:
        write_text(render_text(cmp, a.policy.shown, b.policy.shown), opts)
    return int(opts["exit_code"]) if cmp.introduced and opts["exit_code"] else 0
