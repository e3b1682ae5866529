"""`layerscan recommendations IMAGE`: candidate base images from the base-image index
(``refresh``, ``patch``, ``minor``, ``os``, ``major``, ``alternative``), each scanned, with its
findings delta, size delta, age and a ``FROM`` line to paste (docs/cli.md "Remediation").
Targets and flags as for ``cves``; candidates are pulled from their registries with the
same registry flags."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any, Callable

if TYPE_CHECKING:
    from layerscan.remediate.assess import Assessment
    from layerscan.remediate.recommend import Advice

Options = dict[str, Any]


def register(sub: argparse._SubParsersAction) -> None:
    from layerscan.cli.cves_cmd import add_target

    summary = "better base images from the base-image index, each scanned (like 'docker scout recommendations')"
    add_target(sub.add_parser("recommendations", help=summary, description=summary), "recommendations")


def advise(view: Assessment, opts: Options, warn: Callable[[str], None]) -> Advice:
    """remediate.recommend.advise for a CLI target: the candidates scanned with its flags."""
    from layerscan.cli.scan_cmd import progress_factory, scan_config
    from layerscan.remediate.recommend import advise as advise_view
    from layerscan.scan.pipeline import Scanner

    config = scan_config("image", "", dict(opts, input=""), "table", warn)
    return advise_view(Scanner(warn=warn, progress=progress_factory(opts)), config, view)


def run(args: argparse.Namespace, opts: Options) -> int:
    import json

    from layerscan.cli.cves_cmd import assess_target, text_format, write_text
    from layerscan.cli.scan_cmd import make_warn
    from layerscan.remediate.recommend import render_text, to_json

    fmt = text_format(opts, "recommendations")
    warn = make_warn(opts)
    view = assess_target("recommendations", args.target or "", opts, warn)
    advice = advise(view, opts, warn)
    if fmt == "json":
        write_text(json.dumps(to_json(view, advice.ranked, advice.note, advice.skipped), indent=2) + "\n", opts)
    else:
        write_text(render_text(view, advice.ranked, advice.note, skipped=advice.skipped), opts)
    return 0
