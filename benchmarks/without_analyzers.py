"""The layerscan CLI with some analyzers left out of the registry, for A/B timings of one
analyzer against the same tree (farm-bench --vs):

    python benchmarks/without_analyzers.py layerscan.analyzers.binary. image --input X -f cyclonedx ...

The first argument is a comma-separated list of registry entry prefixes ("module:Class") to drop;
the rest are the CLI's arguments.
"""

from __future__ import annotations

import sys

import layerscan.analyzers as registry
from layerscan.cli.main import main

if __name__ == "__main__":
    prefixes = tuple(p for p in sys.argv[1].split(",") if p)
    registry._ENTRIES = tuple(e for e in registry._ENTRIES if not e.startswith(prefixes))
    sys.exit(main(sys.argv[2:]))
