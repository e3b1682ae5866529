"""Deadlines and resumable bodies for our HTTP downloads (registry client, feed fetcher).

``--timeout`` is a deadline for a whole operation (one image pull, one feed
download), not a per-read timeout: a server that trickles a byte every few
seconds never trips a read timeout, but it does run into the deadline.

- :class:`Deadline`: when the operation must end, and the idle (per-read and
  connect) timeout derived from it.
- :class:`Watchdog` + :func:`guarded_session`: a ``requests`` session whose
  connections are registered with the watchdog; at the deadline it shuts them
  down, which unblocks any read in progress (headers or body, any thread), and
  every later request fails at once with :class:`DeadlineExceeded`.
- :class:`ResumableBody`: a streamed GET body that survives a connection reset
  or an idle timeout mid-body: it asks again with ``Range: bytes=N-`` and goes
  on from byte N (206), or from the start, skipping what it already delivered
  (a server that ignores ``Range``), within a retry budget and the deadline.

Imported only by network code (requests is not a start-up cost for a scan).
"""

from __future__ import annotations

import re
import socket
import threading
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import requests
import urllib3
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

IDLE_TIMEOUT = 30.0  # longest wait for one read or connect (and at most half the deadline)
_MIN_WAIT = 0.05
_CONTENT_RANGE = re.compile(r"bytes (\d+)-\d+/(?:\d+|\*)$")
BODY_ERRORS = (requests.RequestException, urllib3.exceptions.HTTPError, OSError, ValueError)


class DeadlineExceeded(requests.Timeout):
    """The operation's deadline passed (raised instead of sending a request)."""


def format_seconds(seconds: float) -> str:
    """``90`` -> ``1m30s``; ``2.5`` -> ``2.5s`` (the --timeout syntax)."""
    if seconds < 60 or seconds != int(seconds):
        return f"{seconds:g}s"
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return (f"{hours}h" if hours else "") + (f"{minutes}m" if minutes else "") + (f"{secs}s" if secs else "")


@dataclass(frozen=True)
class Deadline:
    seconds: float  # the budget, as the user gave it
    expires: float  # time.monotonic() value

    @classmethod
    def after(cls, seconds: float) -> "Deadline":
        return cls(seconds, time.monotonic() + seconds)

    def remaining(self) -> float:
        return max(0.0, self.expires - time.monotonic())

    @property
    def expired(self) -> bool:
        return self.remaining() <= 0.0

    def idle(self) -> float:
        """Connect / per-read timeout: short enough that a stalled read leaves time to retry."""
        return max(_MIN_WAIT, min(IDLE_TIMEOUT, self.seconds / 2, self.remaining()))

    def wait(self, seconds: float) -> float:
        """``seconds`` of back-off, cut to what is left of the deadline."""
        return max(0.0, min(seconds, self.remaining()))

    def message(self, what: str) -> str:
        return f"{what} timed out: not finished within --timeout {format_seconds(self.seconds)}"


TIMEOUT_HINT = "raise --timeout (e.g. --timeout 10m) or check the network; a server that stalls or trickles is cut off"


