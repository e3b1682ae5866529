#!/usr/bin/env python3
"""The whole hostile corpus (tests/hostile, issue 16) through layerscan, Trivy and Syft, in one run.

Usage: python benchmarks/hostile_corpus.py [--quick] [--only NAME ...] [--tools layerscan,trivy,syft]
       [--timeout 60] [--max-rss-mib 2048] [--corpus DIR]

Each case is built by ``python -m tests.hostile.generate`` (into a temp dir, or ``--corpus DIR``
when that already holds one) and run once per tool with a fresh cache dir: layerscan with the
manifest's own command line, Trivy and Syft on the same input (image archive or OCI layout,
rootfs, fs or SBOM; the policy-file and feed cases are layerscan's alone). Peak RSS and the kill
rules are ``hostile_memory.measure``'s (GNU time's ``%M``; killed past ``--timeout`` seconds or
``--max-rss-mib``, polled: the machine is shared). Cells: outcome, peak RSS MiB, seconds.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent / "tests")]

from hostile_memory import Case, command, measure  # noqa: E402

from hostile.generate import main as generate  # noqa: E402

PEER_KINDS = ("image", "rootfs", "fs", "sbom")


def peer_case(entry: dict) -> tuple[Case, Path] | None:
    """The input Trivy and Syft read for this corpus case (None: a layerscan-only case)."""
    args = entry["args"]
    if args[0] not in PEER_KINDS or any(flag in args for flag in ("--ignorefile", "--vex", "--config")):
        return None
    target = Path(args[args.index("--input") + 1] if args[0] == "image" else args[1])
    return Case(entry["name"], args[0], entry["name"]), target


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--corpus", type=Path, help="an already generated corpus (else one in a temp dir)")
    ap.add_argument("--quick", action="store_true", help="leave out the large (slow) cases")
    ap.add_argument("--only", action="append", default=[], metavar="NAME")
    ap.add_argument("--tools", default="layerscan,trivy,syft")
    ap.add_argument("--timeout", type=float, default=60.0)
    ap.add_argument("--max-rss-mib", type=int, default=2048)
    opts = ap.parse_args()
    tools = opts.tools.split(",")
    with tempfile.TemporaryDirectory(prefix="hostile-corpus-") as tmp:
        work = Path(tmp)
        corpus = opts.corpus or work / "corpus"
        if not (corpus / "manifest.json").exists():
            generate([str(corpus), *(["--quick"] if opts.quick else []), *(f"--only={n}" for n in opts.only)])
        entries = [e for e in json.loads((corpus / "manifest.json").read_text())
                   if (not opts.only or e["name"] in opts.only) and not (opts.quick and e["slow"])]
        print("| case | " + " | ".join(tools) + " |\n|---|" + "---|" * len(tools))
        for entry in entries:
            cells = []
            peer = peer_case(entry)
            for tool in tools:
                cache = work / f"cache-{tool}-{entry['name']}"
                if tool == "layerscan":
                    cmd, env = [sys.executable, "-m", "layerscan.cli.main", *entry["args"], "--cache-dir", str(cache)], {}
                elif peer is None:
                    cells.append("n/a")
                    continue
                else:
                    cmd, env = command(tool, peer[0], peer[1], cache)
                outcome, rss, seconds = measure(cmd, env, opts.timeout, work / f"{tool}-{entry['name']}.log",
                                                opts.max_rss_mib)
                cells.append(f"{outcome}, {rss} MiB, {seconds:.1f} s")
            print(f"| {entry['name']} | " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    main()
