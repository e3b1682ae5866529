#!/usr/bin/env python3
"""Full scan (SBOM + match + JSON report) of the language-heavy image vs Trivy's SBOM-only time (issue 5).

Usage: python benchmarks/full_scan.py [--repeat 3] [--kind archive|oci] [--out FILE]

Build the image first (python benchmarks/lang_image.py). In one run:
1. build the vulnerability DB from the corpus feeds (`layerscan db import`) into a temp cache root;
2. layerscan full scan: `image --input X -f json --scanners vuln --skip-db-update`, REPEAT times,
   the layer cache (CACHE/layers) deleted before each run, the DB kept;
3. layerscan SBOM only (CycloneDX, fresh cache root each run) and Trivy SBOM only (CycloneDX,
   fresh cache each run, empty Java DB pre-seeded: see lang_compare.py), with the commands of
   benchmarks/run.py;
4. medians, peak RSS, the ratio full-scan / Trivy-SBOM, and the finding counts of the report.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from lang_compare import IMAGE, measure  # noqa: E402
from run import WORK, run  # noqa: E402

FEEDS = Path("/work/shared/corpus/feeds")


@dataclass(frozen=True)
class Sample:
    name: str
    seconds: float  # median
    rss_mib: int  # median of peaks
    runs: int


def layerscan(*args: str) -> list[str]:
    return [sys.executable, "-m", "layerscan.cli.main", *args]


def build_db(cache: Path) -> float:
    seconds, _, code = run(layerscan("db", "import", str(FEEDS), "--cache-dir", str(cache), "-q"))
    if code != 0:
        raise SystemExit(f"db import failed with exit {code}")
    return seconds


def target(kind: str) -> str:
    return f"{WORK / f'{IMAGE}.oci'}:latest" if kind == "oci" else str(WORK / f"{IMAGE}.docker.tar")


def full_scans(kind: str, cache: Path, report: Path, repeat: int) -> Sample:
    """SBOM + match + JSON with the DB in ``cache``; cold layer cache each run."""
    times, peaks = [], []
    for _ in range(repeat):
        shutil.rmtree(cache / "layers", ignore_errors=True)
        seconds, rss, code = run(layerscan("image", "--input", target(kind), "-f", "json", "-o", str(report),
                                           "--scanners", "vuln", "--skip-db-update", "--cache-dir", str(cache),
                                           "--no-progress", "-q"))
        if code != 0:
            raise SystemExit(f"full scan failed with exit {code}")
        times.append(seconds)
        peaks.append(rss)
    return Sample("layerscan full scan (SBOM+match+JSON)", statistics.median(times),
                  int(statistics.median(peaks)), repeat)


def warm_scan(kind: str, cache: Path, report: Path, repeat: int) -> Sample:
    """The same with the layer cache left from the previous run (a rescan)."""
    results = [run(layerscan("image", "--input", target(kind), "-f", "json", "-o", str(report), "--scanners", "vuln",
                             "--skip-db-update", "--cache-dir", str(cache), "--no-progress", "-q"))
               for _ in range(repeat)]
    return Sample("layerscan full scan, warm layer cache", statistics.median(r[0] for r in results),
                  int(statistics.median(r[1] for r in results)), repeat)


@dataclass(frozen=True)
class Findings:
    total: int
    unique_ids: int
    by_type: dict[str, int]
    by_severity: dict[str, int]
    by_package: dict[str, int]  # language packages only: "type name@version" -> findings
    headline: dict[str, bool]  # a few findings the issue names: present or not


HEADLINE = {"CVE-2021-44228": "log4j-core", "CVE-2021-45046": "log4j-core", "CVE-2020-8203": "lodash",
            "CVE-2021-44906": "minimist"}


def findings(report: Path) -> Findings:
    doc = json.loads(report.read_text())
    rows = [(r.get("Type", ""), v) for r in doc.get("Results") or [] for v in r.get("Vulnerabilities") or []]
    ids = {v["VulnerabilityID"] for _, v in rows}
    aliases = {a for _, v in rows for a in [v["VulnerabilityID"], *(v.get("Aliases") or [])]}
    lang = Counter(f"{t} {v['PkgName']}@{v['InstalledVersion']}" for t, v in rows if t != "debian")
    return Findings(len(rows), len(ids), dict(Counter(t for t, _ in rows)), dict(Counter(v["Severity"] for _, v in rows)),
                    dict(sorted(lang.items())), {cve: cve in aliases for cve in HEADLINE})


def markdown(samples: list[Sample], trivy: Sample, found: Findings, db_seconds: float, kind: str) -> str:
    lines = [f"input: {kind}; DB import from the corpus feeds: {db_seconds:.1f} s (once, not in the ratios)", "",
             "| what | wall s (median) | ratio vs Trivy SBOM-only | peak RSS MiB |", "|---|---|---|---|"]
    lines += [f"| {s.name} | {s.seconds:.2f} | {s.seconds / trivy.seconds:.2f} | {s.rss_mib} |"
              for s in [*samples, trivy]]
    lines += ["", f"findings: {found.total} ({found.unique_ids} distinct IDs)",
              "by result type: " + ", ".join(f"{k} {v}" for k, v in sorted(found.by_type.items())),
              "by severity: " + ", ".join(f"{k} {v}" for k, v in sorted(found.by_severity.items())),
              "headline CVEs found: " + ", ".join(f"{k} ({HEADLINE[k]}) {v}" for k, v in found.headline.items()),
              "", "| language package | findings |", "|---|---|"]
    lines += [f"| {pkg} | {n} |" for pkg, n in found.by_package.items()]
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--kind", choices=("archive", "oci"), default="archive")
    ap.add_argument("--out", default=str(HERE / "out" / "full_scan.json"))
    args = ap.parse_args()
    if not (WORK / f"{IMAGE}.docker.tar").is_file():
        print("the image is missing: run benchmarks/lang_image.py first", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="lsfull-") as tmpdir:
        tmp = Path(tmpdir)
        db_seconds = build_db(tmp / "cache")
        report = tmp / "report.json"
        full = full_scans(args.kind, tmp / "cache", report, args.repeat)
        warm = warm_scan(args.kind, tmp / "cache", report, args.repeat)
        found = findings(report)
        sbom = measure("layerscan", args.kind, args.repeat, tmp)
        trivy = measure("trivy", args.kind, args.repeat, tmp)
    samples = [full, warm, Sample("layerscan SBOM only (CycloneDX)", sbom.seconds, sbom.rss_mib, args.repeat)]
    trivy_sample = Sample("Trivy SBOM only (CycloneDX)", trivy.seconds, trivy.rss_mib, args.repeat)
    print(markdown(samples, trivy_sample, found, db_seconds, args.kind))
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps({"kind": args.kind, "db_import_seconds": db_seconds,
                                          "samples": [s.__dict__ for s in [*samples, trivy_sample]],
                                          "findings": found.__dict__}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
