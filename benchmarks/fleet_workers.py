"""Scan throughput of the fleet with 1 and then 2 ``layerscan worker`` processes (issue #10).

N images (the corpus's Debian 9 base, else the sample base, each with its own pip layer so every
digest is new) are pushed to a local ``docker-registry`` this script starts, submitted through the
API (``POST /images``) of a ``layerscan server`` (no embedded worker), and the wall time is taken
from the submission until ``GET /images`` counts all N stored. Each worker count gets a fresh fleet
database (tests/pg.py cluster) and a cold layer cache (a copy of the cache dir holding only the
vulnerability database), so both runs scan the same images from scratch.

    python benchmarks/fleet_workers.py --images 40
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from conftest_paths import CORPUS  # noqa: E402
from imagebuild import LayerSpec, build_image, sample_layers  # noqa: E402
from pg import start_cluster  # noqa: E402
from registry import free_port, start_registry  # noqa: E402
from test_fleet import FEEDS, Http, create_token, dist_info, import_db, start, stop  # noqa: E402

VERSIONS = ["1.22", "1.23", "1.24.1", "1.24.3", "1.25.8", "1.26.4", "1.26.18", "2.0.7", "2.1.0", "2.2.3"]


def push_images(host: str, count: int) -> list[str]:
    if (CORPUS / "fixtures").is_dir():
        from e2e_images import base_layer

        base = [base_layer(CORPUS)]
    else:
        base = sample_layers()
    refs = []
    for i in range(count):
        layer = LayerSpec(dist_info("urllib3", VERSIONS[i % len(VERSIONS)]) + dist_info(f"app{i}", "1.0"),
                          created_by=f"RUN pip install app{i}")
        build_image(base + [layer]).push(host, f"bench/app{i}", "1.0")  # type: ignore[attr-defined]
        refs.append(f"{host}/bench/app{i}:1.0")
    return refs


def run(database: str, db_cache: Path, refs: list[str], workers: int, work: Path) -> dict[str, float]:
    cache = work / f"cache-{workers}"  # a cold layer cache for every run: the database only
    shutil.copytree(db_cache, cache)
    token = create_token(database, "write")
    port = free_port()
    common = ["--database", database, "--cache-dir", str(cache), "--insecure"]
    server = start(["server", "--port", str(port), *common], work / f"server-{workers}.log")
    procs = []
    try:
        http = Http(f"http://127.0.0.1:{port}", token)
        deadline = time.monotonic() + 60
        while True:
            try:
                if http.call("GET", "/summary")[0] == 200:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError((work / f"server-{workers}.log").read_text()[-2000:])
            time.sleep(0.2)
        procs = [start(["worker", *common], work / f"worker-{workers}-{n}.log") for n in range(workers)]
        time.sleep(3)  # the workers connect and listen before the clock starts
        started = time.perf_counter()
        status, doc = http.call("POST", "/images", {"refs": refs})
        assert status == 202, doc
        while http.call("GET", "/images?limit=1")[1].get("total", 0) < len(refs):
            if time.perf_counter() - started > 1800:
                raise RuntimeError("the scans did not finish within 30 minutes")
            time.sleep(0.25)
        wall = time.perf_counter() - started
    finally:
        for proc in procs:
            stop(proc)
        stop(server)
    return {"workers": workers, "wall_s": round(wall, 1), "images_per_s": round(len(refs) / wall, 2),
            "s_per_image": round(wall / len(refs), 2)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--images", type=int, default=40)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="fleet-workers-"))
    cluster, registry = start_cluster(), start_registry()
    try:
        cache = work / "cache"
        import_db(cache, FEEDS)
        started = time.perf_counter()
        refs = push_images(registry.host, args.images)
        results: dict[str, object] = {"images": args.images, "push_s": round(time.perf_counter() - started, 1),
                                      "runs": [run(cluster.create_database(f"w{n}"), cache, refs, n, work)
                                               for n in args.workers]}
        print(json.dumps(results, indent=1))
    finally:
        registry.stop()
        cluster.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
