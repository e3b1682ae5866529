"""Hostile registries, end to end: the real CLI against a misbehaving HTTP registry.

A tiny local ``http.server`` plays the registry (a real one cannot misbehave):
huge manifests, redirect loops, blobs that stream forever, 401 loops, a token
endpoint that never grants, gzip-bombed responses, deep JSON. Every case must
end with a clear error (exit 3), bounded in time and memory, nothing written
outside the sandbox — the same checks as tests/test_hostile_cli.py.

Network faults (issue #16): a blob or headers trickled a byte every 2 s run into
the ``--timeout`` deadline; a connection reset or a stall mid-blob is resumed
with ``Range`` (or from the start when the server ignores it) and the scan
succeeds; a reset on every try ends in a clear error once the retries are spent.
"""

from __future__ import annotations

import gzip
import json
import socket
import struct
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from hostile.archives import LAYER_TAR, OCI_MANIFEST, config_for, member, sha256, tar_of
from hostile.blobs import MiB
from test_hostile_cli import Sandbox, assert_clean_failure, assert_scanned, box, run_cli  # noqa: F401

LAYER = tar_of([member("etc/hostname", b"evil\n")])
CONFIG = config_for([sha256(LAYER)])


def _manifest(layer_size: int | None) -> bytes:
    layer: dict = {"mediaType": LAYER_TAR, "digest": sha256(LAYER)}
    if layer_size is not None:
        layer["size"] = layer_size
    return json.dumps({"schemaVersion": 2, "mediaType": OCI_MANIFEST,
                       "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                                  "digest": sha256(CONFIG), "size": len(CONFIG)},
                       "layers": [layer]}).encode()


Handler = Callable[[BaseHTTPRequestHandler, str], None]


def _send(h: BaseHTTPRequestHandler, status: int, body: bytes = b"", headers: dict[str, str] | None = None) -> None:
    h.send_response(status)
    for key, value in (headers or {}).items():
        h.send_header(key, value)
    h.send_header("Content-Length", str(len(body)))
    h.end_headers()
    if h.command != "HEAD":
        h.wfile.write(body)


def _stream_forever(h: BaseHTTPRequestHandler) -> None:
    h.send_response(200)
    h.send_header("Content-Type", "application/octet-stream")
    h.end_headers()
    chunk = bytes(MiB)
    try:
        for _ in range(64 * 1024):  # 64 GiB: "forever" for the scanner; the client must cut it
            h.wfile.write(chunk)
    except OSError:
        pass


TRICKLE_GAP = 2.0  # seconds between two bytes
SEEN: dict[str, list[str]] = defaultdict(list)  # repo -> the Range header of each blob GET ("" = none)


def trickle(h: BaseHTTPRequestHandler, body: bytes = LAYER) -> None:
    """A well-formed answer, one byte every TRICKLE_GAP seconds (never idle long enough to time out)."""
    h.send_response(200)
    h.send_header("Content-Length", str(len(body)))
    h.end_headers()
    try:
        for byte in body:
            h.wfile.write(bytes([byte]))
            h.wfile.flush()
            time.sleep(TRICKLE_GAP)
    except OSError:
        pass


def _trickle_headers(h: BaseHTTPRequestHandler, rest: str) -> None:
    """Status line, then an endless header trickled a byte at a time."""
    try:
        h.wfile.write(b"HTTP/1.1 200 OK\r\nX-Slow: ")
        for _ in range(10_000):
            h.wfile.write(b"a")
            h.wfile.flush()
            time.sleep(TRICKLE_GAP)
    except OSError:
        pass
    h.close_connection = True


def reset(h: BaseHTTPRequestHandler) -> None:
    """Abort the connection: RST (SO_LINGER 0), not an orderly close."""
    h.wfile.flush()
    h.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    h.connection.close()
    h.close_connection = True


def requested_start(h: BaseHTTPRequestHandler) -> int:
    """N of a ``Range: bytes=N-`` request (0 without one)."""
    value = h.headers.get("Range", "")
    if value.startswith("bytes=") and value.endswith("-") and value[6:-1].isdigit():
        return int(value[6:-1])
    return 0


