"""Write the hostile corpus to a directory: ``python -m tests.hostile.generate OUTDIR``
(or ``python tests/hostile/generate.py OUTDIR``; ``--quick`` leaves the large cases out,
``--only NAME`` builds some). Each case gets ``OUTDIR/<name>/`` with its input, and
``OUTDIR/manifest.json`` lists every case: its command line (run it as ``layerscan ARGS
--cache-dir DIR``), accepted exit codes, required words and limits, for manual use and for
benchmarks against Trivy and Syft on the same files."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]
if str(TESTS) not in sys.path:  # run as a script or as tests.hostile.generate: the package is `hostile`
    sys.path.insert(0, str(TESTS))

from hostile.manifest import CASES, Case  # noqa: E402


def build(case: Case, out: Path) -> list[str]:
    """Build ``case`` into ``out/<name>`` (emptied first is the caller's business); its CLI args."""
    where = out / case.name
    where.mkdir(parents=True)
    return case.build(where)


def entry(case: Case, args: list[str]) -> dict[str, object]:
    return {"name": case.name, "family": case.family, "args": args, "codes": list(case.codes),
            "words": list(case.words), "warns": list(case.warns), "unknowns": list(case.unknowns),
            "packages": list(case.packages), "absent": list(case.absent), "time_limit_s": case.time_limit,
            "memory_limit_mib": case.memory_limit_mib, "slow": case.slow}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="generate", description=__doc__.split("\n\n")[0])
    parser.add_argument("outdir", type=Path)
    parser.add_argument("--quick", action="store_true", help="leave out the large (slow) cases")
    parser.add_argument("--only", action="append", default=[], metavar="NAME", help="build only this case")
    opts = parser.parse_args(argv)
    chosen = [c for c in CASES if (not opts.only or c.name in opts.only) and not (opts.quick and c.slow)]
    if opts.outdir.exists() and any(opts.outdir.iterdir()):
        parser.error(f"{opts.outdir} is not empty")
    opts.outdir.mkdir(parents=True, exist_ok=True)
    listing = [entry(case, build(case, opts.outdir)) for case in chosen]
    (opts.outdir / "manifest.json").write_text(json.dumps(listing, indent=1) + "\n")
    print(f"{len(listing)} cases written to {opts.outdir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
