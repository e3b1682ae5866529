"""Registry watching and stalled-job recovery on real PostgreSQL (tests/pg.py), a real registry
(tests/registry.py) behind a counting, trickling proxy (tests/registry_proxy.py), and the real CLI:
``layerscan server watch add|list|remove|poll`` and ``layerscan worker`` processes, one killed with
SIGKILL in the middle of a scan."""

from __future__ import annotations

import json
import os
import signal
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from registry import free_port
from registry_proxy import RegistryProxy
from test_fleet import (FEEDS, Fleet, Http, conforms, create_token, fleet, fleet_images, import_db,  # noqa: F401
                        psycopg, run_cli, start, stop, wait_for)


@pytest.fixture
def proxy(registry) -> Iterator[RegistryProxy]:  # registry: tests/registry.py
    counting = RegistryProxy(registry.host).start()
    try:
        yield counting
    finally:
        counting.stop()


def scan_jobs(database: str) -> list[tuple[str, str]]:
    with psycopg.connect(database) as conn:
        return [(args["ref"], status) for args, status in conn.execute(
            "SELECT args, status FROM procrastinate_jobs WHERE task_name = 'layerscan.scan_image' ORDER BY id")]


def stored(database: str) -> dict[str, list[str]]:
    with psycopg.connect(database) as conn:
        return {digest: list(refs) for digest, refs in conn.execute("SELECT digest, refs FROM images ORDER BY id")}


def poll(database: str) -> list[list[str]]:
    done = run_cli("server", "watch", "poll", "--database", database)
    assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr
    return [line.split("\t") for line in done.stdout.splitlines()]