def flaky_body(h: BaseHTTPRequestHandler, body: bytes, *, cut: bool, ranges: bool, stall: float = 0.0) -> None:
    """``body`` (from the requested offset when ``ranges``); when ``cut``, half of it and then a
    reset (or, with ``stall``, half of it and silence for that long)."""
    start = requested_start(h) if ranges else 0
    part = body[start:]
    h.send_response(206 if start else 200)
    h.send_header("Content-Length", str(len(part)))
    if ranges:
        h.send_header("Accept-Ranges", "bytes")
    if start:
        h.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
    h.end_headers()
    if not cut:
        h.wfile.write(part)
        return
    h.wfile.write(part[: len(part) // 2])
    h.wfile.flush()
    time.sleep(stall or 1.0)  # the client reads the half before the silence or the reset (an RST drops unread data)
    if stall:
        h.close_connection = True
    else:
        reset(h)


def _flaky_blob(repo: str, *, resets: int, ranges: bool, stall: float = 0.0) -> Callable[[BaseHTTPRequestHandler], None]:
    def blob(h: BaseHTTPRequestHandler) -> None:
        SEEN[repo].append(h.headers.get("Range", ""))
        flaky_body(h, LAYER, cut=len(SEEN[repo]) <= resets, ranges=ranges, stall=stall)
    return blob


def _image_routes(manifest: bytes, blob: Callable[[BaseHTTPRequestHandler], None]) -> Handler:
    def route(h: BaseHTTPRequestHandler, rest: str) -> None:
        if rest.startswith("manifests/"):
            _send(h, 200, manifest, {"Content-Type": OCI_MANIFEST})
        elif rest == f"blobs/{sha256(CONFIG)}":
            _send(h, 200, CONFIG)
        else:
            blob(h)
    return route


def _bearer(h: BaseHTTPRequestHandler, realm: str) -> None:
    _send(h, 401, b'{"errors": []}', {"WWW-Authenticate": f'Bearer realm="{realm}",service="evil",scope="x"'})


def _routes(base: str) -> dict[str, Handler]:
    gz_bomb = gzip.compress(b" " * (256 * MiB), compresslevel=9)
    return {
        "huge": lambda h, rest: _send(h, 200, b'{"schemaVersion": 2, "x": "' + b"a" * (8 * MiB) + b'"}',
                                      {"Content-Type": OCI_MANIFEST}),
        "redirect": lambda h, rest: _send(h, 302, b"", {"Location": f"{base}/v2/redirect/{rest}"}),
        "redirect-out": lambda h, rest: _send(h, 307, b"", {"Location": "file:///etc/passwd"}),
        "forever": _image_routes(_manifest(len(LAYER)), _stream_forever),
        "forever-nosize": _image_routes(_manifest(None), _stream_forever),
        "auth-loop": lambda h, rest: _bearer(h, f"{base}/token/ok"),
        "token-denied": lambda h, rest: _bearer(h, f"{base}/token/deny"),
        "token-huge": lambda h, rest: _bearer(h, f"{base}/token/huge"),
        "token-deep": lambda h, rest: _bearer(h, f"{base}/token/deep"),
        "token-badgzip": lambda h, rest: _bearer(h, f"{base}/token/badgzip"),
        "token-elsewhere": lambda h, rest: _bearer(h, "file:///etc/passwd"),
        "basic-loop": lambda h, rest: _send(h, 401, b"", {"WWW-Authenticate": 'Basic realm="x"'}),
        "no-challenge": lambda h, rest: _send(h, 401, b""),
        "gzip-bomb": lambda h, rest: _send(h, 200, gz_bomb, {"Content-Type": OCI_MANIFEST,
                                                            "Content-Encoding": "gzip"}),
        "deep": lambda h, rest: _send(h, 200, b"[" * 100_000 + b"]" * 100_000, {"Content-Type": OCI_MANIFEST}),
        "garbage": lambda h, rest: _send(h, 200, bytes(range(256)) * 100, {"Content-Type": OCI_MANIFEST}),
        "wrong-digest": lambda h, rest: _send(h, 200, _manifest(len(LAYER)), {
            "Content-Type": OCI_MANIFEST, "Docker-Content-Digest": sha256(b"other")}),
        "bad-blob": _image_routes(_manifest(len(LAYER)), lambda h: _send(h, 200, b"x" * len(LAYER))),
        "server-error": lambda h, rest: _send(h, 500, b"oops", {"Retry-After": "0"}),
        "trickle": _image_routes(_manifest(len(LAYER)), trickle),
        "trickle-headers": _trickle_headers,
        "token-trickle": lambda h, rest: _bearer(h, f"{base}/token/trickle"),
        "reset-range": _image_routes(_manifest(len(LAYER)), _flaky_blob("reset-range", resets=1, ranges=True)),
        "reset-norange": _image_routes(_manifest(len(LAYER)), _flaky_blob("reset-norange", resets=1, ranges=False)),
        "reset-always": _image_routes(_manifest(len(LAYER)), _flaky_blob("reset-always", resets=99, ranges=True)),
        "stall-once": _image_routes(_manifest(len(LAYER)), _flaky_blob("stall-once", resets=1, ranges=True,
                                                                        stall=30.0)),
    }


def _tokens(h: BaseHTTPRequestHandler, kind: str) -> None:
    if kind == "deny":
        _send(h, 401, b'{"errors": [{"code": "DENIED"}]}')
    elif kind == "huge":
        _send(h, 200, b'{"token": "' + b"t" * (4 * MiB) + b'"}')
    elif kind == "badgzip":
        _send(h, 200, b"\x1f\x8b\x08\x00" + bytes(range(200)), {"Content-Encoding": "gzip"})
    elif kind == "deep":
        _send(h, 200, b"[" * 100_000 + b"]" * 100_000)
    elif kind == "trickle":
        trickle(h, b'{"token": "tok-trickled"}')
    else:
        _send(h, 200, b'{"token": "tok-granted-4711"}')


def start_evil_registry() -> ThreadingHTTPServer:
    """The hostile registry on a free port of 127.0.0.1 (``server_address``); benchmarks use it too."""
    routes: dict[str, Handler] = {}
    SEEN.clear()

    class EvilHandler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:  # noqa: N802 - http.server API
            path = self.path.split("?", 1)[0]
            if path.startswith("/token/"):
                _tokens(self, path.removeprefix("/token/"))
                return
            if path in ("/v2/", "/v2"):
                _send(self, 200, b"{}")
                return
            repo, _, rest = path.removeprefix("/v2/").partition("/")
            handler = routes.get(repo)
            if handler is None:
                _send(self, 404, b'{"errors": [{"code": "NAME_UNKNOWN"}]}')
            else:
                handler(self, rest)

        do_HEAD = do_GET

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), EvilHandler)
    server.daemon_threads = True
    routes.update(_routes(f"http://127.0.0.1:{server.server_address[1]}"))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


