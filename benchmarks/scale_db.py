"""Real-scale feeds: clone the corpus's real records up to the upstream feeds' sizes.

    python benchmarks/scale_db.py generate OUT [--scale 1.0] [--seed 7]
    python benchmarks/scale_db.py stats             # record-shape distributions of the corpus
    python benchmarks/scale_db.py measure [--scale 1.0] [--image FILE ...] [--repeat 3]

``generate`` writes, under OUT, feeds in the formats ``layerscan db import`` reads: OSV
``<ecosystem>/all.zip`` (one ``<ID>.json`` per record, as osv.dev ships them), the Debian
tracker JSON, Alpine secdb JSON per branch and repository, NVD CVE API 2.0 response pages
(gzip), the CISA KEV catalogue and an EPSS CSV (gzip). The counts are ``TARGETS`` below
(sources in benchmarks/README.md). Every record is a real corpus record cloned: clone ``c``
of a record keeps its whole shape (affected packages, ranges, events, explicit versions,
texts, severities) and gets new ids and package names: ``NAME`` becomes ``NAME-x<c>``
and ``CVE-Y-N`` becomes ``CVE-Y-<c*10000000+N>`` (the same mapping in every feed, so a
cloned Debian entry, OSV record and NVD record of one CVE still meet in one alias group).
So the distributions of ranges/versions per record and of records per package are the
corpus's own; the seed only decides the order of the templates (which ones fill the last,
partial round). Output is streamed (one record, package or page at a time), so memory is
bounded by the templates (~the corpus).

``measure`` generates into a temp directory under /tmp, imports it with the real CLI under
``/usr/bin/time -v`` (wall, CPU, peak RSS), reports the DB size, times lookups with
``db_bench``'s code, scans the given images against that DB and against the corpus DB,
and removes the temp directory.
"""

from __future__ import annotations

import argparse
import gzip
import io
import json
import math
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from collections import Counter
from dataclasses import dataclass
from itertools import count
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

sys.path.insert(0, str(Path(__file__).resolve().parent))

from db_bench import lookup_times  # noqa: E402  (benchmarks/ is not a package)
from lang_compare import seed_trivy_java_db  # noqa: E402
from run import commands as sbom_commands  # noqa: E402

from layerscan.db.feeds.base import ParseStats  # noqa: E402
from layerscan.db.feeds.common import CVE_RE, decode_member  # noqa: E402
from layerscan.db.feeds.debian import CODENAMES, DebianFeed  # noqa: E402
from layerscan.db.feeds.members import iter_members  # noqa: E402
from layerscan.db.feeds.nvd import cve_objects, looks_like_nvd  # noqa: E402
from layerscan.db.feeds.osv import looks_like_osv  # noqa: E402
from layerscan.db.namespaces import base_ecosystem  # noqa: E402
from layerscan.model import Advisory  # noqa: E402

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus" / "feeds"
REPO = Path(__file__).resolve().parents[1]
WORK = REPO / "benchmarks" / "work"
CVE_STRIDE = 10_000_000  # above every real CVE number (the DWF ones reach 100xxxx)

