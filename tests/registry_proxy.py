"""A counting, optionally trickling HTTP proxy in front of a test registry (tests/registry.py).

``RegistryProxy.start(upstream)`` listens on 127.0.0.1 and forwards every request to the registry
at ``upstream`` (``127.0.0.1:PORT``), recording ``(method, path)`` in ``requests``; a watch or a scan
pointed at ``proxy.host`` is counted request by request. While ``trickle`` is set, blob bodies are
sent a few bytes at a time (a slow registry: a scan through it stays in the middle of a layer for
as long as the test needs); ``trickling`` counts the blob responses being trickled right now.
"""

from __future__ import annotations

import http.client
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

HOP_BY_HOP = frozenset({"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade",
                        "proxy-authenticate", "proxy-authorization"})
TRICKLE_BYTES = 16
TRICKLE_PAUSE = 0.25


@dataclass
class RegistryProxy:
    upstream: str
    port: int = 0
    requests: list[tuple[str, str]] = field(default_factory=list)
    trickle: threading.Event = field(default_factory=threading.Event)
    trickling: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)
    _server: ThreadingHTTPServer | None = None

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    def seen(self) -> list[tuple[str, str]]:
        with self.lock:
            return list(self.requests)

    def clear(self) -> None:
        with self.lock:
            self.requests.clear()

    def _send_body(self, out: BaseHTTPRequestHandler, body: bytes, slow: bool) -> None:
        if not slow:
            out.wfile.write(body)
            return
        with self.lock:
            self.trickling += 1
        try:
            sent = 0
            while sent < len(body):
                step = TRICKLE_BYTES if self.trickle.is_set() else len(body) - sent
                out.wfile.write(body[sent:sent + step])
                out.wfile.flush()
                sent += step
                if self.trickle.is_set():
                    time.sleep(TRICKLE_PAUSE)
        finally:
            with self.lock:
                self.trickling -= 1

    def forward(self, out: BaseHTTPRequestHandler) -> None:
        with self.lock:
            self.requests.append((out.command, out.path))
        length = int(out.headers.get("Content-Length", "0") or 0)
        payload = out.rfile.read(length) if length else None
        headers = {k: v for k, v in out.headers.items() if k.lower() not in HOP_BY_HOP and k.lower() != "host"}
        upstream = http.client.HTTPConnection(self.upstream, timeout=60)
        try:
            upstream.request(out.command, out.path, body=payload, headers=headers)
            resp = upstream.getresponse()
            body = resp.read()
        finally:
            upstream.close()
        out.send_response(resp.status)
        for key, value in resp.getheaders():
            if key.lower() not in HOP_BY_HOP and key.lower() != "content-length":
                out.send_header(key, value)
        out.send_header("Content-Length", resp.getheader("Content-Length", str(len(body))) if out.command == "HEAD"
                        else str(len(body)))
        out.end_headers()
        if out.command != "HEAD":
            try:
                self._send_body(out, body, "/blobs/" in out.path and self.trickle.is_set())
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client went away (a killed worker)

    def start(self) -> RegistryProxy:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:  # noqa: N802 (http.server's names)
                proxy.forward(self)

            do_HEAD = do_PUT = do_POST = do_PATCH = do_DELETE = do_GET  # noqa: N815

            def log_message(self, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        self.trickle.clear()
        if self._server:
            self._server.shutdown()
            self._server.server_close()