def registry_calls(seen: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """The registry API calls (without the /v2/ version check), query strings dropped."""
    return [(method, path.split("?", 1)[0]) for method, path in seen if path.split("?", 1)[0] != "/v2/"]


def test_watch_polls_heads_and_scans_only_new_digests(fleet: Fleet, proxy: RegistryProxy, registry) -> None:
    images = fleet_images()
    first, second = images["a"], images["b"]
    first.push(registry.host, "watched/app", "1.0")  # type: ignore[attr-defined]
    second.push(registry.host, "watched/app", "2.0")  # type: ignore[attr-defined]
    repo = f"{proxy.host}/watched/app"

    added = run_cli("server", "watch", "add", repo, "--tags", "1.*", "--insecure", "--database", fleet.database)
    assert added.returncode == 0 and f"watching {repo} tags '1.*'" in added.stderr, added.stderr
    watch_id = added.stdout.strip()
    again = run_cli("server", "watch", "add", repo, "--tags", "1.*", "--database", fleet.database)
    assert again.returncode == 0 and again.stdout.strip() == watch_id and "already watching" in again.stderr

    # first poll: the tag list, one HEAD (only 1.0 matches), one scan of repo:1.0@digest
    proxy.clear()
    lines = poll(fleet.database)
    assert [line[:2] for line in lines] == [[watch_id, repo]]
    assert lines[0][2:] == ["1 of 2 tags", "1 HEADs", "0 unchanged", "1 queued", "0 known"]
    calls = registry_calls(proxy.seen())  # the poll's, then the worker's scan (GETs by digest)
    assert calls[:2] == [("GET", "/v2/watched/app/tags/list"), ("HEAD", "/v2/watched/app/manifests/1.0")]
    assert not [c for c in calls if c[1].endswith(("/1.0", "/2.0")) and c != calls[1]]
    pinned = f"{repo}:1.0@{first.manifest_digest}"  # type: ignore[attr-defined]
    wait_for("the watched image stored", lambda: stored(fleet.database), fleet.logs)
    assert stored(fleet.database) == {first.manifest_digest: [pinned]}  # type: ignore[attr-defined]
    assert scan_jobs(fleet.database) == [(pinned, "succeeded")]
    images_doc = fleet.http.get("/images")
    assert images_doc["items"][0]["refs"] == [pinned]

    # second poll: nothing moved: the tag list and one HEAD, no manifest or blob GET, no scan
    proxy.clear()
    lines = poll(fleet.database)
    assert lines[0][2:] == ["1 of 2 tags", "1 HEADs", "1 unchanged", "0 queued", "0 known"]
    assert registry_calls(proxy.seen()) == [("GET", "/v2/watched/app/tags/list"),
                                            ("HEAD", "/v2/watched/app/manifests/1.0")]
    assert len(scan_jobs(fleet.database)) == 1

    # the tag moves to new content: one new scan, recorded with the tag and the new digest
    second.push(registry.host, "watched/app", "1.0")  # type: ignore[attr-defined]
    proxy.clear()
    lines = poll(fleet.database)
    assert lines[0][2:] == ["1 of 2 tags", "1 HEADs", "0 unchanged", "1 queued", "0 known"]
    moved = f"{repo}:1.0@{second.manifest_digest}"  # type: ignore[attr-defined]
    wait_for("the moved tag's image stored", lambda: len(stored(fleet.database)) == 2, fleet.logs)
    assert stored(fleet.database)[second.manifest_digest] == [moved]  # type: ignore[attr-defined]
    assert [job for job, _ in scan_jobs(fleet.database)] == [pinned, moved]
    with psycopg.connect(fleet.database) as conn:
        history = conn.execute("SELECT tag, digest FROM tag_digest ORDER BY first_seen").fetchall()
    assert history == [("1.0", first.manifest_digest), ("1.0", second.manifest_digest)]  # type: ignore[attr-defined]

    # a second watch whose tag points at a digest already stored: the image gains the reference, no scan
    added = run_cli("server", "watch", "add", repo, "--tags", "2.0", "--insecure", "--database", fleet.database)
    assert added.returncode == 0, added.stderr
    lines = poll(fleet.database)
    assert [line[2:] for line in lines] == [["1 of 2 tags", "1 HEADs", "1 unchanged", "0 queued", "0 known"],
                                            ["1 of 2 tags", "1 HEADs", "0 unchanged", "0 queued", "1 known"]]
    assert stored(fleet.database)[second.manifest_digest] == sorted([moved, f"{repo}:2.0@{second.manifest_digest}"])  # type: ignore[attr-defined]  # noqa: E501
    assert len(scan_jobs(fleet.database)) == 2

    listing = run_cli("server", "watch", "list", "--database", fleet.database)
    rows = [line.split("\t") for line in listing.stdout.splitlines()]
    assert [(r[0], r[1], r[2], r[3], r[6]) for r in rows] == [(watch_id, repo, "1.*", "insecure", "ok"),
                                                              (rows[1][0], repo, "2.0", "insecure", "ok")]
    doc = fleet.http.get("/watches")
    assert doc["total"] == 2 and doc["items"][0]["last_polled"] and doc["items"][0]["last_error"] == ""
    removed = run_cli("server", "watch", "remove", rows[1][0], "--database", fleet.database)
    assert removed.returncode == 0 and "removed 1 watch" in removed.stderr
    missing = run_cli("server", "watch", "remove", "999", "--database", fleet.database)
    assert missing.returncode == 2 and "no watch" in missing.stderr


def test_watch_api(fleet: Fleet) -> None:
    http = fleet.http
    body = {"repository": "registry.example/team/app", "tags": "v[0-9]*", "interval": 600}
    status, doc = http.call("POST", "/watches", body)
    assert status == 201 and doc["status"] == "added" and doc["watch"]["tags"] == "v[0-9]*"
    conforms("/watches", "post", status, doc)
    status, again = http.call("POST", "/watches", body)
    assert status == 200 and again["status"] == "exists" and again["watch"]["id"] == doc["watch"]["id"]
    conforms("/watches", "post", status, again)
    listing = http.get("/watches")
    assert listing["total"] == 1 and listing["items"][0]["repository"] == "registry.example/team/app"
    assert listing["items"][0]["last_polled"] is None
    for bad in (b"[]", {"tags": "*"}, {"repository": "registry.example/team/app:1.0"},
                {"repository": "registry.example/team/app", "tags": "a b"}, {"repository": "x/y", "interval": 0},
                {"repository": "x/y", "insecure": "yes"}, {"repository": "x/Upper"}):
        status, error = http.call("POST", "/watches", bad)
        assert status == 400 and error["error"], bad
        conforms("/watches", "post", status, error)
    read = create_token(fleet.database, "read")
    status, refused = http.call("POST", "/watches", body, token=read)
    assert status == 403 and "write" in refused["error"]
    conforms("/watches", "post", status, refused)
    assert http.call("GET", "/watches", token=read)[0] == 200
    status, unauthorized = http.call("GET", "/watches", token="")
    assert status == 401
    conforms("/watches", "get", status, unauthorized)


def test_unreachable_registry_is_recorded_on_the_watch(pg_database: str) -> None:
    repo = f"127.0.0.1:{free_port()}/nobody/here"  # nothing listens there
    added = run_cli("server", "watch", "add", repo, "--insecure", "--database", pg_database)
    assert added.returncode == 0, added.stderr
    done = run_cli("server", "--timeout", "20", "watch", "poll", "--database", pg_database)
    assert done.returncode == 0 and "Traceback" not in done.stderr
    assert f"{repo}: cannot reach registry" in done.stderr
    with psycopg.connect(pg_database) as conn:
        polled, error = conn.execute("SELECT last_polled, last_error FROM watch").fetchone()
        assert polled is not None and "cannot reach registry 127.0.0.1" in error
        assert conn.execute("SELECT count(*) FROM tag_digest").fetchone()[0] == 0
    listing = run_cli("server", "watch", "list", "--database", pg_database)
    assert "cannot reach registry" in listing.stdout
    bad = run_cli("server", "watch", "add", f"{repo}:1.0", "--database", pg_database)
    assert bad.returncode == 2 and "without a tag" in bad.stderr and "Traceback" not in bad.stderr


def test_a_worker_killed_mid_scan_its_job_is_finished_by_the_other(pg_database: str, registry, proxy: RegistryProxy,
                                                                   tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    import_db(cache, FEEDS)
    image = fleet_images()["a"]
    image.push(registry.host, "slow/app", "1.0")  # type: ignore[attr-defined]
    repo = f"{proxy.host}/slow/app"
    assert run_cli("server", "watch", "add", repo, "--insecure", "--database", pg_database).returncode == 0
    proxy.trickle.set()  # layer blobs now come a few bytes at a time
    assert poll(pg_database)[0][5] == "1 queued"
    common = ["--database", pg_database, "--cache-dir", str(cache), "--insecure"]
    logs = [tmp_path / "worker-a.log", tmp_path / "worker-b.log"]
    first = start(["worker", *common], logs[0])
    second = None
    try:
        def mid_scan() -> bool:
            return scan_jobs(pg_database)[0][1] == "doing" and proxy.trickling > 0
        wait_for("the first worker in the middle of a layer", mid_scan, logs, 120)
        second = start(["worker", *common], logs[1])

        def two_workers() -> bool:
            with psycopg.connect(pg_database) as conn:
                return conn.execute("SELECT count(*) FROM procrastinate_workers").fetchone()[0] == 2
        wait_for("the second worker", two_workers, logs, 60)
        os.killpg(first.pid, signal.SIGKILL)
        first.wait(timeout=30)
        assert scan_jobs(pg_database)[0][1] == "doing"  # still the dead worker's, until it is found stalled
        proxy.trickle.clear()
        wait_for("the scan finished by the second worker", lambda: scan_jobs(pg_database)[0][1] == "succeeded",
                 logs, 240)
    finally:
        for process in (first, second):
            if process:
                stop(process)
    pinned = f"{repo}:1.0@{image.manifest_digest}"  # type: ignore[attr-defined]
    assert scan_jobs(pg_database) == [(pinned, "succeeded")]
    assert stored(pg_database) == {image.manifest_digest: [pinned]}  # type: ignore[attr-defined]
    with psycopg.connect(pg_database) as conn:
        events = [e for (e,) in conn.execute(
            "SELECT e.type::text FROM procrastinate_events e JOIN procrastinate_jobs j ON j.id = e.job_id"
            " WHERE j.task_name = 'layerscan.scan_image' ORDER BY e.id")]
        rows = conn.execute("SELECT count(*), count(DISTINCT (package_id, file_path)) FROM image_packages").fetchone()
    assert events.count("started") == 2 and "deferred_for_retry" in events and events[-1] == "succeeded", events
    assert rows[0] == rows[1] > 0
    assert "was running on a worker that stopped; queued again" in logs[1].read_text(errors="replace")


@pytest.fixture
def hostile_registry() -> Iterator[str]:
    """A registry answering the distribution API's tag list and manifest HEAD badly on purpose."""
    class Handler(BaseHTTPRequestHandler):
        def _answer(self, status: int, body: bytes = b"", headers: dict[str, str] | None = None) -> None:
            self.send_response(status)
            for key, value in {"Content-Type": "application/json", "Content-Length": str(len(body)),
                               **(headers or {})}.items():
                self.send_header(key, value)
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        def do_GET(self) -> None:  # noqa: N802 (http.server's names)
            path = self.path.split("?", 1)[0]
            if path == "/v2/odd/tags/list":  # a tag that is not one, a number, one good tag
                self._answer(200, json.dumps({"name": "odd", "tags": ["../../v2/x", 5, "1.0"]}).encode())
            elif path == "/v2/loop/tags/list":  # pages that link back to themselves
                self._answer(200, b'{"tags": ["1.0"]}', {"Link": '</v2/loop/tags/list?n=1000>; rel="next"'})
            elif path == "/v2/garbage/tags/list":
                self._answer(200, b"<html>not json")
            else:
                self._answer(404, b'{"errors": [{"code": "NAME_UNKNOWN"}]}')

        def do_HEAD(self) -> None:  # noqa: N802
            if self.path == "/v2/odd/manifests/1.0":  # 200 without Docker-Content-Digest
                self._answer(200)
            else:
                self._answer(404)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_hostile_registry_answers_are_recorded_not_raised(pg_database: str, hostile_registry: str) -> None:
    for repo in ("odd", "loop", "garbage", "missing"):
        assert run_cli("server", "watch", "add", f"{hostile_registry}/{repo}", "--insecure",
                       "--database", pg_database).returncode == 0
    lines = {line[1].rsplit("/", 1)[1]: line[2:] for line in poll(pg_database)}
    assert lines["odd"] == ["2 of 2 tags", "1 HEADs", "0 unchanged", "0 queued", "0 known"]
    assert lines["loop"][:2] == ["1 of 1 tags", "0 HEADs"]
    with psycopg.connect(pg_database) as conn:
        errors = {repo.rsplit("/", 1)[1]: error for repo, error in conn.execute("SELECT repository, last_error FROM watch")}
        assert conn.execute("SELECT count(*) FROM tag_digest").fetchone()[0] == 0
    assert "'../../v2/x' is not a valid tag" in errors["odd"] and "no Docker-Content-Digest" in errors["odd"]
    assert "links back to a page already read" in errors["loop"]
    assert errors["garbage"] and errors["missing"].endswith("no such repository")
    assert scan_jobs(pg_database) == []