# --- target counts (sources and dates: benchmarks/README.md, "Real-scale database") ----------
OSV_TOTAL = 519_760  # osv.dev bulk exports of 10 ecosystems, 2026-04 (cited)
# per-ecosystem split: estimate (no published per-ecosystem counts found), scaled to OSV_TOTAL
OSV_TARGETS = {
    "npm": 279_100, "Debian": 146_200, "Alpine": 39_900, "PyPI": 23_900, "Maven": 8_600,
    "Go": 7_300, "Packagist": 7_300, "crates.io": 2_900, "RubyGems": 2_700, "NuGet": 1_860,
    "Ubuntu": 60_000,  # not in the 10 above: estimate
}
# which corpus ecosystem's records are cloned for a target ecosystem (same range type)
OSV_DONORS = {
    "npm": ("crates.io", "npm"), "NuGet": ("crates.io",), "crates.io": ("crates.io",), "Go": ("Go",),
    "PyPI": ("PyPI",), "Maven": ("PyPI", "Maven"), "Packagist": ("PyPI",), "RubyGems": ("PyPI",),
    # distro OSV records (one source package, one entry per release) are cloned from the real
    # DSA/DLA rows, as tracker entries (``distro_osv_templates``); AlmaLinux's errata list ~12
    # binary packages per record, not the shape of osv.dev's Debian/Ubuntu/Alpine records
    "Debian": ("debian-tracker",), "Ubuntu": ("debian-tracker",), "Alpine": ("debian-tracker",),
}
# releases a distro clone's affected entries are spread over (by the template's release order)
DISTRO_RELEASES = {
    "Ubuntu": ("Ubuntu:18.04:LTS", "Ubuntu:20.04:LTS", "Ubuntu:22.04:LTS", "Ubuntu:24.04:LTS", "Ubuntu:25.04",
               "Ubuntu:25.10"),
    "Alpine": ("Alpine:v3.17", "Alpine:v3.18", "Alpine:v3.19", "Alpine:v3.20", "Alpine:v3.21", "Alpine:v3.22"),
}
DEBIAN_ENTRIES = 110_000  # (source package, CVE) entries of the tracker JSON: estimate
DEBIAN_CURRENT = ("bullseye", "bookworm", "trixie", "sid")  # releases every tracker entry lists
ALPINE_BRANCHES = tuple(f"v3.{n}" for n in range(2, 23)) + ("edge",)
ALPINE_PER_REPO = {"main": 600, "community": 300}  # packages with secfixes per branch: estimate (corpus v3.11: 175 + 85)
NVD_CVES = 308_000  # CVE records (cited)
EPSS_ROWS = 326_000  # EPSS scores (cited)
NVD_PAGE = 2_000  # the CVE API 2.0 page size


def _ecosystem_tag(eco: str) -> str:
    return re.sub(r"[^a-z]", "", eco.lower())[:3]


def clone_cve(cve: str, c: int) -> str:
    if c == 0:
        return cve
    year, num = cve.split("-")[1:3]
    return f"CVE-{year}-{c * CVE_STRIDE + int(num)}"


def clone_id(vuln_id: str, c: int, tag: str = "") -> str:
    if CVE_RE.fullmatch(vuln_id):
        return clone_cve(vuln_id, c)
    return vuln_id if c == 0 and not tag else f"{vuln_id}-x{c}{tag}"  # GHSA-..., PYSEC-..., GO-...


def clone_name(name: str, c: int) -> str:
    return name if c == 0 else f"{name}-x{c}"


ZIP_TIME = (2026, 12, 1, 0, 0, 0)  # fixed member times and gzip mtime: the same seed gives the same bytes


def _gzip_text(path: Path) -> io.TextIOWrapper:
    return io.TextIOWrapper(gzip.GzipFile(path, "wb", compresslevel=1, mtime=0), encoding="utf-8")


def _rounds(templates: list[Any], target: int) -> Iterator[tuple[int, Any]]:
    """(clone index, template) until ``target``: every template once per round."""
    produced = 0
    for c in count():
        for tpl in templates:
            if produced >= target:
                return
            produced += 1
            yield c, tpl


# --- templates --------------------------------------------------------------------------

OSV_INPUTS = ("osv-go-vulndb", "osv-crates-rustsec/rustsec-osv.zip", "osv-pypi-pypa", "osv-almalinux",
              "osv-ghsa-curated")
PASS_THROUGH = ("osv-almalinux", "osv-bitnami", "osv-python-psf", "npm-nodejs-security-wg", "endoflife-date",
                "debian-security-tracker")  # real feeds imported as they are, next to the generated ones


def osv_templates(corpus: Path) -> dict[str, list[bytes]]:
    """Compact JSON of every corpus OSV record, by the base ecosystem of its first package."""
    out: dict[str, list[bytes]] = {}
    stats = ParseStats()
    for rel in OSV_INPUTS:
        for member in iter_members(corpus / rel, stats):
            try:
                doc = decode_member(member)
            except Exception:  # noqa: BLE001 - a corpus member we cannot read is not a template
                continue
            for rec in doc if isinstance(doc, list) else [doc]:
                if not looks_like_osv(rec) or rec.get("withdrawn") or not rec.get("affected"):
                    continue
                pkg = rec["affected"][0].get("package") or {}
                eco = base_ecosystem(str(pkg.get("ecosystem", "")))
                if eco:
                    out.setdefault(eco, []).append(json.dumps(rec, separators=(",", ":"), default=str).encode())
    return out


