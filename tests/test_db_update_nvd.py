"""``db update`` of NVD against a local CVE API 2.0 server serving real NVD records (corpus)
in pages: paging, incremental dates, the apiKey header, backoff and the imported CVSS."""

from __future__ import annotations

import json
import threading
import zipfile
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Iterator
from urllib.parse import parse_qs, urlsplit

import pytest

from layerscan.db.nvdapi import MAX_WINDOW, NvdLimits, windows
from layerscan.db.store import Store
from layerscan.db.update import NVD_SYNC_KEY, UpdateOptions, update_database

FIXTURE = ("vunnel-provider-fixtures.zip", "tests/unit/providers/nvd/test-fixtures/full-page.json")
FAST = NvdLimits(page_size=10, pause=0.0, backoff=0.01)


class _Api(BaseHTTPRequestHandler):
    """CVE API 2.0: filters by lastModified window, pages by startIndex/resultsPerPage; logs
    (query, apiKey header); answers server.fail (a list of statuses) first."""

    def log_message(self, *args: object) -> None:
        pass

    def do_GET(self) -> None:  # noqa: N802 - http.server API
        server = self.server
        query = {k: v[0] for k, v in parse_qs(urlsplit(self.path).query).items()}
        server.log.append((query, self.headers.get("apiKey")))  # type: ignore[attr-defined]
        if server.fail:  # type: ignore[attr-defined]
            return self._reply(server.fail.pop(0), b"")  # type: ignore[attr-defined]
        records = [v for v in server.records if _in_window(v["cve"]["lastModified"], query)]  # type: ignore[attr-defined]
        start, size = int(query["startIndex"]), int(query["resultsPerPage"])
        page = {"resultsPerPage": size, "startIndex": start, "totalResults": len(records), "format": "NVD_CVE",
                "version": "2.0", "timestamp": "2024-01-01T00:00:00.000", "vulnerabilities": records[start:start + size]}
        self._reply(200, json.dumps(page).encode())

    def _reply(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def _in_window(modified: str, query: dict[str, str]) -> bool:
    if "lastModStartDate" not in query:
        return True
    return query["lastModStartDate"][:19] <= modified[:19] <= query["lastModEndDate"][:19]


@pytest.fixture()
def nvd_records(corpus: Path) -> list[dict]:
    with zipfile.ZipFile(corpus / "feeds" / "upstream-samples" / FIXTURE[0]) as zf:
        return json.loads(zf.read(FIXTURE[1]))["vulnerabilities"]


@pytest.fixture()
def api(nvd_records: list[dict]) -> Iterator[ThreadingHTTPServer]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Api)
    server.records, server.log, server.fail = nvd_records, [], []  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def _opts(tmp_path: Path, server: ThreadingHTTPServer, **env: str) -> UpdateOptions:
    url = f"http://127.0.0.1:{server.server_address[1]}/rest/json/cves/2.0"
    return UpdateOptions(cache_dir=tmp_path, sources=("nvd",), urls={"nvd": url}, nvd_limits=FAST, env=env)


def _nvd_cvss(metrics: dict) -> set[tuple[str, str, float]]:
    return {(m["cvssData"]["vectorString"], m["cvssData"]["version"], m["cvssData"]["baseScore"])
            for entries in metrics.values() for m in entries}


def test_first_run_downloads_every_page_and_imports_the_records_cvss(tmp_path: Path, api, nvd_records):
    result = update_database(_opts(tmp_path, api))
    assert result.changed == ("nvd",) and not result.failed
    assert [q["startIndex"] for q, _ in api.log] == ["0", "10", "20", "30"]
    assert all("lastModStartDate" not in q and q["resultsPerPage"] == "10" for q, _ in api.log)
    assert all(key is None for _, key in api.log)  # no key configured: no apiKey header
    with Store.open(tmp_path / "db" / "layerscan.db") as store:
        assert store.metadata()["state"][NVD_SYNC_KEY]
        for record in nvd_records:
            adv = store.advisory(record["cve"]["id"])
            assert adv is not None and adv.source == "nvd"
            assert {(c.vector, c.version, c.score) for c in adv.cvss} == _nvd_cvss(record["cve"]["metrics"])


def test_second_run_asks_for_records_modified_since_the_first(tmp_path: Path, api, nvd_records):
    update_database(_opts(tmp_path, api))
    with Store.open(tmp_path / "db" / "layerscan.db") as store:
        synced = store.metadata()["state"][NVD_SYNC_KEY]
    api.log.clear()
    changed = dict(nvd_records[0], cve={**nvd_records[0]["cve"], "lastModified": "2999-01-01T00:00:00.000"})
    changed["cve"]["metrics"] = {"cvssMetricV31": [{"source": "nvd@nist.gov", "type": "Primary", "cvssData": {
        "version": "3.1", "vectorString": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", "baseScore": 9.8,
        "baseSeverity": "CRITICAL"}}]}
    api.records = [changed] + nvd_records[1:]
    api.records[0]["cve"]["lastModified"] = synced.replace("Z", ".000")  # modified at the window start
    update_database(_opts(tmp_path, api))
    assert len(api.log) == 1
    query = api.log[0][0]
    assert query["lastModStartDate"] == synced.replace("Z", ".000+00:00") and query["startIndex"] == "0"
    assert datetime.fromisoformat(query["lastModEndDate"]) >= datetime.fromisoformat(query["lastModStartDate"])
    with Store.open(tmp_path / "db" / "layerscan.db") as store:
        adv = store.advisory(changed["cve"]["id"])
        assert adv is not None and [(c.vector, c.score) for c in adv.cvss] == [
            ("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", 9.8)]  # the newer record replaces the old one
        assert [r["cve"]["id"] for r in nvd_records if not store.advisory(r["cve"]["id"])] == []


def test_api_key_is_sent_as_the_apikey_header(tmp_path: Path, api):
    update_database(_opts(tmp_path, api, LAYERSCAN_NVD_API_KEY="secret-key"))
    assert api.log and all(key == "secret-key" for _, key in api.log)


def test_503_is_retried_with_backoff_then_succeeds(tmp_path: Path, api, nvd_records):
    api.fail = [503, 429]
    result = update_database(_opts(tmp_path, api))
    assert result.changed == ("nvd",) and not result.failed
    assert [q["startIndex"] for q, _ in api.log] == ["0", "0", "0", "10", "20", "30"]
    with Store.open(tmp_path / "db" / "layerscan.db") as store:
        assert all(store.advisory(r["cve"]["id"]) for r in nvd_records)


def test_pause_between_requests_follows_the_rate_limit():
    assert NvdLimits().pause_for("") == 6.0  # 5 requests / 30 s
    assert NvdLimits().pause_for("key") == 0.6  # 50 requests / 30 s
    assert NvdLimits(pause=0.0).pause_for("") == 0.0


def test_windows_are_at_most_120_days():
    start = datetime(2024, 1, 1)
    spans = list(windows(start, start + MAX_WINDOW * 2.5))
    assert len(spans) == 3 and spans[0][0] == start and spans[-1][1] == start + MAX_WINDOW * 2.5
    assert all(b - a <= MAX_WINDOW and b == c for (a, b), (c, _) in zip(spans, spans[1:] + [(spans[-1][1], None)]))
