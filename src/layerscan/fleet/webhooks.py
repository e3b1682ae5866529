"""Standard Webhooks delivery from the outbox (``fleet.outbox``).

Each endpoint has a ``whsec_<base64>`` secret; a delivery posts the event's exact body with

    webhook-id: <msg_...>              the same on every retry of the event
    webhook-timestamp: <unix seconds>  of this attempt
    webhook-signature: v1,<base64(HMAC-SHA256(key, "<id>.<timestamp>.<body>"))>

(the key is the base64-decoded part of the secret). A 2xx answer delivers it; a 410 disables the
endpoint (and drops its pending deliveries); anything else, or no answer, is retried with
exponential backoff (``BACKOFF_BASE`` * 2^(attempt-1) seconds, at most ``BACKOFF_MAX``) until
``MAX_ATTEMPTS``. SSRF guard: a target that resolves to a loopback, private, link-local or other
non-global address is refused unless its endpoint allows it, and the connection goes to the address
that was checked (no second lookup, no redirects).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import http.client
import ipaddress
import secrets
import socket
import ssl
import time
import urllib.parse
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable

if TYPE_CHECKING:
    import psycopg

SECRET_PREFIX = "whsec_"
BACKOFF_BASE = 1.0
BACKOFF_MAX = 3600.0
MAX_ATTEMPTS = 12
TIMEOUT = 10.0
BATCH = 50
USER_AGENT = "layerscan-webhooks/1"


class TargetRefused(Exception):
    """The URL is not one the fleet posts to (scheme, host, or a private address without --allow-private)."""


def new_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """The ``webhook-signature`` value for one attempt."""
    key = base64.b64decode(secret.removeprefix(SECRET_PREFIX))
    mac = hmac.new(key, f"{msg_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    return "v1," + base64.b64encode(mac).decode()


def _is_public(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


@dataclass(frozen=True)
class Target:
    scheme: str
    host: str
    port: int
    path: str
    address: str  # the checked address the connection goes to


def resolve_target(url: str, allow_private: bool) -> Target:
    """``url`` checked: http(s), a host, and every address it resolves to public unless allowed."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise TargetRefused(f"{url}: give an http:// or https:// URL with a host")
    if parts.username or parts.password:
        raise TargetRefused(f"{url}: credentials in the URL are not supported")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
        infos = socket.getaddrinfo(parts.hostname, port, type=socket.SOCK_STREAM)
    except (ValueError, OSError) as exc:
        raise TargetRefused(f"{url}: cannot resolve {parts.hostname}: {exc}") from None
    addresses = [str(info[4][0]) for info in infos]
    if not addresses:
        raise TargetRefused(f"{url}: {parts.hostname} has no address")
    private = [a for a in addresses if not _is_public(a)]
    if private and not allow_private:
        raise TargetRefused(f"{url}: {parts.hostname} resolves to a non-public address ({private[0]});"
                            " add the endpoint with --allow-private to post to it")
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return Target(parts.scheme, parts.hostname, port, path, addresses[0])


class _PinnedHTTP(http.client.HTTPConnection):
    def __init__(self, target: Target, timeout: float) -> None:
        super().__init__(target.host, target.port, timeout=timeout)
        self._address = target.address

    def connect(self) -> None:
        self.sock = socket.create_connection((self._address, self.port), self.timeout)


class _PinnedHTTPS(_PinnedHTTP):
    def connect(self) -> None:
        super().connect()
        self.sock = ssl.create_default_context().wrap_socket(self.sock, server_hostname=self.host)


def post(url: str, allow_private: bool, headers: dict[str, str], body: bytes, timeout: float = TIMEOUT) -> int:
    """POST ``body``; the HTTP status (OSError when there is no answer, TargetRefused by the guard)."""
    target = resolve_target(url, allow_private)
    conn = (_PinnedHTTPS if target.scheme == "https" else _PinnedHTTP)(target, timeout)
    try:
        conn.request("POST", target.path, body=body, headers={**headers, "Host": target.host})
        response = conn.getresponse()
        response.read(64 * 1024)
        return response.status
    except http.client.HTTPException as exc:
        raise OSError(f"bad HTTP answer: {exc}") from exc
    finally:
        conn.close()


def add_endpoint(conn: psycopg.Connection, url: str, allow_private: bool = False) -> tuple[int, str]:
    """(endpoint id, its secret); the URL is checked by the SSRF guard first."""
    resolve_target(url, allow_private)
    secret = new_secret()
    row = conn.execute("INSERT INTO webhook_endpoints (url, secret, allow_private) VALUES (%s, %s, %s)"
                       " RETURNING id", (url, secret, allow_private)).fetchone()
    assert row is not None
    return int(row[0]), secret