def debian_templates(corpus: Path) -> list[Advisory]:
    feed, stats = DebianFeed(), ParseStats()
    return [a for a in feed.parse(corpus / "debian-security-tracker", stats) if isinstance(a, Advisory)]


def alpine_templates(corpus: Path) -> dict[str, list[dict[str, Any]]]:
    """Package entries of the newest corpus branch, per repository."""
    stats = ParseStats()
    out: dict[str, list[dict[str, Any]]] = {}
    for member in iter_members(corpus / "alpine-secdb-yaml" / "v3.11", stats):
        doc = decode_member(member)
        if isinstance(doc, dict) and isinstance(doc.get("packages"), list):
            out.setdefault(str(doc.get("reponame", Path(member.name).stem)), []).extend(doc["packages"])
    return out


def nvd_templates(corpus: Path) -> list[dict[str, Any]]:
    """CVE API 2.0 cve objects of the upstream samples (real NVD responses)."""
    stats = ParseStats()
    seen: dict[str, dict[str, Any]] = {}
    for member in iter_members(corpus / "upstream-samples", stats):
        if not member.name.endswith(".json") or b"vulnStatus" not in member.data:
            continue
        try:
            doc = decode_member(member)
        except Exception:  # noqa: BLE001
            continue
        if looks_like_nvd(doc):
            for cve in cve_objects(doc):
                if isinstance(cve, dict) and isinstance(cve.get("id"), str) and CVE_RE.fullmatch(cve["id"]):
                    seen.setdefault(cve["id"], cve)
    return [seen[k] for k in sorted(seen)]


def corpus_cves(corpus: Path, debian: list[Advisory]) -> list[str]:
    """Real CVE ids of the corpus (Debian lists, KEV): the id space NVD/EPSS clones fill."""
    ids = {a.id for a in debian if CVE_RE.fullmatch(a.id)}
    kev = json.loads((corpus / "cisa-kev" / "known_exploited_vulnerabilities.json").read_bytes())
    ids.update(v["cveID"] for v in kev.get("vulnerabilities", []) if CVE_RE.fullmatch(str(v.get("cveID"))))
    return sorted(ids)


# --- writers ------------------------------------------------------------------------------

def _remap_refs(rec: dict[str, Any], c: int, tag: str) -> None:
    rec["aliases"] = [clone_id(a, c, tag) for a in rec.get("aliases") or [] if isinstance(a, str)]
    rec["related"] = [clone_id(a, c, tag) for a in rec.get("related") or [] if isinstance(a, str)]
    rec.pop("upstream", None)


def clone_osv(raw: bytes, c: int, eco: str) -> dict[str, Any]:
    """Clone ``c`` of a record for ``eco``; ids cloned from another ecosystem get its tag."""
    rec = json.loads(raw)
    own = base_ecosystem(str(((rec.get("affected") or [{}])[0].get("package") or {}).get("ecosystem", "")))
    tag = "" if own == eco else _ecosystem_tag(eco)
    if rec["id"].startswith("DEBIAN-CVE-"):  # distro records: <DISTRO>-CVE-...
        rec["id"] = f"{eco.upper()}-{clone_cve(rec['id'][len('DEBIAN-'):], c)}"
    else:
        rec["id"] = clone_id(rec["id"], c, tag)
    _remap_refs(rec, c, tag)
    releases = DISTRO_RELEASES.get(eco)
    order: dict[str, int] = {}
    for aff in rec.get("affected") or []:
        pkg = aff.get("package") or {}
        old = str(pkg.get("ecosystem", ""))
        if releases:  # the template's n-th distinct release -> the target's n-th
            idx = order.setdefault(old, len(order))
            pkg["ecosystem"] = releases[idx % len(releases)]
        elif base_ecosystem(old) != eco:
            pkg["ecosystem"] = eco
        pkg["name"] = clone_name(str(pkg.get("name", "")), c)
        pkg.pop("purl", None)
        aff["package"] = pkg
    return rec


