"""``db update`` against a local HTTP server that serves feeds in the upstream layout."""

from __future__ import annotations

import gzip
import hashlib
import json
import threading
import zipfile
from collections import Counter
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Iterator

import pytest

from layerscan.errors import DatabaseError

from layerscan.db.store import Store
from layerscan.db.update import UpdateOptions, update_database


class _Handler(SimpleHTTPRequestHandler):
    """Static files with a content ETag; counts (path, status) in server.log; paths in
    server.broken answer 500."""

    def log_message(self, *args: object) -> None:
        pass

    def do_GET(self) -> None:  # noqa: N802 - http.server API
        path = Path(self.translate_path(self.path))
        server = self.server
        if self.path in server.broken:  # type: ignore[attr-defined]
            return self._reply(500, b"")
        if not path.is_file():
            return self._reply(404, b"")
        body = path.read_bytes()
        etag = '"' + hashlib.sha256(body).hexdigest()[:16] + '"'
        if self.headers.get("If-None-Match") == etag:
            return self._reply(304, b"", etag)
        self._reply(200, body, etag)

    def _reply(self, status: int, body: bytes, etag: str = "") -> None:
        self.server.log[(self.path, status)] += 1  # type: ignore[attr-defined]
        self.send_response(status)
        if etag:
            self.send_header("ETag", etag)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if status == 200:
            self.wfile.write(body)


@pytest.fixture()
def mirror(tmp_path: Path) -> Iterator[tuple[str, Path, ThreadingHTTPServer]]:
    root = tmp_path / "mirror"
    root.mkdir()
    server = ThreadingHTTPServer(("127.0.0.1", 0), lambda *a: _Handler(*a, directory=str(root)))
    server.log = Counter()  # type: ignore[attr-defined]
    server.broken = set()  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", root, server
    server.shutdown()
    server.server_close()


def _osv(vuln_id: str, fixed: str, modified: str) -> dict:
    return {"id": vuln_id, "modified": modified, "aliases": [], "affected": [
        {"package": {"ecosystem": "PyPI", "name": "demo-pkg"},
         "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": fixed}]}]}]}


def _populate(root: Path) -> None:
    osv = root / "osv" / "PyPI"
    osv.mkdir(parents=True)
    with zipfile.ZipFile(osv / "all.zip", "w") as zf:
        zf.writestr("PYSEC-1.json", json.dumps(_osv("PYSEC-1", "1.0", "2024-01-01T00:00:00Z")))
        zf.writestr("PYSEC-2.json", json.dumps(_osv("PYSEC-2", "2.0", "2024-02-01T00:00:00Z")))
    (osv / "modified_id.csv").write_text("2024-02-01T00:00:00Z,PYSEC-2\n2024-01-01T00:00:00Z,PYSEC-1\n")
    (root / "nvd.json").write_text(json.dumps({"format": "NVD_CVE", "startIndex": 0, "totalResults": 0,
                                               "vulnerabilities": []}))  # CVE API 2.0, no records
    (root / "debian.json").write_text(json.dumps({"openssl": {"CVE-2099-1": {"description": "d", "releases": {
        "bookworm": {"status": "resolved", "fixed_version": "3.0.1-1", "urgency": "high"}}}}}))
    alpine = root / "alpine" / "v3.19"
    alpine.mkdir(parents=True)
    (alpine / "main.json").write_text(json.dumps({"distroversion": "v3.19", "reponame": "main", "packages": [
        {"pkg": {"name": "zlib", "secfixes": {"1.3-r2": ["CVE-2023-45853"]}}}]}))
    (alpine / "community.json").write_text(json.dumps({"distroversion": "v3.19", "packages": {}}))
    (root / "kev.json").write_text(json.dumps({"catalogVersion": "1", "count": 1, "vulnerabilities": [
        {"cveID": "CVE-2023-45853", "dateAdded": "2024-01-01"}]}))
    (root / "epss.csv.gz").write_bytes(gzip.compress(
        b"#model_version:v1,score_date:2025-01-01T00:00:00Z\ncve,epss,percentile\nCVE-2023-45853,0.5,0.9\n"))
    eol = root / "eol"
    eol.mkdir()
    (eol / "debian.json").write_text(json.dumps([{"cycle": "12", "codename": "Bookworm", "eol": "2026-06-10"}]))


