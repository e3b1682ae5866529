"""`layerscan recommendations IMAGE`: candidate base images from the base-image index
(``refresh``, ``patch``, ``minor``), each scanned, with its findings delta and a ``FROM``
line to paste (docs/cli.md "Remediation"). Targets and flags as for ``cves``; candidates are
pulled from their registries with the same registry flags."""

from __future__ import annotations

import argparse
from typing import Any

Options = dict[str, Any]


def register(sub: argparse._SubParsersAction) -> None:
    from layerscan.cli.cves_cmd import add_target

    summary = "better base images from the base-image index, each scanned (like 'docker scout recommendations')"
    add_target(sub.add_parser("recommendations", help=summary, description=summary), "recommendations")


def _note(base: Any, found: int) -> str:
    if base.level not in ("matched", "declared", "dockerfile") or not base.tag:
        return ("no base image name: add the base's repository to the index "
                "('layerscan index add REPO') so the image's layers match it")
    if not found:
        return f"no refresh, patch or minor candidate for {base.name}:{base.tag} in the base-image index"
    return ""


def run(args: argparse.Namespace, opts: Options) -> int:
    import json

    from layerscan.cli.cves_cmd import assess_target, text_format, write_text
    from layerscan.cli.scan_cmd import make_warn, progress_factory, scan_config
    from layerscan.db.store import Store
    from layerscan.db.update import db_path
    from layerscan.remediate.recommend import candidates, evaluate, os_names, rank, render_text, to_json
    from layerscan.scan.pipeline import Scanner

    fmt = text_format(opts, "recommendations")
    said: set[str] = set()
    once = make_warn(opts)

    def warn(text: str) -> None:  # every candidate scan would repeat the image's warnings
        if text not in said:
            said.add(text)
            once(text)
    view = assess_target("recommendations", args.target or "", opts, warn)
    config = scan_config("image", "", dict(opts, input=""), "table", warn)
    with Store.open(db_path(config.database.cache_dir)) as store:
        entries = store.index_entries(view.base.name) if view.base.name else []
        names = os_names(e.codename for product in ("debian", "ubuntu") for e in store.eol_cycles(product))
    found = candidates(view.base, entries, names)
    scanner = Scanner(warn=warn, progress=progress_factory(opts))
    ranked = rank(evaluate(scanner, config, view, c) for c in found)
    note = _note(view.base, len(found))
    if fmt == "json":
        write_text(json.dumps(to_json(view, ranked, note), indent=2) + "\n", opts)
    else:
        write_text(render_text(view, ranked, note), opts)
    return 0