def distro_osv_templates(entries: dict[str, dict[str, dict[str, Any]]]) -> list[bytes]:
    """One OSV record per real CVE of the tracker entries: one affected entry per source
    package and release, as osv.dev's DEBIAN-CVE-* records are."""
    by_cve: dict[str, list[dict[str, Any]]] = {}
    details: dict[str, str] = {}
    for package in sorted(entries):
        for cve, entry in entries[package].items():
            details.setdefault(cve, entry["description"])
            for codename, rel in entry["releases"].items():
                events: list[dict[str, str]] = [{"introduced": "0"}]
                if rel["status"] == "resolved" and rel["fixed_version"] not in ("", "0"):
                    events.append({"fixed": rel["fixed_version"]})
                by_cve.setdefault(cve, []).append({
                    "package": {"ecosystem": f"Debian:{CODENAMES[codename]}", "name": package},
                    "ranges": [{"type": "ECOSYSTEM", "events": events}]})
    return [json.dumps({"schema_version": "1.6.0", "id": f"DEBIAN-{cve}", "modified": "2026-11-01T00:00:00Z",
                        "published": "2026-01-01T00:00:00Z", "aliases": [cve], "details": details[cve],
                        "affected": affected}, separators=(",", ":")).encode()
            for cve, affected in sorted(by_cve.items())]


def write_osv(out: Path, templates: dict[str, list[bytes]], rng: random.Random, scale: float) -> dict[str, int]:
    counts = {}
    for eco, target in OSV_TARGETS.items():
        pool = [raw for donor in OSV_DONORS[eco] for raw in templates.get(donor, [])]
        rng.shuffle(pool)
        n = int(target * scale)
        path = out / "osv" / eco / "all.zip"
        path.parent.mkdir(parents=True, exist_ok=True)
        with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
            for c, raw in _rounds(pool, n):
                rec = clone_osv(raw, c, eco)
                info = zipfile.ZipInfo(f"{rec['id']}.json", date_time=ZIP_TIME)
                zf.writestr(info, json.dumps(rec, separators=(",", ":")), zipfile.ZIP_DEFLATED, 1)
        counts[f"osv:{eco}"] = n
    return counts


_CODENAME_OF = {v: k for k, v in CODENAMES.items()}


def _tracker_entries(templates: list[Advisory], descriptions: list[str]) -> dict[str, dict[str, dict[str, Any]]]:
    """(package -> CVE -> tracker entry) from the real DSA/DLA rows (c = 0)."""
    out: dict[str, dict[str, dict[str, Any]]] = {}
    for i, adv in enumerate(templates):
        if not CVE_RE.fullmatch(adv.id):
            continue
        for row in adv.affected:
            codename = _CODENAME_OF.get(row.namespace.split(":", 1)[-1])
            if codename is None:
                continue
            entry = out.setdefault(row.package, {}).setdefault(adv.id, {
                "scope": "remote", "description": descriptions[i % len(descriptions)], "releases": {}})
            status = "resolved" if row.status in ("fixed", "not_affected") else "open"
            fixed = row.fixed_version or ("0" if row.status == "not_affected" else "")
            entry["releases"][codename] = {"status": status, "repositories": {codename: fixed or "0"},
                                           "fixed_version": fixed, "urgency": row.urgency or "not yet assigned"}
    for cves in out.values():  # every tracker entry lists the current releases too
        for entry in cves.values():
            last = next(reversed(entry["releases"].values()))
            for codename in DEBIAN_CURRENT:
                entry["releases"].setdefault(codename, last)
    return out


def write_debian(out: Path, templates: list[Advisory], descriptions: list[str], scale: float) -> dict[str, int]:
    entries = _tracker_entries(templates, descriptions)
    packages = sorted(entries)
    target, written = int(DEBIAN_ENTRIES * scale), 0
    path = out / "debian" / "tracker.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8") as fh:
        fh.write("{")
        first = True
        for c in count():
            for package in packages:
                if written >= target:
                    break
                doc = {clone_cve(cve, c): e for cve, e in entries[package].items()}
                written += len(doc)
                fh.write(("" if first else ",") + json.dumps(clone_name(package, c)) + ":" +
                         json.dumps(doc, separators=(",", ":")))
                first = False
            if written >= target:
                break
        fh.write("}")
    return {"debian": written}


def _clone_secfixes(pkg: dict[str, Any], c: int) -> dict[str, Any]:
    fixes = pkg.get("secfixes") or {}
    return {"name": clone_name(str(pkg.get("name")), c), "secfixes": {
        str(ver): [clone_cve(x, c) if CVE_RE.fullmatch(str(x)) else str(x) for x in (ids or [])]
        for ver, ids in fixes.items()}}


