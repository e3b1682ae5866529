"""Building the SQLite database and reading it back through Store."""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import sys
import threading
import time
import zipfile
from pathlib import Path

import pytest

from layerscan.db.aliases import group_ids
from layerscan.db.build import BuildInput, build_database, import_paths
from layerscan.db.schema import SCHEMA_VERSION
from layerscan.db.store import Store
from layerscan.errors import DatabaseError


@pytest.fixture(scope="module")
def corpus_db(corpus: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    target = tmp_path_factory.mktemp("db") / "layerscan.db"
    feeds = corpus / "feeds"
    names = ["osv-pypi-pypa", "osv-go-vulndb", "osv-ghsa-curated", "debian-security-tracker",
             "alpine-secdb-yaml", "cisa-kev", "endoflife-date", "npm-nodejs-security-wg"]
    import_paths(target, [feeds / n for n in names])
    return target


def test_corpus_lookup_pypi_normalised(corpus: Path, corpus_db: Path) -> None:
    import yaml

    with zipfile.ZipFile(corpus / "feeds/osv-pypi-pypa/pypa-advisory-database-vulns.zip") as zf:
        rec = yaml.safe_load(zf.read("vulns/accesscontrol/PYSEC-2021-335.yaml"))
    with Store.open(corpus_db) as store:
        rows = [r for r in store.affected("PyPI", "AccessControl") if r.vuln_id == rec["id"]]
        assert len(rows) == 1
        eco = next(r for r in rec["affected"][0]["ranges"] if r["type"] == "ECOSYSTEM")
        ranges = {r.type: r for r in rows[0].affected.ranges}
        assert ranges["ECOSYSTEM"].events == tuple((k, v) for e in eco["events"] for k, v in e.items())
        cve = next(a for a in rec["aliases"] if a.startswith("CVE-"))
        assert rows[0].primary_id == cve
        assert set(rec["aliases"]) <= set(store.aliases(rec["id"]))
        assert store.advisory(cve).details.startswith(rec["details"][:40])


def test_corpus_debian_alpine_kev_eol(corpus: Path, corpus_db: Path) -> None:
    with Store.open(corpus_db) as store:
        rows = store.affected("Debian:11", "xorg-server")
        assert any(r.vuln_id == "CVE-2023-1393" and r.affected.fixed_version == "2:1.20.11-1+deb11u6" for r in rows)
        assert "DSA-5380-1" in store.aliases("CVE-2023-1393")
        assert store.affected("Alpine:v3.10", "ansible")
        kev = json.loads((corpus / "feeds/cisa-kev/known_exploited_vulnerabilities.json").read_text())
        assert all(store.kev(v["cveID"]) for v in kev["vulnerabilities"][:50])
        assert not store.kev("CVE-1999-99999")
        assert store.eol("debian", "12").codename == "Bookworm"
        meta = store.metadata()
        assert meta["schema_version"] == SCHEMA_VERSION
        assert meta["sources"]["kev"]["records"] == kev["count"]
        assert {"Debian:11", "PyPI", "Go", "npm", "Alpine:v3.10"} <= store.namespaces()


def test_log4shell_group(corpus_db: Path) -> None:
    with Store.open(corpus_db) as store:
        rows = store.affected("Maven", "org.apache.logging.log4j:log4j-core")
        assert {r.primary_id for r in rows} >= {"CVE-2021-44228", "CVE-2021-45046"}
        assert "GHSA-jfh8-c2jp-5v3q" in store.aliases("CVE-2021-44228")
        assert store.kev("CVE-2021-44228")


def test_alias_groups_never_merge_two_cves() -> None:
    groups = group_ids([("GHSA-a", "CVE-1"), ("PYSEC-1", "GHSA-a"), ("DSA-9", "CVE-2"), ("DSA-9", "CVE-3"),
                        ("GHSA-b", "CVE-4"), ("GHSA-b", "CVE-5"), ("GO-1", "GHSA-c")])
    assert groups["PYSEC-1"] == groups["GHSA-a"] == "CVE-1"
    assert groups["CVE-2"] == "CVE-2" and groups["CVE-3"] == "CVE-3"  # DSA-9 is a bundle
    assert groups["GO-1"] == "GHSA-c"
    assert groups["CVE-4"] != groups["CVE-5"]


def _osv(vuln_id: str, eco: str, pkg: str, fixed: str, **extra: object) -> str:
    rec = {"id": vuln_id, "modified": "2024-01-01T00:00:00Z", "affected": [
        {"package": {"ecosystem": eco, "name": pkg},
         "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": fixed}]}]}]}
    rec.update(extra)
    return json.dumps(rec)


def _write(dir_: Path, files: dict[str, str]) -> Path:
    dir_.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (dir_ / name).write_text(text)
    return dir_


