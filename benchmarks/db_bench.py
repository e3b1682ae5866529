"""Vulnerability-database benchmark: import every corpus feed, then time lookups.

    python benchmarks/db_bench.py [FEEDS_DIR] [--lookups N]

Prints wall and CPU time and peak RSS of the import, the database size, and the mean, p50 and p99
time per ``Store.affected`` call over N random (namespace, package) lookups
(90% names present in the database, 10% absent). CPU times are printed too:
on a shared machine they vary less than wall times.
"""

from __future__ import annotations

import argparse
import random
import resource
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

from layerscan.db.build import import_paths
from layerscan.db.store import Store

DEFAULT_FEEDS = Path(__file__).resolve().parents[2] / "shared" / "corpus" / "feeds"


def _targets(db: Path, n: int, seed: int = 7) -> list[tuple[str, str]]:
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    pairs = conn.execute("SELECT DISTINCT namespace, package FROM affected").fetchall()
    conn.close()
    rng = random.Random(seed)
    picks = [rng.choice(pairs) for _ in range(n)]
    return [(ns, name if i % 10 else name + "-absent") for i, (ns, name) in enumerate(picks)]


def lookup_times(db: Path, n: int = 10_000) -> dict[str, float]:
    """``Store.affected`` over ``n`` random (namespace, package) pairs of ``db`` (10% absent):
    mean wall and CPU, p50 and p99 wall per lookup in microseconds, rows per lookup."""
    targets = _targets(db, n)
    times: list[float] = []
    found = 0
    with Store.open(db) as store:
        cpu = time.process_time()
        for namespace, name in targets:
            start = time.perf_counter()
            found += len(store.affected(namespace, name))
            times.append(time.perf_counter() - start)
        cpu = time.process_time() - cpu
    times.sort()
    return {"mean_us": sum(times) / len(times) * 1e6, "cpu_us": cpu / len(times) * 1e6,
            "p50_us": times[len(times) // 2] * 1e6, "p99_us": times[int(len(times) * 0.99)] * 1e6,
            "rows": found / len(targets)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("feeds", nargs="?", type=Path, default=DEFAULT_FEEDS)
    parser.add_argument("--lookups", type=int, default=10_000)
    args = parser.parse_args(argv)
    if not args.feeds.is_dir():
        print(f"no feeds directory at {args.feeds}", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "layerscan.db"
        start, cpu = time.perf_counter(), time.process_time()
        result = import_paths(db, [args.feeds])
        wall, cpu = time.perf_counter() - start, time.process_time() - cpu
        peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        rows = sum(s.rows for s in result.sources)
        print(f"import: {wall:.2f} s wall ({cpu:.2f} s CPU), peak RSS {peak_mb:.0f} MB, {db.stat().st_size / 1e6:.1f} MB file, "
              f"{len(result.sources)} sources, {rows} rows")
        t = lookup_times(db, args.lookups)
        print(f"lookups: {args.lookups}, {t['mean_us']:.1f} us wall ({t['cpu_us']:.1f} us CPU) per lookup, "
              f"p50 {t['p50_us']:.1f} us, p99 {t['p99_us']:.1f} us, {t['rows']:.1f} rows per lookup")
    return 0


if __name__ == "__main__":
    sys.exit(main())
