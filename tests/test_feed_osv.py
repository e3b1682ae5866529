"""OSV importer on the real corpus zips and on small generated records."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest
import yaml

from layerscan.db.feeds.base import ParseStats
from layerscan.db.feeds.osv import OsvFeed, parse_modified_ids, record_to_advisory

OSV_ZIPS = {
    "osv-pypi-pypa/pypa-advisory-database-vulns.zip": "PyPI",
    "osv-go-vulndb/go-vulndb-osv.zip": "Go",
    "osv-crates-rustsec/rustsec-osv.zip": "crates.io",
    "osv-almalinux/almalinux-osv.zip": "AlmaLinux",
    "osv-bitnami/bitnami-osv.zip": "Bitnami",
}


def _source_records(zip_path: Path) -> tuple[int, dict[str, dict]]:
    """(file count, records by id) as the source files state them (independent decoding).
    AlmaLinux ships some ids twice (same errata in two folders): the count is per file."""
    files = 0
    out = {}
    with zipfile.ZipFile(zip_path) as zf:
        for name in zf.namelist():
            if name.endswith(".json"):
                doc = json.loads(zf.read(name))
            elif name.endswith(".yaml"):
                doc = yaml.safe_load(zf.read(name))
            else:
                continue
            if isinstance(doc, dict) and "id" in doc:
                files += 1
                out[doc["id"]] = doc
    return files, out


@pytest.mark.parametrize("rel", sorted(OSV_ZIPS))
def test_osv_zip_counts_and_ranges(corpus: Path, rel: str) -> None:
    path = corpus / "feeds" / rel
    files, source = _source_records(path)
    stats = ParseStats()
    live = {k: v for k, v in source.items() if not v.get("withdrawn")}
    by_record: dict[str, dict] = {}  # source record id -> the advisories stored for it, by id
    for adv in OsvFeed().parse(path, stats):  # the last file of an id wins, as in source
        origin = adv.id if adv.id in live else adv.aliases[0]  # an erratum stored per CVE: its id is the alias
        by_record.setdefault(origin, {})[adv.id] = adv
    assert stats.skipped == 0
    assert stats.records == files
    assert set(by_record) == set(live)
    for vuln_id in sorted(live)[:: max(1, len(live) // 40)]:  # ~40 samples per feed
        rec = live[vuln_id]
        cves = _erratum_cves(rec)
        assert set(by_record[vuln_id]) == set(cves or [vuln_id])
        for adv in by_record[vuln_id].values():
            _check_record(rec, adv, cves)


ERRATA = ("ALSA-", "ALBA-", "ALEA-", "RLSA-", "SUSE-SU-", "openSUSE-SU-", "UBUNTU-CVE-", "USN-")
LEVEL_WORDS = {"Critical": "CRITICAL", "Important": "HIGH", "Moderate": "MEDIUM", "Low": "LOW"}


def _erratum_cves(rec: dict) -> list[str]:
    """A distribution erratum is stored once per CVE it names (related/aliases/upstream)."""
    if not rec["id"].startswith(ERRATA):
        return []
    ids = [*(rec.get("upstream") or ()), *(rec.get("aliases") or ()), *(rec.get("related") or ())]
    return list(dict.fromkeys(i for i in ids if i.startswith("CVE-")))


def _check_record(rec: dict, adv, cves: list[str]) -> None:
    vuln_id = rec["id"]
    others = tuple(a for a in rec.get("aliases") or () if a != vuln_id and not a.startswith("CVE-"))
    if cves:
        assert adv.id in cves and adv.aliases == (vuln_id, *others)
        word = (rec.get("summary") or "").split(":")[0]
        if word in LEVEL_WORDS:  # the erratum's own level ("Important: ...") rates every row
            assert {(a.severity, a.urgency) for a in adv.affected} == {(LEVEL_WORDS[word], word)}
    else:
        assert adv.aliases == tuple(a for a in rec.get("aliases") or () if a != vuln_id)
    assert len(adv.affected) == len(rec["affected"])
    for got, want in zip(adv.affected, rec["affected"]):
        assert got.package == want["package"]["name"]
        assert got.namespace.split(":")[0] == want["package"]["ecosystem"].split(":")[0]
        assert got.versions == tuple(str(v) for v in want.get("versions") or ())
        want_ranges = [(r["type"], [(k, str(v)) for e in r["events"] for k, v in e.items()])
                       for r in want.get("ranges") or ()]
        assert [(r.type, list(r.events)) for r in got.ranges] == want_ranges


def test_osv_ghsa_severity_cwe_cvss(corpus: Path) -> None:
    path = corpus / "feeds" / "osv-ghsa-curated" / "GHSA-jfh8-c2jp-5v3q.json"
    rec = json.loads(path.read_text())
    adv = next(iter(OsvFeed().parse(path, ParseStats())))
    assert adv.aliases == tuple(rec["aliases"])
    assert [(s.source, s.level) for s in adv.severities] == [("ghsa", rec["database_specific"]["severity"])]
    assert [c.vector for c in adv.cvss] == [s["score"] for s in rec["severity"]]
    assert adv.cwes == tuple(rec["database_specific"]["cwe_ids"])


def test_osv_git_only_record_is_not_version_matchable(corpus: Path) -> None:
    advs = list(OsvFeed().parse(corpus / "feeds" / "osv-python-psf" / "psf-osv.zip", ParseStats()))
    assert advs and all(a.affected[0].namespace == "GIT" for a in advs)
    assert all(r.type == "GIT" for a in advs for af in a.affected for r in af.ranges)


def _record(**extra: object) -> dict:
    rec = {"id": "TEST-1", "modified": "2024-01-01T00:00:00Z", "aliases": ["CVE-2024-0001"],
           "affected": [{"package": {"ecosystem": "Debian:12.4", "name": "foo"},
                         "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "1.2-1"}]},
                                    {"type": "SEMVER", "events": [{"introduced": "2.0.0"}, {"last_affected": "2.1.0"},
                                                                  {"limit": "3.0.0"}]}],
                         "ecosystem_specific": {"urgency": "medium"}}]}
    rec.update(extra)
    return rec


def test_record_events_namespace_and_urgency() -> None:
    adv = record_to_advisory(_record())
    assert adv is not None
    aff = adv.affected[0]
    assert aff.namespace == "Debian:12"
    assert aff.ranges[1].events == (("introduced", "2.0.0"), ("last_affected", "2.1.0"), ("limit", "3.0.0"))
    assert aff.fixed_version == "1.2-1"
    assert aff.severity == "MEDIUM"


def test_withdrawn_excluded_and_malformed_counted(tmp_path: Path) -> None:
    (tmp_path / "a.json").write_text(json.dumps(_record()))
    (tmp_path / "b.json").write_text(json.dumps(_record(id="TEST-2", withdrawn="2024-02-02T00:00:00Z")))
    (tmp_path / "c.json").write_text('{"id": "TEST-3", "affected": [{"package": 7}]}')
    (tmp_path / "d.json").write_text('{"id": ')
    (tmp_path / "e.yaml").write_text(yaml.safe_dump(_record(id="TEST-4")))
    stats = ParseStats()
    ids = sorted(a.id for a in OsvFeed().parse(tmp_path, stats))
    assert ids == ["TEST-1", "TEST-4"]
    assert stats.skipped == 2  # c: bad package, d: invalid JSON


def test_overlay_replaces_base_records(tmp_path: Path) -> None:
    base = tmp_path / "all.zip"
    with zipfile.ZipFile(base, "w") as zf:
        zf.writestr("TEST-1.json", json.dumps(_record()))
        zf.writestr("TEST-2.json", json.dumps(_record(id="TEST-2")))
    overlay = tmp_path / "overlay"
    overlay.mkdir()
    (overlay / "TEST-1.json").write_text(json.dumps(_record(summary="changed")))
    (overlay / "TEST-2.json").write_text(json.dumps(_record(id="TEST-2", withdrawn="2024-03-01T00:00:00Z")))
    advs = list(OsvFeed().parse_with_overlay(base, overlay, ParseStats()))
    assert [(a.id, a.summary) for a in advs] == [("TEST-1", "changed")]


def test_modified_id_csv() -> None:
    data = b"2024-05-01T00:00:00Z,GO-2024-0002\n2024-04-01T00:00:00Z,GO-2024-0001\nbad line\n"
    assert parse_modified_ids(data) == [("2024-05-01T00:00:00Z", "GO-2024-0002"), ("2024-04-01T00:00:00Z", "GO-2024-0001")]