def _options(base: str, cache: Path) -> UpdateOptions:
    urls = {"osv": f"{base}/osv", "debian": f"{base}/debian.json", "alpine": f"{base}/alpine",
            "kev": f"{base}/kev.json", "epss": f"{base}/epss.csv.gz", "eol": f"{base}/eol", "nvd": f"{base}/nvd.json"}
    return UpdateOptions(cache_dir=cache, sources=tuple(urls), ecosystems=("PyPI",), urls=urls,
                         alpine_branches=("v3.19",), eol_products=("debian",), env={})


def test_full_then_304_then_incremental(mirror: tuple[str, Path, ThreadingHTTPServer], tmp_path: Path) -> None:
    base, root, server = mirror
    _populate(root)
    opts = _options(base, tmp_path / "cache")

    first = update_database(opts)
    assert first.build is not None and not first.failed
    with Store.open(opts.db_path) as store:
        assert sorted(r.vuln_id for r in store.affected("PyPI", "Demo_Pkg")) == ["PYSEC-1", "PYSEC-2"]
        assert store.affected("Debian:12", "openssl")[0].affected.fixed_version == "3.0.1-1"
        assert store.affected("Alpine:v3.19", "zlib")[0].vuln_id == "CVE-2023-45853"
        assert store.kev("CVE-2023-45853") and store.epss("CVE-2023-45853") == (0.5, 0.9)
        assert store.eol("debian", "12").eol == "2026-06-10"
    assert server.log[("/osv/PyPI/all.zip", 200)] == 1

    second = update_database(opts)  # nothing changed upstream: every request answers 304
    assert second.build is None and second.changed == ()
    assert server.log[("/osv/PyPI/modified_id.csv", 304)] == 1
    assert server.log[("/kev.json", 304)] == 1 and server.log[("/debian.json", 304)] == 1

    # upstream changes one record: only that record is fetched, not all.zip
    (root / "osv" / "PyPI" / "PYSEC-1.json").write_text(json.dumps(_osv("PYSEC-1", "1.5", "2024-03-01T00:00:00Z")))
    (root / "osv" / "PyPI" / "modified_id.csv").write_text(
        "2024-03-01T00:00:00Z,PYSEC-1\n2024-02-01T00:00:00Z,PYSEC-2\n")
    third = update_database(opts)
    assert third.changed == ("osv:PyPI",)
    assert server.log[("/osv/PyPI/PYSEC-1.json", 200)] == 1
    assert server.log[("/osv/PyPI/all.zip", 200)] == 1
    with Store.open(opts.db_path) as store:
        fixed = {r.vuln_id: r.affected.fixed_version for r in store.affected("PyPI", "demo-pkg")}
        assert fixed == {"PYSEC-1": "1.5", "PYSEC-2": "2.0"}
        assert store.kev("CVE-2023-45853")  # other sources kept


def test_failed_source_keeps_previous_data(mirror: tuple[str, Path, ThreadingHTTPServer], tmp_path: Path) -> None:
    base, root, server = mirror
    _populate(root)
    opts = _options(base, tmp_path / "cache")
    update_database(opts)
    (opts.feed_dir / "kev" / "known_exploited_vulnerabilities.json").unlink()  # no cached copy either
    server.broken.add("/kev.json")  # type: ignore[attr-defined]
    result = update_database(opts, force=True)
    assert "HTTP 500" in result.failed["kev"]
    with Store.open(opts.db_path) as store:
        assert store.kev("CVE-2023-45853")
        assert store.metadata()["sources"]["kev"]["status"] == "kept"


def test_unreachable_mirror_without_db_is_an_error_and_creates_nothing(tmp_path: Path) -> None:
    """A first update that downloads nothing must not leave an empty database behind
    (a scan would then report 'no vulnerabilities')."""
    opts = UpdateOptions(cache_dir=tmp_path, sources=("kev",), urls={"kev": "http://127.0.0.1:9/kev.json"},
                         env={}, timeout=2)
    with pytest.raises(DatabaseError, match="none of the 1 sources could be downloaded"):
        update_database(opts)
    assert not opts.db_path.exists()


def test_env_overrides_url(tmp_path: Path) -> None:
    opts = UpdateOptions(cache_dir=tmp_path, env={"LAYERSCAN_DB_OSV_URL": "http://mirror.local/osv/"})
    assert opts.url("osv") == "http://mirror.local/osv"
    assert opts.url("kev").startswith("https://")
