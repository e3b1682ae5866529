"""Fleet store on a throw-away PostgreSQL cluster (tests/pg.py): ingest N images made from real
inventories with shared bases and version drift, then time the questions the API answers and a
database update re-match. A first measurement for issue #10, not its full benchmark.

    python benchmarks/fleet_bench.py --images 1000
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import random
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

import psycopg  # noqa: E402

from imagebuild import LayerSpec, build_image, file, sample_layers  # noqa: E402
from pg import start_cluster  # noqa: E402

from layerscan.db.build import import_paths  # noqa: E402
from layerscan.db.store import Store  # noqa: E402
from layerscan.fleet import detail  # noqa: E402
from layerscan.fleet import outbox  # noqa: E402
from layerscan.fleet import policy as fleet_policy  # noqa: E402
from layerscan.fleet import store as fleet_store  # noqa: E402
from layerscan.fleet.ingest import ingest_sbom  # noqa: E402
from layerscan.fleet.migrate import migrate  # noqa: E402
from layerscan.fleet.rematch import ensure_generation, rematch  # noqa: E402
from layerscan.model import ImageMeta, Sbom  # noqa: E402
from layerscan.report.html import render  # noqa: E402
from layerscan.scan.config import InventoryConfig, Target  # noqa: E402
from layerscan.scan.pipeline import Scanner  # noqa: E402

FEEDS = ROOT / "examples" / "feeds"
URLLIB3 = ["1.22", "1.23", "1.24.1", "1.24.3", "1.25.8", "1.26.4", "1.26.18"]
JINJA2 = ["2.8", "2.10", "2.10.1", "2.11.0", "2.11.3", "3.0.1", "3.1.2"]
APPS = 40  # distinct app packages spread over the fleet


def dist_info(name: str, version: str) -> list:
    return [file(f"usr/lib/python3/dist-packages/{name}-{version}.dist-info/METADATA",
                 f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")]


def template_sbom(work: Path) -> Sbom:
    """Debian 9's real dpkg status from the corpus when present (else the small sample base) + two pip layers."""
    from conftest_paths import CORPUS

    if (CORPUS / "fixtures").is_dir():
        from e2e_images import base_layer

        base = [base_layer(CORPUS)]
    else:
        base = sample_layers()
    image = build_image(base + [LayerSpec(dist_info("urllib3", "1.24.1")), LayerSpec(dist_info("jinja2", "2.10"))])
    image.write_oci_dir(work / "oci", tag="1.0")
    return Scanner().inventory(InventoryConfig(Target("image", "", str(work / "oci") + ":1.0")))


def variant(template: Sbom, i: int, rng: random.Random) -> Sbom:
    """Image i: the template's base, drifted urllib3/jinja2 versions, a few app packages of its own."""
    base = rng.randrange(5)
    versions = {"urllib3": URLLIB3[(base + rng.randrange(2)) % len(URLLIB3)],
                "jinja2": JINJA2[rng.randrange(len(JINJA2))]}
    packages = []
    for pkg in template.packages:
        if pkg.name in versions:
            v = versions[pkg.name]
            pkg = dataclasses.replace(pkg, version=v, purl=f"pkg:pypi/{pkg.name}@{v}")
        packages.append(pkg)
    last = packages[-1]
    for k in rng.sample(range(APPS), 3):
        packages.append(dataclasses.replace(last, name=f"app{k}", version="1.0", purl=f"pkg:pypi/app{k}@1.0"))
    digest = "sha256:" + hashlib.sha256(f"image-{i}".encode()).hexdigest()
    meta = dataclasses.replace(template.image or ImageMeta(), repo_digests=(f"bench/img{i}@{digest}",))
    return dataclasses.replace(template, artifact_name=f"bench/img{i}:1", image=meta, packages=tuple(packages))


def timed(fn, repeat: int = 20) -> float:  # type: ignore[no-untyped-def]
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1000


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--images", type=int, default=1000)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="fleet-bench-"))
    cluster = start_cluster()
    try:
        gen1, gen2 = work / "gen1", work / "gen2"
        for target, without in ((gen1, "PYSEC-2019-132.yaml"), (gen2, "PYSEC-2019-217.yaml")):
            target.mkdir()
            for entry in FEEDS.iterdir():
                if entry.is_file() and entry.name != without:
                    shutil.copy(entry, target / entry.name)
        import_paths(work / "db1" / "layerscan.db", [gen1])
        import_paths(work / "db2" / "layerscan.db", [gen2])
        template = template_sbom(work)
        rng = random.Random(10)
        sboms = [variant(template, i, rng) for i in range(args.images)]
        url = cluster.create_database("bench")
        results: dict[str, object] = {"images": args.images, "packages_per_image": len(sboms[0].packages)}
        with psycopg.connect(url, autocommit=True) as conn, Store.open(work / "db1" / "layerscan.db") as db1:
            migrate(conn)
            generation = ensure_generation(conn, db1)
            started = time.perf_counter()
            for i, sbom in enumerate(sboms):
                ingest_sbom(conn, sbom, f"bench/img{i}:1", db1, generation)
            elapsed = time.perf_counter() - started
            results["ingest_sboms_per_s"] = round(args.images / elapsed, 1)
            results["summary"] = fleet_store.summary(conn)
            conn.execute("ANALYZE")  # what autovacuum does after a bulk load
            cve = "CVE-2019-11324"
            results["count_ms"] = round(timed(lambda: conn.execute(
                "SELECT count(DISTINCT ip.image_id) FROM package_vuln pv JOIN image_packages ip USING (package_id)"
                " WHERE pv.vuln_id = %s OR %s = ANY(pv.aliases)", (cve, cve)).fetchone()), 2)
            results["first_page_ms"] = round(timed(lambda: fleet_store.images_for_vulnerability(conn, cve)), 2)
            results["images_hit"] = fleet_store.images_for_vulnerability(conn, cve).total
            one = detail.stored_image(conn, "bench/img0:1")
            assert one is not None
            results["detail_first_page_ms"] = round(timed(lambda: detail.image_detail(conn, one)), 2)
            results["layer_page_ms"] = round(timed(lambda: render(detail.image_report(conn, one)), 5), 1)
            with Store.open(work / "db2" / "layerscan.db") as db2:
                started = time.perf_counter()
                outcome = rematch(conn, db2)
                results["rematch_ms"] = round((time.perf_counter() - started) * 1000, 1)
                results["rematch"] = {"keys_changed": outcome.keys_changed, "packages": outcome.packages,
                                      "added": len(outcome.added), "removed": len(outcome.removed),
                                      "kev_added": outcome.kev_added}
            started = time.perf_counter()
            results["policy_failing"] = fleet_policy.set_policy(conn, fleet_policy.FleetPolicy("MEDIUM"))
            results["policy_set_ms"] = round((time.perf_counter() - started) * 1000, 1)
            # back to the first database, now with a policy: the touched images' verdicts are re-evaluated
            started = time.perf_counter()
            outcome = rematch(conn, db1)
            results["rematch_with_policy_ms"] = round((time.perf_counter() - started) * 1000, 1)
            results["rematch_with_policy_images"] = len(outbox.images_of_packages(conn, [
                int(r[0]) for r in conn.execute("SELECT id FROM packages WHERE name IN ('urllib3', 'jinja2')")]))
        print(json.dumps(results, indent=1))
    finally:
        cluster.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
