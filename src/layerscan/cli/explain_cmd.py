"""`layerscan explain VULN-ID TARGET`: why a vulnerability matched a package of
the target, or why not (namespace, record, range, verdict)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, TextIO

from layerscan.errors import UsageError

Options = dict[str, Any]


def _target(opts: Options, name: str) -> tuple[str, str]:
    """(command, target) from the selector flags: --rootfs, --fs, --sbom, else an image."""
    chosen = [(cmd, opts[cmd + "_target"]) for cmd in ("rootfs", "fs", "sbom") if opts.get(cmd + "_target")]
    if len(chosen) > 1 or (chosen and (name or opts["input"])):
        raise UsageError("explain: give one target: IMAGE / --input, --rootfs, --fs or --sbom")
    return chosen[0] if chosen else ("image", name)


def _write_text(rows: list, vuln_id: str, stream: TextIO) -> None:
    if not rows:
        stream.write(f"{vuln_id}: no package of the target is named by any record of it (or its aliases)\n")
        return
    for e in rows:
        verdict = "AFFECTED" if e.affected else "not affected"
        location = e.package.file_path or (f"layer #{e.package.layer.index}" if e.package.layer else "")
        stream.write(f"{e.package.name} {e.package.version}{f' ({location})' if location else ''}\n"
                     f"  {e.namespace} {e.advisory_id}: {verdict}: {e.reason}\n")


def _write_json(rows: list, vuln_id: str, stream: TextIO) -> None:
    json.dump({"VulnerabilityID": vuln_id, "Explanations": [
        {"PkgName": e.package.name, "InstalledVersion": e.package.version, "PURL": e.package.purl,
         "FilePath": e.package.file_path, "Namespace": e.namespace, "AdvisoryID": e.advisory_id,
         "Affected": e.affected, "Reason": e.reason} for e in rows]}, stream, indent=2)
    stream.write("\n")


def run(vuln_id: str, name: str, opts: Options) -> int:
    from layerscan.cli.scan_cmd import inventory_config, progress_factory, write_output
    from layerscan.db.store import Store
    from layerscan.db.update import db_path
    from layerscan.match.explain import explain
    from layerscan.scan.pipeline import Scanner

    if not vuln_id.strip():
        raise UsageError("explain: give a vulnerability id (CVE-..., GHSA-..., ...)")
    if opts["format"] not in ("table", "json"):
        raise UsageError("explain: --format must be table or json")
    command, target = _target(opts, name)
    store = Store.open(db_path(Path(opts["cache_dir"])))  # DatabaseError with a hint when missing
    sbom = Scanner(progress=progress_factory(opts)).inventory(inventory_config(command, target, opts))
    with store:
        rows = explain(sbom, store, vuln_id.strip())
    writer = _write_json if opts["format"] == "json" else _write_text
    write_output(lambda stream: writer(rows, vuln_id.strip(), stream), opts["output"])
    return 0