class Watchdog:
    """Shuts down every registered connection when its deadline passes."""

    def __init__(self, seconds: float) -> None:
        self._lock = threading.Lock()
        self._sockets: weakref.WeakSet[socket.socket] = weakref.WeakSet()
        self._timer: threading.Timer | None = None
        self.deadline = Deadline.after(seconds)
        self.fired = False

    def restart(self, seconds: float) -> None:
        """A new deadline (the Fetcher gives each download its own)."""
        with self._lock:
            self._cancel()
            self.deadline = Deadline.after(seconds)
            self.fired = False

    def track(self, sock: socket.socket) -> None:
        """A new connection (kept until it is garbage; a pooled one serves later requests too)."""
        with self._lock:
            if self.fired or self.deadline.expired:
                _shut(sock)
                return
            self._sockets.add(sock)

    def arm(self) -> None:
        """Before each request: refuse past the deadline, else make sure the timer runs."""
        with self._lock:
            if self.fired or self.deadline.expired:
                raise DeadlineExceeded(self.deadline.message("request"))
            if self._timer is None:
                self._timer = threading.Timer(self.deadline.remaining(), self._fire)
                self._timer.daemon = True
                self._timer.start()

    def timeout(self) -> tuple[float, float]:
        idle = self.deadline.idle()
        return idle, idle

    def _fire(self) -> None:
        with self._lock:
            self.fired = True
            self._timer = None
            victims = list(self._sockets)
        for sock in victims:
            _shut(sock)

    def _cancel(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def stop(self) -> None:
        with self._lock:
            self._cancel()


def _shut(sock: socket.socket) -> None:
    try:  # the plain socket's shutdown (an SSLSocket's own would tear down its TLS state under a reader)
        socket.socket.shutdown(sock, socket.SHUT_RDWR)
    except OSError:
        pass


def _tracked(watchdog: Watchdog, base: type[HTTPConnection]) -> type[HTTPConnection]:
    class Tracked(base):  # type: ignore[valid-type, misc]
        def connect(self) -> None:
            super().connect()
            watchdog.track(self.sock)

    return Tracked


def _pool_classes(watchdog: Watchdog) -> dict[str, type[HTTPConnectionPool]]:
    http = type("GuardedHTTPPool", (HTTPConnectionPool,), {"ConnectionCls": _tracked(watchdog, HTTPConnection)})
    https = type("GuardedHTTPSPool", (HTTPSConnectionPool,), {"ConnectionCls": _tracked(watchdog, HTTPSConnection)})
    return {"http": http, "https": https}


class _GuardedAdapter(HTTPAdapter):
    """Every request: refused past the deadline, its timeouts cut to what is left of it."""

    def __init__(self, watchdog: Watchdog) -> None:
        self.watchdog = watchdog
        super().__init__()

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = _pool_classes(self.watchdog)

    def proxy_manager_for(self, proxy: str, **kwargs: Any) -> Any:
        manager = super().proxy_manager_for(proxy, **kwargs)
        if not proxy.lower().startswith("socks"):  # SOCKS pools have their own classes: idle timeout only
            manager.pool_classes_by_scheme = _pool_classes(self.watchdog)
        return manager

    def send(self, request: requests.PreparedRequest, *args: Any, **kwargs: Any) -> requests.Response:
        self.watchdog.arm()
        kwargs["timeout"] = self.watchdog.timeout()
        return super().send(request, *args, **kwargs)


def guarded_session(watchdog: Watchdog, session: requests.Session | None = None) -> requests.Session:
    """``session`` (or a new one) with every http(s) request under ``watchdog``."""
    session = session or requests.Session()
    adapter = _GuardedAdapter(watchdog)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


Reopen = Callable[[dict[str, str]], requests.Response]
Fail = Callable[[str, bool], Exception]  # (reason, timed_out) -> the caller's error


class ResumableBody:
    """File-like body of a streamed GET that resumes after a reset (see the module doc).

    ``reopen(headers)`` sends the same GET with extra headers and returns the
    response (any status); ``fail(reason, timed_out)`` builds the error raised
    when the budget or the deadline is spent. What it delivers is checked by the
    caller (digest, size), so a resumed body that differs is still caught.
    """

    def __init__(self, resp: requests.Response, reopen: Reopen, watchdog: Watchdog, retries: int,
                 fail: Fail, sleep: Callable[[float], None] = time.sleep) -> None:
        self._resp = resp
        self._reopen = reopen
        self._watchdog = watchdog
        self._retries_left = retries
        self._fail = fail
        self._sleep = sleep
        self._delivered = 0
        self._skip = 0
        self._attempt = 0
        self._use_range = True
        self.ranged_resumes = 0
        self.full_restarts = 0

    @property
    def response(self) -> requests.Response:
        return self._resp

    def read_at_most(self, limit: int) -> bytes:
        """The whole body, or its first ``limit + 1`` bytes when it is longer than ``limit``."""
        chunks: list[bytes] = []
        total = 0
        while total <= limit and (chunk := self.read(min(limit + 1 - total, 1 << 20))):
            chunks.append(chunk)
            total += len(chunk)
        return b"".join(chunks)

    def read(self, n: int = -1) -> bytes:
        while True:
            try:  # read1: what has arrived, so bytes before a reset are delivered and not asked for again
                raw = self._resp.raw
                data = raw.read1(n, decode_content=True) if n > 0 else raw.read(None, decode_content=True)
            except BODY_ERRORS as exc:
                self._resume(type(exc).__name__)
                continue
            if not data and n != 0:
                self._check_deadline()  # the watchdog's shutdown looks like an end of body
            if self._skip:
                drop = min(self._skip, len(data))
                self._skip -= drop
                data = data[drop:]
                if not data:
                    continue
            self._delivered += len(data)
            return data

    def _check_deadline(self) -> None:
        if self._watchdog.fired or self._watchdog.deadline.expired:
            raise self._fail(self._watchdog.deadline.message("download"), True)

    def _resume(self, reason: str) -> None:
        self._check_deadline()
        self._resp.close()
        while True:
            if self._retries_left <= 0:
                raise self._fail(f"connection lost mid-body ({reason}), retries exhausted", False)
            self._retries_left -= 1
            self._sleep(self._watchdog.deadline.wait(0.25 * (2 ** self._attempt)))
            self._attempt += 1
            self._check_deadline()
            try:
                if self._reopened(self._reopen(self._range_headers())):
                    return
            except BODY_ERRORS as exc:
                self._check_deadline()
                reason = type(exc).__name__

    def _range_headers(self) -> dict[str, str]:
        if not self._delivered or not self._use_range or _encoded(self._resp):
            return {}  # nothing to resume from, or offsets of a content-encoded body are not ours
        headers = {"Range": f"bytes={self._delivered}-"}
        validator = self._resp.headers.get("ETag", "")
        if validator and not validator.startswith("W/"):
            headers["If-Range"] = validator  # a changed resource comes back whole (200)
        return headers

    def _reopened(self, resp: requests.Response) -> bool:
        """Take ``resp`` if it continues the body; False (closed) if it is worth another try."""
        if resp.status_code == 206:
            match = _CONTENT_RANGE.match(resp.headers.get("Content-Range", "").strip())
            if match and int(match.group(1)) == self._delivered:
                self._resp, self._skip = resp, 0
                self.ranged_resumes += 1
                return True
            resp.close()
            raise self._fail("server answered the resume with a different byte range", False)
        if resp.status_code == 200:
            self._resp, self._skip = resp, self._delivered
            self.full_restarts += 1
            return True
        resp.close()
        if resp.status_code == 416:
            self._use_range = False  # ask for the whole body next time
            return False
        if resp.status_code in (408, 429, 500, 502, 503, 504):
            return False
        raise self._fail(f"HTTP {resp.status_code} when resuming", False)

    def close(self) -> None:
        self._resp.close()


def _encoded(resp: requests.Response) -> bool:
    return resp.headers.get("Content-Encoding", "identity").strip().lower() not in ("", "identity")
