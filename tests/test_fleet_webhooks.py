"""Fleet webhooks (Standard Webhooks) end to end: the real CLI adds endpoints, a real server and a
separate worker process (tests/test_fleet.py's ``fleet`` fixture) post signed events from the
outbox to receivers on 127.0.0.1, which verify every signature the way a receiver following the
spec does (HMAC-SHA256 over "id.timestamp.body" with the base64 key behind ``whsec_``)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from test_fleet import (ADDED, WITHDRAWN, Fleet, feeds_dir, fleet, fleet_images, import_db,  # noqa: F401
                        psycopg, run_cli, wait_for)

URLLIB3_NEW = ("urllib3", "1.24.1", 4, "1.24.3")  # what PYSEC-2019-132 (CVE-2019-11236) adds


@dataclass(frozen=True)
class Delivery:
    path: str
    headers: dict[str, str]
    body: bytes
    answered: int

    @property
    def doc(self) -> dict:
        return json.loads(self.body)


@dataclass
class Receiver:
    port: int
    script: dict[str, list[int]]  # path -> statuses answered in turn (the last one repeats)
    received: list[Delivery] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def at(self, path: str) -> list[Delivery]:
        with self.lock:
            return [d for d in self.received if d.path == path]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    state = Receiver(0, {})

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 (http.server's name)
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            with state.lock:
                seen = sum(1 for d in state.received if d.path == self.path)
                statuses = state.script.get(self.path, [200])
                status = statuses[min(seen, len(statuses) - 1)]
                state.received.append(Delivery(self.path, {k.lower(): v for k, v in self.headers.items()}, body,
                                               status))
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()


def verified(secret: str, delivery: Delivery) -> bool:
    """The receiver's check: a v1 signature over "id.timestamp.body" and a timestamp near now."""
    headers = delivery.headers
    msg_id, timestamp = headers["webhook-id"], headers["webhook-timestamp"]
    key = base64.b64decode(secret.removeprefix("whsec_"))
    mac = hmac.new(key, f"{msg_id}.{timestamp}.".encode() + delivery.body, hashlib.sha256).digest()
    expected = "v1," + base64.b64encode(mac).decode()
    fresh = abs(time.time() - int(timestamp)) < 300
    return fresh and any(hmac.compare_digest(expected, sig) for sig in headers["webhook-signature"].split())


def add_webhook(fleet: Fleet, url: str, *flags: str) -> str:
    done = run_cli("server", "webhook", "add", url, "--database", fleet.database, *flags)
    assert done.returncode == 0, done.stderr
    secret = done.stdout.strip()
    assert secret.startswith("whsec_") and len(base64.b64decode(secret[6:])) == 32
    return secret


def digests() -> dict[str, str]:
    return {name: image.manifest_digest for name, image in fleet_images().items()}  # type: ignore[attr-defined]


