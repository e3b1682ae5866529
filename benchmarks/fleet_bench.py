"""Fleet store on a throw-away PostgreSQL cluster (tests/pg.py): ingest N images made from real
inventories with shared bases and version drift, then time the questions the API answers (p50/p99),
a 2-key re-match, a 2,000-advisory database update (real corpus DLAs with new fixed versions and
dates) with and without a fleet policy, and the end-of-life check (issue #10).

    python benchmarks/fleet_bench.py --images 10000

The first ``--ingest-sample`` images go through ``fleet.ingest.ingest_sbom`` (the worker's path,
timed); the rest are streamed in with COPY batches of the same package rows (every package is known
by then: the variants draw from a small set), so 10,000 images fit in memory and in minutes.
"""

from __future__ import annotations

import argparse
import gzip
import dataclasses
import hashlib
import json
import random
import shutil
import statistics
from collections.abc import Iterator
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
from layerscan.fleet import eol as fleet_eol  # noqa: E402
from layerscan.fleet import policy as fleet_policy  # noqa: E402
from layerscan.fleet import store as fleet_store  # noqa: E402
from layerscan.fleet.ingest import ingest_sbom, package_row  # noqa: E402
from layerscan.fleet.migrate import migrate  # noqa: E402
from layerscan.fleet.rematch import ensure_generation, rematch  # noqa: E402
from layerscan.model import ImageMeta, Package, Sbom  # noqa: E402
from layerscan.report.html import render  # noqa: E402
from layerscan.scan.config import InventoryConfig, Target  # noqa: E402
from layerscan.scan.pipeline import Scanner  # noqa: E402

FEEDS = ROOT / "examples" / "feeds"
URLLIB3 = ["1.22", "1.23", "1.24.1", "1.24.3", "1.25.8", "1.26.4", "1.26.18"]
JINJA2 = ["2.8", "2.10", "2.10.1", "2.11.0", "2.11.3", "3.0.1", "3.1.2"]
APPS = 40  # distinct app packages spread over the fleet
UPDATED = 2000  # DLA entries given new fixed versions and dates in the third database
CVE = "CVE-2019-11324"  # urllib3 < 1.24.2, and Debian 9's python-urllib3: every image
FEW = "CVE-2019-10906"  # jinja2 < 2.10.1: the images with one of the two oldest jinja2 versions


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


class Variants:
    """Image i: the template's base, drifted urllib3/jinja2 versions, a few app packages of its own. The
    drifted packages are made once each, so every image shares its Package objects with the others."""

    def __init__(self, template: Sbom) -> None:
        self.template = template
        self.made: dict[tuple[str, str], Package] = {}
        self.rng = random.Random(10)

    def _pkg(self, like: Package, name: str, version: str) -> Package:
        key = (name, version)
        if key not in self.made:
            self.made[key] = dataclasses.replace(like, name=name, version=version, purl=f"pkg:pypi/{name}@{version}")
        return self.made[key]

    def sbom(self, i: int) -> Sbom:
        rng, template = self.rng, self.template
        base = rng.randrange(5)
        versions = {"urllib3": URLLIB3[(base + rng.randrange(2)) % len(URLLIB3)],
                    "jinja2": JINJA2[rng.randrange(len(JINJA2))]}
        packages = [self._pkg(pkg, pkg.name, versions[pkg.name]) if pkg.name in versions else pkg
                    for pkg in template.packages]
        last = packages[-1]
        packages += [self._pkg(last, f"app{k}", "1.0") for k in rng.sample(range(APPS), 3)]
        digest = "sha256:" + hashlib.sha256(f"image-{i}".encode()).hexdigest()
        meta = dataclasses.replace(template.image or ImageMeta(), repo_digests=(f"bench/img{i}@{digest}",))
        return dataclasses.replace(template, artifact_name=f"bench/img{i}:1", image=meta, packages=tuple(packages))

    def stream(self, start: int, stop: int) -> Iterator[Sbom]:
        return (self.sbom(i) for i in range(start, stop))


