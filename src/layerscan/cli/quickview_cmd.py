"""`layerscan quickview IMAGE`: one 80-column screen: severity counts, base image (and how it
was identified, with the base's own counts), the best recommended base image with its delta
(each candidate scanned, as ``recommendations`` does), end of life of the OS and runtimes
(docs/cli.md "Remediation"). Targets and flags as for ``cves``."""

from __future__ import annotations

import argparse
from typing import Any

Options = dict[str, Any]


def register(sub: argparse._SubParsersAction) -> None:
    from layerscan.cli.cves_cmd import add_target

    summary = "one screen: counts, base image, end of life of OS and runtimes (like 'docker scout quickview')"
    add_target(sub.add_parser("quickview", help=summary, description=summary), "quickview")


def run(args: argparse.Namespace, opts: Options) -> int:
    import json

    from layerscan.cli.cves_cmd import assess_target, text_format, write_text
    from layerscan.cli.recommendations_cmd import advise
    from layerscan.cli.scan_cmd import make_warn
    from layerscan.remediate.quickview import WIDTH, render_text, to_json
    from layerscan.remediate.recommend import recommended_json, recommended_texts

    fmt = text_format(opts, "quickview")
    warn = make_warn(opts)
    view = assess_target("quickview", args.target or "", opts, warn)
    advice = advise(view, opts, warn)
    if fmt == "json":
        doc = to_json(view, recommended_json(advice, view.today))
        write_text(json.dumps(doc, indent=2) + "\n", opts)
    else:
        write_text(render_text(view, WIDTH, recommended_texts(advice)), opts)
    return view.outcome.exit_code