def test_signed_events_for_scans_and_exactly_the_images_a_new_advisory_hits(fleet: Fleet, receiver: Receiver,
                                                                           ) -> None:
    refused = run_cli("server", "webhook", "add", receiver.url("/hooks"), "--database", fleet.database)
    assert refused.returncode == 2 and "--allow-private" in refused.stderr and "Traceback" not in refused.stderr
    secret = add_webhook(fleet, receiver.url("/hooks"), "--allow-private")

    status, _ = fleet.http.call("POST", "/images", {"refs": [fleet.refs["a"], fleet.refs["b"]]})
    assert status == 202
    wait_for("two scan.completed events", lambda: len(receiver.at("/hooks")) >= 2, fleet.logs)
    scans = receiver.at("/hooks")
    assert all(verified(secret, d) for d in scans)
    assert {d.doc["type"] for d in scans} == {"scan.completed"}
    assert {d.doc["data"]["image"]["digest"] for d in scans} == set(digests().values())
    for delivery in scans:
        data = delivery.doc["data"]
        assert data["generation"] == 1 and data["count"] == len(data["vulnerabilities"]) > 0
        assert sum(data["by_severity"].values()) == data["count"]
        assert {v["package"] for v in data["vulnerabilities"]} >= {"urllib3"}
        assert delivery.headers["content-type"] == "application/json"

    # second generation: PYSEC-2019-132 added (urllib3, both images), PYSEC-2019-217 withdrawn (jinja2 2.10: a)
    import_db(fleet.cache, feeds_dir(fleet.work / "gen2", without=WITHDRAWN))
    assert fleet.http.call("POST", "/rematch")[0] == 202
    wait_for("generation 2", lambda: fleet.http.get("/summary")["generation"] == 2, fleet.logs)
    with psycopg.connect(fleet.database) as conn:  # the outbox was written with generation 2, in its transaction
        written = conn.execute("SELECT count(*) FROM webhook_outbox").fetchone()[0]

    def all_delivered() -> bool:
        with psycopg.connect(fleet.database) as conn:
            pending = conn.execute("SELECT count(*) FROM webhook_deliveries WHERE status <> 'delivered'").fetchone()
        return pending[0] == 0 and len(receiver.at("/hooks")) >= written
    wait_for("the generation's events delivered", all_delivered, fleet.logs)
    changes = [d for d in receiver.at("/hooks") if d.doc["type"] != "scan.completed"]
    assert len(receiver.at("/hooks")) == written == 2 + len(changes)
    assert all(verified(secret, d) for d in changes)
    by_event = {(d.doc["type"], d.doc["data"]["image"]["digest"]): d.doc["data"] for d in changes}
    a, b = digests()["a"], digests()["b"]
    assert set(by_event) == {("vulnerability.new", a), ("vulnerability.new", b), ("vulnerability.fixed", a)}
    for digest in (a, b):
        new = by_event[("vulnerability.new", digest)]
        assert new["generation"] == 2 and new["count"] == 1
        (vuln,) = new["vulnerabilities"]
        assert (vuln["package"], vuln["version"], vuln["layer_index"], vuln["fixed_version"]) == URLLIB3_NEW
        assert vuln["url"] == f"/vulnerabilities/{vuln['id']}/images"
        assert fleet.http.get(vuln["url"])["total"] == 2  # the rest of the story is one GET away
    fixed = by_event[("vulnerability.fixed", a)]
    assert [(v["package"], v["version"]) for v in fixed["vulnerabilities"]] == [("jinja2", "2.10")]
    assert len({d.headers["webhook-id"] for d in receiver.at("/hooks")}) == written


def test_a_failing_receiver_is_retried_and_410_disables_the_endpoint(fleet: Fleet, receiver: Receiver) -> None:
    receiver.script.update({"/flaky": [500, 200], "/gone": [410]})
    flaky = add_webhook(fleet, receiver.url("/flaky"), "--allow-private")
    gone = add_webhook(fleet, receiver.url("/gone"), "--allow-private")
    assert fleet.http.call("POST", "/images", {"ref": fleet.refs["a"]})[0] == 202

    wait_for("the retried delivery", lambda: any(d.answered == 200 for d in receiver.at("/flaky")), fleet.logs)
    wait_for("the 410", lambda: receiver.at("/gone"), fleet.logs)
    attempts = receiver.at("/flaky")
    assert [d.answered for d in attempts] == [500, 200]  # retried once, delivered once
    assert len({d.headers["webhook-id"] for d in attempts}) == 1 and attempts[0].body == attempts[1].body
    assert all(verified(flaky, d) for d in attempts) and verified(gone, receiver.at("/gone")[0])
    with psycopg.connect(fleet.database) as conn:
        rows = {url: rest for url, *rest in conn.execute(
            "SELECT e.url, e.enabled, e.disabled_reason, d.status, d.attempts, d.last_status FROM webhook_deliveries d"
            " JOIN webhook_endpoints e ON e.id = d.endpoint_id").fetchall()}
    assert rows[receiver.url("/flaky")] == [True, "", "delivered", 2, 200]
    enabled, reason, status, _, last = rows[receiver.url("/gone")]
    assert not enabled and "410" in reason and status == "disabled" and last == 410

    # the next event goes to the enabled endpoint only
    assert fleet.http.call("POST", "/images", {"ref": fleet.refs["b"]})[0] == 202
    wait_for("the second event", lambda: sum(d.answered == 200 for d in receiver.at("/flaky")) == 2, fleet.logs)
    assert len(receiver.at("/gone")) == 1
    with psycopg.connect(fleet.database) as conn:
        per_endpoint = dict(conn.execute("SELECT e.url, count(*) FROM webhook_deliveries d JOIN webhook_endpoints e"
                                         " ON e.id = d.endpoint_id GROUP BY e.url").fetchall())
    assert per_endpoint == {receiver.url("/flaky"): 2, receiver.url("/gone"): 1}