def bulk_load(conn: psycopg.Connection, sboms: Iterator[Sbom], first: int, batch: int = 250) -> int:
    """Images whose packages the fleet already stores: the image row, then its image_packages by COPY,
    ``batch`` images per transaction (what ingest_sbom writes for them, without the per-image matching)."""
    ids = {pkey: int(pid) for pid, pkey in conn.execute("SELECT id, pkey FROM packages")}
    pkeys: dict[int, str] = {}  # id(Package) -> pkey; the Package objects are shared and kept alive
    done = 0
    while True:
        chunk = [s for _, s in zip(range(batch), sboms)]
        if not chunk:
            return done
        with conn.transaction(), conn.cursor() as cur:
            rows = []
            for offset, sbom in enumerate(chunk):
                for pkg in sbom.packages:
                    if id(pkg) not in pkeys:
                        pkeys[id(pkg)] = package_row(pkg, sbom.os).pkey
                assert all(pkeys[id(p)] in ids for p in sbom.packages), "a package new to the fleet"
                layers = [{"index": x.index, "diff_id": x.diff_id, "created_by": x.created_by}
                          for x in (sbom.image.layers if sbom.image else ())]
                os_name = f"{sbom.os.family} {sbom.os.name}" if sbom.os else ""
                image_id = fleet_store.upsert_image(conn, sbom.image.repo_digests[0].split("@")[1] if sbom.image
                                                    else "", f"bench/img{first + done + offset}:1", os_name, layers)
                unique = {(ids[pkeys[id(p)]], p.file_path): p.layer.index if p.layer else None for p in sbom.packages}
                rows += [(image_id, pid, path, layer) for (pid, path), layer in unique.items()]
            with cur.copy("COPY image_packages (image_id, package_id, file_path, layer_index) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
        done += len(chunk)


def quantiles(fn, repeat: int = 50) -> dict[str, float]:  # type: ignore[no-untyped-def]
    """p50/p99 in ms of ``repeat`` calls (p99 of 50 runs is close to their maximum)."""
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        times.append((time.perf_counter() - started) * 1000)
    cuts = statistics.quantiles(times, n=100, method="inclusive")
    return {"p50": round(statistics.median(times), 2), "p99": round(cuts[98], 2)}


def feeds(target: Path, without: str, updated: int = 0) -> Path:
    """examples/feeds without one advisory, the corpus's Debian tracker lists and endoflife.date pages;
    ``updated``: that many of the newest DLA entries re-dated with a new fixed version (a respin)."""
    from conftest_paths import CORPUS

    target.mkdir(parents=True)
    for entry in FEEDS.iterdir():
        if entry.is_file() and entry.name != without:
            shutil.copy(entry, target / entry.name)
    tracker, eol_pages = CORPUS / "feeds" / "debian-security-tracker", CORPUS / "feeds" / "endoflife-date"
    if eol_pages.is_dir():
        shutil.copytree(eol_pages, target / "endoflife-date")
    if tracker.is_dir():
        shutil.copytree(tracker, target / "debian-security-tracker")
        if updated:
            respin(target / "debian-security-tracker" / "data" / "DLA" / "list.gz", updated)
    return target


def respin(path: Path, entries: int) -> None:
    """The first ``entries`` DLAs of the list get a later date and every fixed version a "+1" suffix."""
    lines = gzip.decompress(path.read_bytes()).decode().splitlines()
    seen, out = 0, []
    for line in lines:
        if line.startswith("["):
            seen += 1
            if seen <= entries:
                line = "[02 Apr 2023]" + line.split("]", 1)[1]
        elif seen <= entries and line.startswith("\t[") and " - " in line:
            parts = line.split()
            if len(parts) >= 4 and parts[3][:1].isdigit():
                line = line.replace(parts[3], parts[3] + "+1", 1)
        out.append(line)
    path.chmod(0o644)
    path.write_bytes(gzip.compress(("\n".join(out) + "\n").encode()))


def explain(conn: psycopg.Connection, sql: str, args: object) -> str:
    rows = conn.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql, args).fetchall()  # type: ignore[arg-type]
    return "\n".join(r[0] for r in rows)


def timed_rematch(conn: psycopg.Connection, db: Path) -> dict[str, object]:
    with Store.open(db) as vulndb:
        started = time.perf_counter()
        outcome = rematch(conn, vulndb)
        return {"ms": round((time.perf_counter() - started) * 1000, 1), "keys_changed": outcome.keys_changed,
                "packages": outcome.packages, "added": len(outcome.added), "removed": len(outcome.removed)}