def test_import_keeps_other_sources_and_failed(tmp_path: Path) -> None:
    db = tmp_path / "db" / "layerscan.db"
    pypi = _write(tmp_path / "pypi", {"a.json": _osv("PYSEC-1", "PyPI", "Foo_Bar", "1.0")})
    go = _write(tmp_path / "go", {"b.json": _osv("GO-1", "Go", "example.com/m", "1.2.0")})
    build_database(db, [BuildInput((pypi,))])
    build_database(db, [BuildInput((go,))])
    with Store.open(db) as store:
        assert store.affected("PyPI", "foo-bar")[0].vuln_id == "PYSEC-1"
        assert store.affected("Go", "example.com/m")[0].vuln_id == "GO-1"
        assert store.metadata()["sources"]["osv:PyPI"]["status"] == "kept"
    # a new PyPI input replaces PyPI only; a failed Go download keeps Go's previous rows
    pypi2 = _write(tmp_path / "pypi2", {"a.json": _osv("PYSEC-2", "PyPI", "other", "2.0")})
    result = build_database(db, [BuildInput((pypi2,), covers=("osv:PyPI",))], failed={"osv:Go": "HTTP 500"},
                            keep_others=False)
    with Store.open(db) as store:
        assert store.affected("PyPI", "foo-bar") == []
        assert store.affected("PyPI", "other")[0].vuln_id == "PYSEC-2"
        assert store.affected("Go", "example.com/m")[0].vuln_id == "GO-1"
        assert "HTTP 500" in store.metadata()["sources"]["osv:Go"]["message"]
    assert {s.name: s.status for s in result.sources}["osv:Go"] == "kept"


def test_malformed_records_counted(tmp_path: Path) -> None:
    src = _write(tmp_path / "in", {"ok.json": _osv("PYSEC-1", "PyPI", "a", "1"), "bad.json": "{",
                                   "bad2.json": json.dumps({"id": "PYSEC-2", "affected": [{"package": []}]})})
    result = import_paths(tmp_path / "layerscan.db", [src])
    assert result.skipped == {"import": 1, "osv": 1}
    with Store.open(tmp_path / "layerscan.db") as store:
        assert [r.vuln_id for r in store.affected("PyPI", "a")] == ["PYSEC-1"]


def test_store_errors(tmp_path: Path) -> None:
    with pytest.raises(DatabaseError):
        Store.open(tmp_path / "missing.db")
    (tmp_path / "junk.db").write_bytes(b"not a database" * 100)
    with pytest.raises(DatabaseError):
        Store.open(tmp_path / "junk.db")
    newer = tmp_path / "newer.db"
    conn = sqlite3.connect(newer)
    conn.execute("CREATE TABLE metadata (key TEXT, value TEXT)")
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.commit()
    conn.close()
    with pytest.raises(DatabaseError, match="newer"):
        Store.open(newer)


def _big_input(root: Path, n: int) -> Path:
    with zipfile.ZipFile(root / "big.zip", "w", zipfile.ZIP_DEFLATED) as zf:
        for i in range(n):
            zf.writestr(f"PYSEC-{i}.json", _osv(f"PYSEC-{i}", "PyPI", f"pkg{i % 500}", "1.0",
                                                 details="x" * 2000))
    return root / "big.zip"


def test_kill_during_build_leaves_old_db(tmp_path: Path) -> None:
    db = tmp_path / "layerscan.db"
    small = _write(tmp_path / "small", {"a.json": _osv("PYSEC-OLD", "PyPI", "keep", "1.0")})
    import_paths(db, [small])
    before = db.read_bytes()
    big = _big_input(tmp_path, 40000)
    code = f"from layerscan.db.build import import_paths; import_paths({str(db)!r}, [{str(big)!r}])"
    proc = subprocess.Popen([sys.executable, "-c", code])
    deadline = time.monotonic() + 60
    while not list(tmp_path.glob(".layerscan.db.*.tmp")) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert list(tmp_path.glob(".layerscan.db.*.tmp")), "the builder never started its temp file"
    time.sleep(0.2)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert db.read_bytes() == before
    with Store.open(db) as store:
        assert store.affected("PyPI", "keep")[0].vuln_id == "PYSEC-OLD"
    import_paths(db, [small])  # the next build clears the dead builder's temp file
    assert not list(tmp_path.glob(".layerscan.db.*.tmp"))


def test_reader_during_update_keeps_working(tmp_path: Path) -> None:
    db = tmp_path / "layerscan.db"
    small = _write(tmp_path / "small", {"a.json": _osv("PYSEC-OLD", "PyPI", "keep", "1.0")})
    import_paths(db, [small])
    big = _big_input(tmp_path, 5000)
    errors: list[BaseException] = []
    seen: list[int] = []
    done = threading.Event()

    def reader() -> None:
        try:
            while not done.is_set():
                with Store.open(db) as store:  # a scan opening the DB at any moment
                    seen.append(len(store.affected("PyPI", "keep")) + len(store.affected("PyPI", "pkg1")))
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    thread = threading.Thread(target=reader)
    thread.start()
    proc = subprocess.run([sys.executable, "-c",
                           f"from layerscan.db.build import import_paths; import_paths({str(db)!r}, [{str(big)!r}])"],
                          check=True)
    done.set()
    thread.join()
    assert proc.returncode == 0 and not errors and seen
    assert set(seen) <= {1, 10}  # the old database or the new one, never a broken one
    with Store.open(db) as store:
        assert len(store.affected("PyPI", "pkg1")) == 10
        assert store.affected("PyPI", "keep") == []  # the new PyPI input replaced source osv:PyPI
