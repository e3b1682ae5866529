"""Feed downloads under network faults (issue #16): the real ``Fetcher`` and the real
``db update`` CLI against a misbehaving HTTP server on 127.0.0.1.

- a body trickled a byte every 2 s runs into the ``--timeout`` deadline (a clear
  FeedError; the CLI exits 3 and names the timeout);
- a connection reset mid-body resumes with ``Range`` (206) and the file is whole;
- a server that ignores ``Range`` sends the whole body again and the file is still whole.

The fault helpers are the hostile registry's (tests/test_hostile_registry.py).
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from test_hostile_cli import Sandbox, assert_clean_failure, box, run_cli  # noqa: F401
from test_hostile_registry import flaky_body, trickle

from layerscan.db.fetch import Fetcher
from layerscan.errors import FeedError

BODY = json.dumps({"vulnerabilities": [{"cveID": f"CVE-2024-{i:05d}", "note": "x" * 200}
                                       for i in range(2000)]}).encode()
ETAG = '"' + hashlib.sha256(BODY).hexdigest()[:16] + '"'


class FeedServer:
    """``/trickle``, ``/reset-range`` (reset once, honours Range), ``/reset-norange`` (reset once,
    ignores Range), ``/ok``; ``ranges`` logs each request's Range header per path."""

    def __init__(self) -> None:
        self.ranges: dict[str, list[str]] = {}
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:  # noqa: N802 - http.server API
                seen = server.ranges.setdefault(self.path, [])
                seen.append(self.headers.get("Range", ""))
                if self.path == "/trickle":
                    trickle(self, BODY)
                else:
                    flaky_body(self, BODY, cut=self.path.startswith("/reset") and len(seen) == 1,
                               ranges=self.path != "/reset-norange")

            def log_message(self, *args: object) -> None:
                pass

        self.http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.http.daemon_threads = True
        self.base = f"http://127.0.0.1:{self.http.server_address[1]}"
        threading.Thread(target=self.http.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.http.shutdown()
        self.http.server_close()


@pytest.fixture()
def feeds() -> Iterator[FeedServer]:
    server = FeedServer()
    yield server
    server.close()


def test_trickled_feed_download_hits_the_deadline(feeds: FeedServer, tmp_path: Path) -> None:
    fetcher = Fetcher(timeout=3.0)
    with pytest.raises(FeedError, match=r"timed out: not finished within --timeout 3s") as info:
        fetcher.get(f"{feeds.base}/trickle", tmp_path / "kev.json")
    assert "--timeout" in info.value.hint
    assert list(tmp_path.iterdir()) == []  # no partial file left


def test_reset_mid_download_resumes_with_range(feeds: FeedServer, tmp_path: Path) -> None:
    result = Fetcher(timeout=30.0).get(f"{feeds.base}/reset-range", tmp_path / "kev.json")
    assert result.path.read_bytes() == BODY
    first, second = feeds.ranges["/reset-range"]
    assert first == "" and second.startswith("bytes=") and 0 < int(second[6:-1]) < len(BODY)


def test_reset_mid_download_without_range_support_starts_over(feeds: FeedServer, tmp_path: Path) -> None:
    result = Fetcher(timeout=30.0).get(f"{feeds.base}/reset-norange", tmp_path / "kev.json")
    assert result.path.read_bytes() == BODY
    assert len(feeds.ranges["/reset-norange"]) == 2


def test_db_update_with_a_trickling_mirror_fails_within_the_deadline(box: Sandbox, feeds: FeedServer) -> None:
    run = run_cli(box, "db", "update", "--sources", "kev", "--timeout", "3s", "--no-progress",
                  env={"LAYERSCAN_DB_KEV_URL": f"{feeds.base}/trickle"})
    assert_clean_failure(run, "could be downloaded", "timed out: not finished within --timeout 3s")