def write_alpine(out: Path, templates: dict[str, list[dict[str, Any]]], scale: float) -> dict[str, int]:
    total = 0
    for branch in ALPINE_BRANCHES:
        for repo, per in ALPINE_PER_REPO.items():
            pool = [p["pkg"] for p in templates.get(repo, []) if isinstance(p, dict) and isinstance(p.get("pkg"), dict)]
            n = int(per * scale)
            packages = [{"pkg": _clone_secfixes(pkg, c)} for c, pkg in _rounds(pool, n)]
            doc = {"apkurl": "{{urlprefix}}/{{distroversion}}/{{reponame}}/{{arch}}/{{pkg.name}}-{{pkg.ver}}.apk",
                   "archs": ["aarch64", "x86_64"], "reponame": repo, "urlprefix": "https://dl-cdn.alpinelinux.org/alpine",
                   "distroversion": branch, "packages": packages}
            path = out / "alpine" / branch / f"{repo}.json"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(doc, separators=(",", ":")), encoding="utf-8")
            total += n
    return {"alpine": total}


def _cve_ids(real: list[str], n: int) -> Iterator[str]:
    for c, cve in _rounds(real, n):
        yield clone_cve(cve, c)


def write_nvd(out: Path, templates: list[dict[str, Any]], real: list[str], scale: float) -> dict[str, int]:
    n = int(NVD_CVES * scale)
    raws = [json.dumps(t, separators=(",", ":")) for t in templates]
    root = out / "nvd"
    root.mkdir(parents=True, exist_ok=True)
    page: list[str] = []
    pages = 0

    def flush() -> None:
        nonlocal page, pages
        pages += 1
        body = ('{"resultsPerPage":%d,"startIndex":%d,"totalResults":%d,"format":"NVD_CVE","version":"2.0",'
                '"timestamp":"2026-12-01T00:00:00.000","vulnerabilities":[%s]}'
                % (len(page), (pages - 1) * NVD_PAGE, n, ",".join(page)))
        with _gzip_text(root / f"page-{pages:05d}.json.gz") as fh:
            fh.write(body)
        page = []

    for i, cve in enumerate(_cve_ids(real, n)):
        tpl = raws[i % len(raws)]
        page.append('{"cve":%s}' % tpl.replace(json.dumps(templates[i % len(raws)]["id"]), json.dumps(cve), 1))
        if len(page) == NVD_PAGE:
            flush()
    if page:
        flush()
    return {"nvd": n}


def _lognormal_cdf(x: float, mu: float, sigma: float) -> float:
    return 0.5 * (1 + math.erf((math.log(x) - mu) / (sigma * math.sqrt(2))))


def write_epss(out: Path, real: list[str], rng: random.Random, scale: float) -> dict[str, int]:
    """EPSS scores are heavily skewed (most below 1%): a log-normal stands in for the real shape."""
    n = int(EPSS_ROWS * scale)
    path = out / "epss" / "epss_scores-current.csv.gz"
    path.parent.mkdir(parents=True, exist_ok=True)
    mu, sigma = -5.5, 1.6
    with _gzip_text(path) as fh:
        fh.write("#model_version:v2025.03.14,score_date:2026-12-01T00:00:00+0000\ncve,epss,percentile\n")
        for cve in _cve_ids(real, n):
            score = min(1.0, math.exp(rng.gauss(mu, sigma)))
            fh.write(f"{cve},{score:.5f},{_lognormal_cdf(score, mu, sigma):.5f}\n")
    return {"epss": n}


def write_kev(out: Path, corpus: Path) -> dict[str, int]:
    src = corpus / "cisa-kev" / "known_exploited_vulnerabilities.json"
    (out / "kev").mkdir(parents=True, exist_ok=True)
    shutil.copyfile(src, out / "kev" / src.name)
    return {"kev": len(json.loads(src.read_bytes()).get("vulnerabilities", []))}


