"""API tokens: ``lsk_<key id>_<secret>``, a random 32-byte secret stored only as its sha256, looked up
by the public key id and compared in constant time. Scopes: ``read`` (GET routes) and ``write``
(POST routes; a write token also reads)."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import psycopg

PREFIX = "lsk_"
SCOPES = ("read", "write")
_KEY_ID_HEX = 16
_NO_MATCH = hashlib.sha256(b"no such token").digest()  # compared against when the key id is unknown


def _digest(secret: str) -> bytes:
    return hashlib.sha256(secret.encode()).digest()


def create_token(conn: psycopg.Connection, scope: str, name: str = "") -> str:
    """A new token with ``scope``; the only time its secret half exists outside the caller."""
    if scope not in SCOPES:
        raise ValueError(f"scope must be one of {', '.join(SCOPES)}")
    key_id = secrets.token_hex(_KEY_ID_HEX // 2)
    secret = secrets.token_urlsafe(32)
    conn.execute("INSERT INTO api_tokens (key_id, hash, scope, name) VALUES (%s, %s, %s, %s)",
                 (key_id, _digest(secret), scope, name))
    return f"{PREFIX}{key_id}_{secret}"


def token_scope(conn: psycopg.Connection, token: str) -> str:
    """The scope of a valid token; "" for anything else."""
    key_id, sep, secret = token.removeprefix(PREFIX).partition("_")
    if not token.startswith(PREFIX) or not sep or len(key_id) != _KEY_ID_HEX or not secret:
        return ""
    row = conn.execute("SELECT hash, scope FROM api_tokens WHERE key_id = %s", (key_id,)).fetchone()
    stored, scope = (bytes(row[0]), str(row[1])) if row else (_NO_MATCH, "")
    return scope if hmac.compare_digest(stored, _digest(secret)) and row else ""


def allows(have: str, need: str) -> bool:
    """``write`` covers ``read``."""
    return have == need or (have == "write" and need == "read")