def backoff(attempts: int) -> float:
    """Seconds before the next attempt after ``attempts`` failed ones."""
    return min(BACKOFF_MAX, BACKOFF_BASE * 2 ** max(0, attempts - 1))


@dataclass(frozen=True)
class Round:
    delivered: int
    retrying: int
    failed: int  # gave up (MAX_ATTEMPTS, or refused by the SSRF guard)
    disabled: int  # endpoints disabled by a 410
    next_due: float | None  # seconds until the earliest pending delivery, None when none is pending


Poster = Callable[[str, bool, dict[str, str], bytes], int]


def _attempt(poster: Poster, url: str, allow_private: bool, msg_id: str, secret: str, body: bytes,
             ) -> tuple[int | None, str]:
    timestamp = int(time.time())
    headers = {"Content-Type": "application/json", "User-Agent": USER_AGENT, "webhook-id": msg_id,
               "webhook-timestamp": str(timestamp), "webhook-signature": sign(secret, msg_id, timestamp, body)}
    try:
        return poster(url, allow_private, headers, body), ""
    except TargetRefused as exc:
        return -1, str(exc)
    except OSError as exc:
        return None, str(exc) or type(exc).__name__


def deliver_due(conn: psycopg.Connection, poster: Poster = post) -> Round:
    """Post the deliveries that are due (a batch, rows locked with SKIP LOCKED so workers share them)."""
    delivered = retrying = failed = disabled = 0
    with conn.transaction():
        rows = conn.execute(
            "SELECT d.message_id, d.endpoint_id, d.attempts, e.url, e.secret, e.allow_private, o.msg_id, o.body"
            " FROM webhook_deliveries d JOIN webhook_endpoints e ON e.id = d.endpoint_id"
            " JOIN webhook_outbox o ON o.id = d.message_id"
            " WHERE d.status = 'pending' AND d.next_attempt_at <= now() AND e.enabled"
            " ORDER BY d.next_attempt_at, d.message_id LIMIT %s FOR UPDATE OF d SKIP LOCKED", (BATCH,)).fetchall()
        gone: set[int] = set()
        for message_id, endpoint_id, attempts, url, secret, allow_private, msg_id, body in rows:
            if endpoint_id in gone:
                continue
            status, error = _attempt(poster, url, allow_private, msg_id, secret, body.encode())
            key = (message_id, endpoint_id)
            if status is not None and 200 <= status < 300:
                conn.execute("UPDATE webhook_deliveries SET status = 'delivered', attempts = attempts + 1,"
                             " last_status = %s, last_error = '', delivered_at = now()"
                             " WHERE message_id = %s AND endpoint_id = %s", (status, *key))
                delivered += 1
            elif status == 410:
                gone.add(endpoint_id)
                conn.execute("UPDATE webhook_endpoints SET enabled = false, disabled_reason = %s WHERE id = %s",
                             (f"410 Gone from {url}", endpoint_id))
                conn.execute("UPDATE webhook_deliveries SET status = 'disabled', last_status ="
                             " CASE WHEN message_id = %s THEN 410 ELSE last_status END,"
                             " attempts = attempts + (message_id = %s)::int"
                             " WHERE endpoint_id = %s AND status = 'pending'", (message_id, message_id, endpoint_id))
                disabled += 1
            else:
                give_up = status == -1 or attempts + 1 >= MAX_ATTEMPTS
                conn.execute("UPDATE webhook_deliveries SET status = %s, attempts = attempts + 1, last_status = %s,"
                             " last_error = %s, next_attempt_at = now() + make_interval(secs => %s)"
                             " WHERE message_id = %s AND endpoint_id = %s",
                             ("failed" if give_up else "pending", status if status and status > 0 else None,
                              error or f"HTTP {status}", backoff(attempts + 1), *key))
                failed += give_up
                retrying += not give_up
        due = conn.execute("SELECT extract(epoch FROM min(d.next_attempt_at) - now()) FROM webhook_deliveries d"
                           " JOIN webhook_endpoints e ON e.id = d.endpoint_id"
                           " WHERE d.status = 'pending' AND e.enabled").fetchone()
    next_due = None if not due or due[0] is None else max(0.0, float(due[0]))
    return Round(delivered, retrying, failed, disabled, next_due)
