"""``layerscan recommendations`` over ~10 candidates (issue 8): how many layers are analysed
and the wall time, cold (empty layer cache) and warm, against scanning every candidate cold.

    python benchmarks/recommendations.py [--filler-mb 8] [--repeat 3]

The family is the node one of tests/test_recommendations.py (corpus Debian 10/12 dpkg
status, the corpus apk database, a corpus ``status.d``; Python distributions with PyPA
findings) plus three more tags (a patch, a minor, a newer major line) and a moved
``14-buster`` tag (a refresh), pushed to a real ``docker-registry`` on 127.0.0.1. Each OS
layer carries ``--filler-mb`` of incompressible bytes and each runtime layer half that, so
pulling and inflating layers is real work. "Layers analysed" is the number of layer-cache
entries the run wrote. Every cold run starts from a cache holding only the database.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent / "tests")]

from conftest_paths import CORPUS  # noqa: E402
from imagebuild import LayerSpec, file  # noqa: E402
from registry import start_registry  # noqa: E402
from test_base_index import APP_LAYER, debian_layer, image  # noqa: E402
from test_cli_gating import PYPA_ZIP  # noqa: E402
from test_recommendations import (FLASK, NODE14, NODE_REPO, REQUESTS_LAYER, URLLIB3, alpine_layer,  # noqa: E402
                                  distroless_layer, runtime_layer)
from test_remediate_cli import EOL_DIR  # noqa: E402

FAMILY = {  # tag -> (os layer, node version, PyPA distributions, flavor)
    "14-buster": ("buster", NODE14, [FLASK, URLLIB3], ""),
    "14.21.4-buster": ("buster", "14.21.4", [FLASK], ""),
    "14.22-buster": ("buster", "14.22.0", [URLLIB3], ""),
    "14-bookworm": ("bookworm", NODE14, [URLLIB3], ""),
    "22-bookworm": ("bookworm", "22.11.0", [FLASK], ""),
    "24-bookworm": ("bookworm", "24.1.0", [], ""),
    "26-bookworm": ("bookworm", "26.0.0", [URLLIB3], ""),
    "14-slim-bookworm": ("bookworm", NODE14, [FLASK, URLLIB3], "slim"),
    "14-alpine3.19": ("alpine", NODE14, [], ""),
    "14-distroless-bookworm": ("distroless", NODE14, [FLASK], "distroless"),
}


def filler(name: str, megabytes: float) -> list:
    rng = random.Random(name)
    return [file(f"usr/share/bench/{name}.bin", rng.randbytes(int(megabytes * 1_000_000)))]


def with_filler(spec: LayerSpec, name: str, megabytes: float) -> LayerSpec:
    return LayerSpec(spec.entries + filler(name, megabytes), created_by=spec.created_by)


def build(megabytes: float) -> tuple[dict, object, object]:
    os_layers = {"buster": debian_layer(CORPUS, "10"), "bookworm": debian_layer(CORPUS, "12"),
                 "alpine": alpine_layer(CORPUS), "distroless": distroless_layer(CORPUS)}
    os_layers = {k: with_filler(v, k, megabytes) for k, v in os_layers.items()}
    imgs = {}
    for tag, (os_name, version, pkgs, flavor) in FAMILY.items():
        runtime = with_filler(node_layer(version, pkgs, flavor), tag, megabytes / 2)
        imgs[tag] = image([os_layers[os_name], runtime], env=[f"NODE_VERSION={version}"])
    moved = image([os_layers["buster"], with_filler(node_layer(NODE14, [URLLIB3], ""), "moved", megabytes / 2)],
                  env=[f"NODE_VERSION={NODE14}"])
    base = imgs["14-buster"]
    app = image([os_layers["buster"], with_filler(node_layer(NODE14, [FLASK, URLLIB3], ""), "14-buster",
                                                  megabytes / 2), REQUESTS_LAYER, APP_LAYER],
                env=[f"NODE_VERSION={NODE14}"])
    assert app.diff_ids[:2] == base.diff_ids
    return imgs, moved, app


def node_layer(version: str, pkgs: list, flavor: str) -> LayerSpec:
    return runtime_layer("node", version, pkgs, flavor)


def layerscan(cache: Path, *args: str) -> tuple[float, subprocess.CompletedProcess]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LAYERSCAN_")}
    env["LAYERSCAN_CACHE_DIR"] = str(cache)
    started = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "layerscan", *args], env=env, capture_output=True, text=True,
                          timeout=1800)
    elapsed = time.perf_counter() - started
    if proc.returncode not in (0, 1):
        raise SystemExit(f"layerscan {' '.join(args)}: exit {proc.returncode}\n{proc.stderr[-2000:]}")
    return elapsed, proc


def layer_entries(cache: Path) -> int:
    folder = cache / "layers"
    return sum(1 for p in folder.rglob("*.json") if not p.name.endswith(".verified.json")) if folder.is_dir() else 0


def fresh(db_cache: Path, work: Path, name: str) -> Path:
    """A cache dir holding the database (and base index) only."""
    cache = work / name
    shutil.rmtree(cache, ignore_errors=True)
    shutil.copytree(db_cache, cache, ignore=shutil.ignore_patterns("layers"))
    return cache


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--filler-mb", type=float, default=8.0)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    imgs, moved, app = build(args.filler_mb)
    server = start_registry()
    work = Path(tempfile.mkdtemp(prefix="layerscan-bench-rec-"))
    try:
        for tag, img in imgs.items():
            img.push(server.host, NODE_REPO, tag)
        app.write_oci_dir(work / "app", "1.0")
        db_cache = work / "db"
        layerscan(db_cache, "db", "import", str(CORPUS / PYPA_ZIP), str(CORPUS / EOL_DIR), "-q")
        repo = f"{server.host}/{NODE_REPO}"
        layerscan(db_cache, "index", "add", repo, "--insecure", "-q")
        moved.push(server.host, NODE_REPO, "14-buster")  # the tag moves: a refresh candidate
        layerscan(db_cache, "index", "update", "--insecure", "-q")
        rec = ["recommendations", "--input", str(work / "app"), "--insecure", "--skip-db-update", "-f", "json"]
        cold, warm, each = [], [], []
        layers: dict[str, int] = {}
        doc: dict = {}
        for n in range(args.repeat):
            cache = fresh(db_cache, work, f"rec{n}")
            seconds, proc = layerscan(cache, *rec)
            cold.append(seconds)
            layers["cold"] = layer_entries(cache)
            doc = json.loads(proc.stdout)
            before = layer_entries(cache)
            warm.append(layerscan(cache, *rec)[0])
            layers["warm"] = layer_entries(cache) - before
            total = 0.0
            every = 0
            for r in doc["Recommendations"]:
                one = fresh(db_cache, work, "one")
                total += layerscan(one, "image", f"{repo}:{r['Tag']}@{r['Digest']}", "--insecure",
                                   "--skip-db-update", "-f", "json", "-q")[0]
                every += layer_entries(one)
            app_cache = fresh(db_cache, work, "app-only")
            total += layerscan(app_cache, "image", "--input", str(work / "app"), "--skip-db-update", "-f", "json",
                               "-q")[0]
            layers["each"] = every + layer_entries(app_cache)
            each.append(total)
        kinds = sorted({r["Class"] for r in doc["Recommendations"]})
        for r in doc["Recommendations"]:
            print(f"  {r['Rank']}. {r['Class']:<11} {r['Tag']:<24} {r['Vulnerabilities']:>3} vulns  "
                  f"size {r['SizeDelta']:+d} B", file=sys.stderr)
        print(f"candidates: {len(doc['Recommendations'])} ({', '.join(kinds)}); "
              f"filler {args.filler_mb} MB per OS layer, {args.filler_mb / 2} MB per runtime layer; "
              f"median of {args.repeat}")
        print("| run | layers analysed | wall s (median) |")
        print("|---|---|---|")
        print(f"| recommendations, cold cache | {layers['cold']} | {statistics.median(cold):.2f} |")
        print(f"| recommendations, warm cache | {layers['warm']} | {statistics.median(warm):.2f} |")
        print(f"| image + every candidate, each cold | {layers['each']} | {statistics.median(each):.2f} |")
    finally:
        server.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