@pytest.mark.parametrize("url", ["http://127.0.0.1/h", "http://localhost:8080/h", "http://10.1.2.3/h",
                                 "http://192.168.0.10/h", "http://169.254.169.254/latest/meta-data",
                                 "http://[::1]/h", "http://[::ffff:127.0.0.1]/h", "http://[fd00::1]/h",
                                 "http://0.0.0.0/h", "http://100.64.0.1/h"])
def test_ssrf_guard_refuses_non_public_targets(url: str) -> None:
    from layerscan.fleet.webhooks import TargetRefused, resolve_target

    with pytest.raises(TargetRefused, match="--allow-private"):
        resolve_target(url, allow_private=False)
    assert resolve_target(url, allow_private=True).address


@pytest.mark.parametrize("url", ["ftp://93.184.216.34/h", "not a url", "http:///nohost", "http://u:p@93.184.216.34/"])
def test_ssrf_guard_refuses_what_is_not_an_http_target(url: str) -> None:
    from layerscan.fleet.webhooks import TargetRefused, resolve_target

    with pytest.raises(TargetRefused):
        resolve_target(url, allow_private=True)


def test_ssrf_guard_lets_a_public_address_through() -> None:
    from layerscan.fleet.webhooks import resolve_target

    target = resolve_target("https://93.184.216.34:8443/hooks?x=1", allow_private=False)
    assert (target.scheme, target.host, target.port, target.path, target.address) == (
        "https", "93.184.216.34", 8443, "/hooks?x=1", "93.184.216.34")


def test_webhook_add_refuses_bad_urls(pg_database: str) -> None:
    for url in ("not a url", "file:///etc/passwd", "http://[::1]:9/"):
        done = run_cli("server", "webhook", "add", url, "--database", pg_database)
        assert done.returncode == 2 and "webhook add" in done.stderr and "Traceback" not in done.stderr, url


def test_delivery_gives_up_after_its_attempts_and_rechecks_the_target(pg_database: str, receiver: Receiver) -> None:
    from layerscan.fleet import outbox, webhooks
    from layerscan.fleet.migrate import migrate
    from layerscan.fleet.store import upsert_image

    receiver.script["/down"] = [503]
    with psycopg.connect(pg_database, autocommit=True) as conn:
        migrate(conn)
        image_id = upsert_image(conn, "sha256:" + "0" * 64, "registry.local/x:1", "", [])
        assert not outbox.wanted(conn)  # no endpoint yet: the callers write nothing
        down, _ = webhooks.add_endpoint(conn, receiver.url("/down"), allow_private=True)
        moved, _ = webhooks.add_endpoint(conn, receiver.url("/moved"), allow_private=True)
        with conn.transaction():
            assert outbox.record(conn, [outbox.scan_completed(image_id, {}, 0, 1)]) == 1
        # the guard runs again at delivery: an endpoint no longer allowed a private target is not posted to
        conn.execute("UPDATE webhook_endpoints SET allow_private = false WHERE id = %s", (moved,))
        first = webhooks.deliver_due(conn)
        assert (first.delivered, first.retrying, first.failed) == (0, 1, 1) and 0 < first.next_due <= 1
        assert [d.answered for d in receiver.at("/down")] == [503] and receiver.at("/moved") == []
        status, error = conn.execute("SELECT status, last_error FROM webhook_deliveries WHERE endpoint_id = %s",
                                     (moved,)).fetchone()
        assert status == "failed" and "--allow-private" in error
        # the last attempt fails too: given up, nothing left pending
        conn.execute("UPDATE webhook_deliveries SET attempts = %s, next_attempt_at = now() WHERE endpoint_id = %s",
                     (webhooks.MAX_ATTEMPTS - 1, down))
        last = webhooks.deliver_due(conn)
        assert (last.failed, last.next_due) == (1, None) and len(receiver.at("/down")) == 2
        row = conn.execute("SELECT status, attempts, last_status FROM webhook_deliveries WHERE endpoint_id = %s",
                           (down,)).fetchone()
        assert row == ("failed", webhooks.MAX_ATTEMPTS, 503)


def test_backoff_doubles_up_to_its_cap() -> None:
    from layerscan.fleet.webhooks import BACKOFF_BASE, BACKOFF_MAX, backoff

    assert [backoff(n) for n in (1, 2, 3, 4)] == [BACKOFF_BASE, 2 * BACKOFF_BASE, 4 * BACKOFF_BASE, 8 * BACKOFF_BASE]
    assert backoff(40) == BACKOFF_MAX