def generate(out: Path, corpus: Path = CORPUS, scale: float = 1.0, seed: int = 7,
             log: Callable[[str], None] = print) -> dict[str, int]:
    rng = random.Random(seed)
    counts: dict[str, int] = {}
    started = time.perf_counter()
    nvd = nvd_templates(corpus)
    debian = debian_templates(corpus)
    descriptions = [d["value"] for t in nvd for d in t.get("descriptions", []) if d.get("lang") == "en"] or [""]
    osv = osv_templates(corpus)
    osv["debian-tracker"] = distro_osv_templates(_tracker_entries(debian, descriptions))
    counts.update(write_osv(out, osv, rng, scale))
    del osv
    log(f"osv written ({time.perf_counter() - started:.0f} s)")
    counts.update(write_debian(out, debian, descriptions, scale))
    counts.update(write_alpine(out, alpine_templates(corpus), scale))
    real = corpus_cves(corpus, debian)
    del debian
    counts.update(write_nvd(out, nvd, real, scale))
    counts.update(write_epss(out, real, rng, scale))
    counts.update(write_kev(out, corpus))
    log(f"generated in {time.perf_counter() - started:.0f} s: {counts}")
    return counts


# --- distributions ------------------------------------------------------------------------

@dataclass(frozen=True)
class Shape:
    """Per-record shape counts of a set of OSV records."""

    affected: Counter[int]
    ranges: Counter[int]
    events: Counter[int]
    versions: Counter[int]


