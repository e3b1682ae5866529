"""Network faults (issue 16): layerscan, Trivy and Syft pulling from the hostile registry.

    python benchmarks/hostile_network.py [--old-src /tmp/old/src] [--kill-after 60] [--tools layerscan,trivy,syft]

The registry is the one of tests/test_hostile_registry.py (a local ``http.server`` on
127.0.0.1): a layer blob or a header trickled one byte every 2 s, a reset or a stall halfway through the blob (once, with and without ``Range``
support) and a reset on every try. Each tool pulls ``127.0.0.1:PORT/<case>:1`` once with a
10 s timeout where it has one (layerscan and Trivy ``--timeout 10s``; Syft has none), and is
killed after ``--kill-after`` seconds. Prints a Markdown table: outcome (exit code, or
killed), wall seconds, peak RSS (GNU time's ``%M``, or the polled RSS of a killed run). The
registry runs in a child process of its own, started afresh for every run (its flaky
routes count their requests), so the tools are not forked from a process holding its data.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent / "tests")]

from hostile_memory import measure, syft_bin  # noqa: E402
from run import trivy_bin  # noqa: E402

CASES = {
    "trickle": "layer blob trickled 1 byte / 2 s",
    "trickle-headers": "manifest response headers trickled 1 byte / 2 s",
    "reset-range": "connection reset halfway through the blob, once (Range supported)",
    "reset-norange": "connection reset halfway through the blob, once (Range ignored)",
    "stall-once": "silence halfway through the blob (30 s), once",
    "reset-always": "connection reset halfway through the blob, every time",
}
TIMEOUT = "10s"


def command(tool: str, ref: str, cache: Path, src: str) -> tuple[list[str], dict[str, str]]:
    if tool.startswith("layerscan"):
        return ([sys.executable, "-m", "layerscan.cli.main", "image", ref, "--insecure", "--scanners", "none",
                 "-f", "json", "--timeout", TIMEOUT, "--cache-dir", str(cache), "--no-progress", "-q"],
                {"PYTHONPATH": src} if src else {})
    if tool == "trivy":
        return ([trivy_bin(), "image", "--image-src", "remote", "--insecure", "--timeout", TIMEOUT,
                 "--skip-db-update", "--skip-java-db-update", "--offline-scan", "--cache-dir", str(cache),
                 "-f", "cyclonedx", ref], {})
    return ([syft_bin(), "scan", f"registry:{ref}", "-o", "json"],
            {"SYFT_CHECK_FOR_APP_UPDATE": "false", "SYFT_CACHE_DIR": str(cache),
             "SYFT_REGISTRY_INSECURE_USE_HTTP": "true"})


_SERVE = ("import sys; sys.path[:0] = sys.argv[1:]; from test_hostile_registry import start_evil_registry; "
          "s = start_evil_registry(); print(s.server_address[1], flush=True); sys.stdin.read()")


@contextmanager
def evil_registry() -> Iterator[str]:
    """``127.0.0.1:PORT`` of a fresh hostile registry in a child process (ends with the block)."""
    child = subprocess.Popen([sys.executable, "-c", _SERVE, str(HERE.parent / "tests"), str(HERE)],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None
        yield f"127.0.0.1:{child.stdout.readline().strip()}"
    finally:
        assert child.stdin is not None
        child.stdin.close()  # EOF: the child returns from stdin.read() and exits
        child.wait(timeout=30)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--old-src", default="", help="a source tree's src/ dir: also run that layerscan")
    ap.add_argument("--kill-after", type=float, default=60.0)
    ap.add_argument("--tools", default="layerscan,trivy,syft")
    ap.add_argument("--cases", default=",".join(CASES))
    args = ap.parse_args()
    tools = args.tools.split(",")
    if args.old_src:
        tools.insert(1, "layerscan-old")
    print("| case | " + " | ".join(tools) + " |")
    print("|---|" + "---|" * len(tools))
    with tempfile.TemporaryDirectory(prefix="hostile-net-") as tmp:
        for case in args.cases.split(","):
            cells = []
            for tool in tools:
                with evil_registry() as host:
                    work = Path(tmp) / f"{case}-{tool}"
                    work.mkdir()
                    cmd, env = command(tool, f"{host}/{case}:1", work / "cache",
                                       args.old_src if tool == "layerscan-old" else "")
                    outcome, rss, seconds = measure(cmd, env, args.kill_after, work / "stderr", 4096)
                cells.append(f"{outcome}, {seconds:.1f} s, {rss} MiB")
            print(f"| {CASES[case]} | " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    main()