@pytest.fixture(scope="module")
def evil_registry() -> Iterator[str]:
    server = start_evil_registry()
    yield f"127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def scan_remote(box: Sandbox, host: str, repo: str, *extra: str, env: dict[str, str] | None = None,
                timeout: str = "10"):
    return run_cli(box, "image", f"{host}/{repo}:1", "--insecure", "--sbom-only", "-f", "json",
                   "--no-progress", "--timeout", timeout, *extra, env=env)


CASES = {
    "huge": ("larger than",),
    "redirect": ("redirect",),
    "redirect-out": (),
    "forever": ("declares",),
    "auth-loop": ("authentication failed",),
    "token-denied": ("token",),
    "token-huge": ("token response is larger than",),
    "token-badgzip": ("token request failed",),
    "token-deep": ("token",),
    "token-elsewhere": (),
    "basic-loop": ("credentials",),
    "no-challenge": ("authentication required",),
    "gzip-bomb": ("larger than",),
    "deep": ("manifest",),
    "garbage": ("manifest",),
    "wrong-digest": ("digest",),
    "bad-blob": ("digest",),
    "server-error": ("500",),
}


@pytest.mark.parametrize("repo", sorted(CASES))
def test_hostile_registry(box: Sandbox, evil_registry: str, repo: str) -> None:
    run = scan_remote(box, evil_registry, repo)
    assert_clean_failure(run, *CASES[repo])
    assert "tok-granted-4711" not in run.stderr