COUNT_SQL = ("SELECT count(DISTINCT ip.image_id) FROM package_vuln pv JOIN image_packages ip USING (package_id)"
             " WHERE pv.vuln_id = %s OR %s = ANY(pv.aliases)")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--images", type=int, default=1000)
    parser.add_argument("--ingest-sample", type=int, default=500, help="images stored by ingest_sbom (timed)")
    parser.add_argument("--explain", action="store_true", help="print EXPLAIN ANALYZE of the CVE queries")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="fleet-bench-"))
    cluster = start_cluster()
    try:
        dbs = {}
        for name, without, updated in (("db1", "PYSEC-2019-132.yaml", 0), ("db2", "PYSEC-2019-217.yaml", 0),
                                       ("db3", "PYSEC-2019-217.yaml", UPDATED)):
            import_paths(work / name / "layerscan.db", [feeds(work / f"feeds-{name}", without, updated)])
            dbs[name] = work / name / "layerscan.db"
        variants = Variants(template_sbom(work))
        url = cluster.create_database("bench")
        results: dict[str, object] = {"images": args.images, "packages_per_image": len(variants.template.packages) + 3}
        sample = min(args.ingest_sample, args.images)
        with psycopg.connect(url, autocommit=True) as conn, Store.open(dbs["db1"]) as db1:
            migrate(conn)
            generation = ensure_generation(conn, db1)
            started = time.perf_counter()
            for i, sbom in enumerate(variants.stream(0, sample)):
                ingest_sbom(conn, sbom, f"bench/img{i}:1", db1, generation)
            results["ingest_sboms_per_s"] = round(sample / (time.perf_counter() - started), 1)
            started = time.perf_counter()
            loaded = bulk_load(conn, variants.stream(sample, args.images), sample)
            if loaded:
                results["bulk_copy_images_per_s"] = round(loaded / (time.perf_counter() - started), 1)
            conn.execute("VACUUM ANALYZE")  # what autovacuum does after a bulk load (and the visibility map)
            results["summary"] = fleet_store.summary(conn)
            results["count_ms"] = quantiles(lambda: conn.execute(COUNT_SQL, (CVE, CVE)).fetchone())
            results["first_page_ms"] = quantiles(lambda: fleet_store.images_for_vulnerability(conn, CVE))
            results["images_hit"] = fleet_store.images_for_vulnerability(conn, CVE).total
            results["count_ms_few"] = quantiles(lambda: conn.execute(COUNT_SQL, (FEW, FEW)).fetchone())
            results["first_page_ms_few"] = quantiles(lambda: fleet_store.images_for_vulnerability(conn, FEW))
            results["images_hit_few"] = fleet_store.images_for_vulnerability(conn, FEW).total
            if args.explain:
                print(explain(conn, COUNT_SQL, (CVE, CVE)), file=sys.stderr)
                print(explain(conn, COUNT_SQL, (FEW, FEW)), file=sys.stderr)
            one = detail.stored_image(conn, f"bench/img{args.images // 2}:1")
            assert one is not None
            results["detail_first_page_ms"] = quantiles(lambda: detail.image_detail(conn, one))
            results["layer_page_ms"] = quantiles(lambda: render(detail.image_report(conn, one)), 10)
            results["rematch_2_keys"] = timed_rematch(conn, dbs["db2"])
            results["rematch_2000_dla"] = timed_rematch(conn, dbs["db3"])
            started = time.perf_counter()
            results["policy_failing"] = fleet_policy.set_policy(conn, fleet_policy.FleetPolicy("MEDIUM"))
            results["policy_set_ms"] = round((time.perf_counter() - started) * 1000, 1)
            every = [int(r[0]) for r in conn.execute("SELECT id FROM images")]
            with conn.transaction():
                started = time.perf_counter()
                fleet_policy.verdicts(conn, fleet_policy.get_policy(conn), every, 0)
                results["verdicts_every_image_ms"] = round((time.perf_counter() - started) * 1000, 1)
            # the same two updates backwards, now with a policy: the touched images' verdicts are re-evaluated
            results["rematch_2000_dla_with_policy"] = timed_rematch(conn, dbs["db2"])
            results["rematch_2_keys_with_policy"] = timed_rematch(conn, dbs["db1"])
            started = time.perf_counter()
            checked = fleet_eol.check(conn, db1)
            results["eol_check"] = {"ms": round((time.perf_counter() - started) * 1000, 1), "reached": checked.reached}
        print(json.dumps(results, indent=1))
    finally:
        cluster.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
