"""Every version in the corpus feeds parses under its ecosystem's scheme.

The few that do not are malformed in the source data; each is listed with
the reason, so a scheme that starts rejecting real versions fails here.
"""

from __future__ import annotations

import glob
import gzip
import json
import re
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from packaging.version import VERSION_PATTERN

from layerscan.versions import get_scheme

_PEP440 = re.compile(r"^\s*" + VERSION_PATTERN + r"\s*$", re.VERBOSE | re.IGNORECASE)

OSV_FEEDS = {
    "Go": "osv-go-vulndb/go-vulndb-osv.zip",
    "PyPI": "osv-pypi-pypa/pypa-advisory-database-vulns.zip",
    "crates.io": "osv-crates-rustsec/rustsec-osv.zip",
    "Bitnami": "osv-bitnami/bitnami-osv.zip",
    "AlmaLinux": "osv-almalinux/almalinux-osv.zip",
}
# malformed in the source data
MALFORMED = {
    "Bitnami": {"nightly.2026-03-10.0": "a nightly build label, not a version"},
    "Alpine": {
        v: "malformed secfixes key (empty component before -r, or -N instead of -rN); "
           "apk-tools and osv.dev reject these too"
        for v in ("0.12.5.-r0", "1.0.4.-r0", "1.11-20-r0", "1.18.-r2", "1.7.5.-r1", "2.15.r-r1",
                  "2.7.16-33", "4.10-1-r1", "4.8.0.-r1", "57-1-r2")
    },
    "Debian": {"kernel-image-2.4.17-ia64": "a DSA line whose version field repeats the package name"},
}


def _osv_records(path: Path) -> Iterator[dict]:
    with zipfile.ZipFile(path) as z:
        for name in z.namelist():
            if name.endswith(".json"):
                yield json.loads(z.read(name))
            elif name.endswith(".yaml"):
                yield yaml.load(z.read(name), Loader=yaml.BaseLoader)


def _osv_versions(path: Path, ecosystem: str) -> Iterator[str]:
    for record in _osv_records(path):
        for affected in record.get("affected", []):
            if affected.get("package", {}).get("ecosystem", "").split(":")[0] != ecosystem:
                continue
            for rng in affected.get("ranges", []):
                if rng.get("type") != "GIT":
                    yield from (v for event in rng.get("events", []) for v in event.values() if v != "0")
            yield from affected.get("versions", []) or []


def _rejected(ecosystem: str, versions: Iterator[str]) -> tuple[int, set[str]]:
    scheme = get_scheme(ecosystem)
    seen, bad = 0, set()
    for v in versions:
        seen += 1
        if not scheme.valid(v):
            bad.add(v)
    return seen, bad


@pytest.mark.parametrize("ecosystem", sorted(OSV_FEEDS))
def test_osv_feed_versions_parse(corpus: Path, ecosystem: str) -> None:
    seen, bad = _rejected(ecosystem, _osv_versions(corpus / "feeds" / OSV_FEEDS[ecosystem], ecosystem))
    assert seen > 1000
    if ecosystem == "PyPI":  # enumerated `versions` lists keep legacy releases; PEP 440 rejects them
        bad = {v for v in bad if _PEP440.match(v)}
    assert bad <= set(MALFORMED.get(ecosystem, {})), sorted(bad)[:20]


def test_alpine_secdb_versions_parse(corpus: Path) -> None:
    def versions() -> Iterator[str]:
        for path in glob.glob(str(corpus / "feeds" / "alpine-secdb-yaml" / "*" / "*.yaml")):
            with open(path, encoding="utf-8") as f:
                doc = yaml.load(f, Loader=yaml.BaseLoader)
            for pkg in doc.get("packages") or []:
                yield from (pkg["pkg"].get("secfixes") or {})

    seen, bad = _rejected("Alpine", versions())
    assert seen > 1000
    assert bad == set(MALFORMED["Alpine"])


def test_debian_dsa_dla_fixed_versions_parse(corpus: Path) -> None:
    line = re.compile(r"\s+\[\w+\] - \S+ (\S+)")

    def versions() -> Iterator[str]:
        for kind in ("DSA", "DLA"):
            path = corpus / "feeds" / "debian-security-tracker" / "data" / kind / "list.gz"
            with gzip.open(path, "rt", encoding="utf-8", errors="replace") as f:
                for text in f:
                    m = line.match(text)
                    if m and not m.group(1).startswith("<"):  # <unfixed>, <not-affected>, ...
                        yield m.group(1)

    seen, bad = _rejected("Debian", versions())
    assert seen > 5000
    assert bad == set(MALFORMED["Debian"])


# (advisory, version) pairs whose enumerated `versions` entry lies outside the record's own ranges
PYPI_LIST_RANGE_DISAGREEMENTS = {
    ("PYSEC-2023-61", v): "prereleases of the introduced release are listed, but PEP 440 sorts them before it"
    for v in ("3.2a1", "3.2b1", "3.2rc1", "4.2a1", "4.2b1", "4.2rc1")
} | {
    ("PYSEC-2023-177", "23.9.0"): "listed although the record's range ends before it",
    ("PYSEC-2023-177", "23.9.0.post1"): "listed although the record's range ends before it",
}


def test_pypi_enumerated_versions_lie_in_their_ranges(corpus: Path) -> None:
    """OSV `versions` enumerate what `ranges` describe; in_range must agree for valid versions."""
    scheme = get_scheme("PyPI")
    agree, outside = 0, set()
    for record in _osv_records(corpus / "feeds" / OSV_FEEDS["PyPI"]):
        for affected in record.get("affected", []):
            ranges = [[(k, v) for event in r.get("events", []) for k, v in event.items()]
                      for r in affected.get("ranges", []) if r.get("type") == "ECOSYSTEM"]
            for version in (affected.get("versions") or []) if ranges else []:
                if not scheme.valid(version):
                    continue
                if any(scheme.in_range(version, events) for events in ranges):
                    agree += 1
                else:
                    outside.add((record["id"], version))
    assert agree > 100_000
    assert outside == set(PYPI_LIST_RANGE_DISAGREEMENTS)