def osv_shape(records: Iterable[bytes]) -> Shape:
    aff, rng_, ev, ver = Counter[int](), Counter[int](), Counter[int](), Counter[int]()
    for raw in records:
        rec = json.loads(raw)
        affected = rec.get("affected") or []
        aff[len(affected)] += 1
        for a in affected:
            ranges = a.get("ranges") or []
            rng_[len(ranges)] += 1
            ver[min(len(a.get("versions") or []), 100) // 10 * 10] += 1  # buckets of 10
            for r in ranges:
                ev[len(r.get("events") or [])] += 1
    return Shape(aff, rng_, ev, ver)


def _hist(counter: Counter[int], top: int = 6) -> str:
    total = sum(counter.values()) or 1
    mean = sum(k * v for k, v in counter.items()) / total
    return f"mean {mean:.2f}; " + ", ".join(f"{k}: {v / total:.0%}" for k, v in sorted(counter.items())[:top])


def print_stats(corpus: Path) -> None:
    for eco, recs in sorted(osv_templates(corpus).items()):
        s = osv_shape(recs)
        print(f"{eco} ({len(recs)} records): affected/record {_hist(s.affected)} | ranges/affected "
              f"{_hist(s.ranges)} | events/range {_hist(s.events)} | explicit versions/affected (x10) "
              f"{_hist(s.versions)}")
    entries = _tracker_entries(debian_templates(corpus), [""])
    per_pkg = Counter(min(len(v), 50) // 5 * 5 for v in entries.values())
    print(f"debian tracker: {len(entries)} packages, {sum(len(v) for v in entries.values())} entries; "
          f"entries/package (x5) {_hist(per_pkg)}")
    alp = alpine_templates(corpus)
    fixes = Counter(min(len((p.get('pkg') or {}).get('secfixes') or {}), 20) for r in alp.values() for p in r)
    print(f"alpine v3.11: {sum(map(len, alp.values()))} packages; secfixes versions/package {_hist(fixes, 10)}")


# --- measurement ----------------------------------------------------------------------------

def _timed(cmd: list[str], env: dict[str, str] | None = None) -> dict[str, float]:
    """Run under /usr/bin/time -v: wall s, user+sys s, peak RSS MiB, exit code."""
    proc = subprocess.run(["/usr/bin/time", "-v", *cmd], capture_output=True, text=True, env=env)
    def field(label: str) -> str:
        m = re.search(rf"{re.escape(label)}: (.+)", proc.stderr)
        return m.group(1).strip() if m else "0"
    wall = field("Elapsed (wall clock) time (h:mm:ss or m:ss)").split(":")
    seconds = sum(float(x) * 60 ** i for i, x in enumerate(reversed(wall)))
    cpu = float(field("User time (seconds)")) + float(field("System time (seconds)"))
    if proc.returncode:
        print(proc.stderr[-2000:], file=sys.stderr)
    return {"wall": seconds, "cpu": cpu, "rss_mib": int(field("Maximum resident set size (kbytes)")) / 1024,
            "rc": proc.returncode}


def _layerscan(*args: str) -> list[str]:
    return [sys.executable, "-m", "layerscan", *args]


def _median(values: list[float]) -> float:
    s = sorted(values)
    return s[len(s) // 2]


def _scan(image: Path, cache: Path, out: Path, repeat: int) -> dict[str, float]:
    runs = []
    for _ in range(repeat):
        shutil.rmtree(cache / "layers", ignore_errors=True)
        runs.append(_timed(_layerscan("image", "--input", str(image), "--skip-db-update", "-f", "json", "-o", str(out),
                                      "--cache-dir", str(cache), "--scanners", "vuln", "--no-progress", "-q")))
    findings = sum(len(r.get("Vulnerabilities") or []) for r in json.loads(out.read_bytes()).get("Results", []))
    return {"wall": _median([r["wall"] for r in runs]), "cpu": _median([r["cpu"] for r in runs]),
            "rss_mib": max(r["rss_mib"] for r in runs), "findings": findings}


def _trivy(image: str, tmp: Path, repeat: int) -> dict[str, float]:
    """Trivy's SBOM-only pass, as benchmarks/run.py runs it (empty Java DB as lang_compare.py)."""
    runs = []
    for i in range(repeat):
        cache = tmp / f"trivy-{i}"
        seed_trivy_java_db(cache)
        cmd, _ = sbom_commands("trivy", "archive", image, tmp / "trivy.cdx.json", cache)
        runs.append(_timed(cmd))
        shutil.rmtree(cache, ignore_errors=True)
    return {"wall": _median([r["wall"] for r in runs]), "cpu": _median([r["cpu"] for r in runs]),
            "rss_mib": max(r["rss_mib"] for r in runs)}


def measure(scale: float, seed: int, images: list[str], repeat: int, lookups: int) -> dict[str, Any]:
    results: dict[str, Any] = {"scale": scale}
    tmp = Path(tempfile.mkdtemp(prefix="layerscan-scale-", dir="/tmp"))
    try:
        feeds = tmp / "feeds"
        started = time.perf_counter()
        results["generated"] = generate(feeds, scale=scale, seed=seed)
        results["generate_s"] = time.perf_counter() - started
        results["feeds_mb"] = sum(f.stat().st_size for f in feeds.rglob("*") if f.is_file()) / 1e6
        big, small = tmp / "big", tmp / "small"
        extra = [str(CORPUS / p) for p in PASS_THROUGH]
        results["import"] = _timed(_layerscan("db", "import", str(feeds), *extra, "--cache-dir", str(big), "-q"))
        db = next(big.rglob("layerscan.db"))
        results["db_mb"] = db.stat().st_size / 1e6
        results["lookup"] = lookup_times(db, lookups)
        results["corpus_import"] = _timed(_layerscan("db", "import", str(CORPUS), "--cache-dir", str(small), "-q"))
        for name in images:
            archive = WORK / f"{name}.docker.tar"
            results[f"scan:{name}:big"] = _scan(archive, big, tmp / "big.json", repeat)
            results[f"scan:{name}:corpus"] = _scan(archive, small, tmp / "small.json", repeat)
            results[f"trivy-sbom:{name}"] = _trivy(name, tmp, repeat)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(json.dumps(results, indent=1))
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    gen = sub.add_parser("generate", help="write the scaled feeds into OUT (outside the repository)")
    gen.add_argument("out", type=Path)
    sub.add_parser("stats", help="print the corpus's record-shape distributions")
    mes = sub.add_parser("measure", help="generate into /tmp, import, look up, scan; remove the temp dir")
    mes.add_argument("--image", action="append", default=[],
                     help="benchmarks/work/NAME.docker.tar to scan (lang_image.py / build_images.sh): lang, small, large")
    mes.add_argument("--repeat", type=int, default=3)
    mes.add_argument("--lookups", type=int, default=10_000)
    mes.add_argument("--json", type=Path, help="also write the results here")
    for p in (gen, mes):
        p.add_argument("--scale", type=float, default=1.0, help="fraction of the real-scale counts")
        p.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    if not CORPUS.is_dir():
        print(f"no corpus feeds at {CORPUS}", file=sys.stderr)
        return 2
    if args.command == "stats":
        print_stats(CORPUS)
        return 0
    if args.command == "generate":
        out = args.out.resolve()
        if out == REPO or REPO in out.parents:
            print("refusing to write into the repository", file=sys.stderr)
            return 2
        generate(out, scale=args.scale, seed=args.seed)
        return 0
    results = measure(args.scale, args.seed, args.image, args.repeat, args.lookups)
    if args.json:
        args.json.write_text(json.dumps(results, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