def test_blob_without_size_streaming_forever_hits_the_layer_limit(box: Sandbox, evil_registry: str) -> None:
    run = scan_remote(box, evil_registry, "forever-nosize", env={"LAYERSCAN_MAX_LAYER_BYTES": str(64 * MiB)})
    assert_clean_failure(run, "larger than 67108864 bytes")


def test_credentials_never_reach_messages(box: Sandbox, evil_registry: str) -> None:
    run = scan_remote(box, evil_registry, "basic-loop", "--username", "alice", "--password", "s3cr3t-pw")
    assert_clean_failure(run, "authentication failed")
    assert "s3cr3t-pw" not in run.stderr + run.stdout


def test_docker_config_deeply_nested(box: Sandbox, evil_registry: str, tmp_path: Path) -> None:
    config = tmp_path / "config.json"
    config.write_bytes(b'{"auths": ' + b"[" * 100_000 + b"]" * 100_000 + b"}")
    run = scan_remote(box, evil_registry, "auth-loop", "--docker-config", str(config))
    assert_clean_failure(run, "authentication")


# ---- network faults: deadlines, resets, stalls ----------------------------------------------

@pytest.mark.parametrize("repo", ["trickle", "trickle-headers", "token-trickle"])
def test_trickling_registry_runs_into_the_deadline(box: Sandbox, evil_registry: str, repo: str) -> None:
    """A byte every 2 s never trips a read timeout; the whole pull's deadline cuts it."""
    run = scan_remote(box, evil_registry, repo, timeout="4s")
    assert_clean_failure(run, "timed out", "not finished within --timeout 4s", "hint: raise --timeout")


def resumed_from(repo: str) -> int:
    """The offset the second GET of ``repo``'s blob asked for (0 < N <= half the blob)."""
    assert len(SEEN[repo]) == 2, SEEN[repo]
    first, second = SEEN[repo]
    assert first == "" and second.startswith("bytes=") and second.endswith("-"), SEEN[repo]
    start = int(second[6:-1])
    assert 0 < start <= len(LAYER) // 2, SEEN[repo]
    return start


def test_reset_mid_blob_resumes_with_range(box: Sandbox, evil_registry: str) -> None:
    report = assert_scanned(scan_remote(box, evil_registry, "reset-range"))
    resumed_from("reset-range")  # the second GET asked for the rest only (and got 206)
    assert report["Metadata"]["DiffIDs"] == [sha256(LAYER)]


def test_reset_mid_blob_without_range_support_starts_over(box: Sandbox, evil_registry: str) -> None:
    report = assert_scanned(scan_remote(box, evil_registry, "reset-norange"))
    resumed_from("reset-norange")  # asked for the rest; got the whole blob (200) and skipped what it had
    assert report["Metadata"]["DiffIDs"] == [sha256(LAYER)]


def test_stall_mid_blob_times_out_idle_and_resumes(box: Sandbox, evil_registry: str) -> None:
    """Silence mid-body: the idle timeout (half of --timeout here) gives up on the read and the
    retry resumes, well inside the deadline."""
    report = assert_scanned(scan_remote(box, evil_registry, "stall-once", timeout="20s"))
    resumed_from("stall-once")
    assert report["Metadata"]["DiffIDs"] == [sha256(LAYER)]


def test_reset_on_every_try_spends_the_retry_budget(box: Sandbox, evil_registry: str) -> None:
    run = scan_remote(box, evil_registry, "reset-always")
    assert_clean_failure(run, "connection lost mid-body", "retries exhausted")
    assert len(SEEN["reset-always"]) == 5  # the first GET and --retries' 4 resumes
