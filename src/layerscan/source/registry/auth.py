"""Registry credentials and the WWW-Authenticate challenge flow (Basic and Bearer token).

Credentials come, first match wins, from SourceOptions (``--username/--password``),
the environment (``LAYERSCAN_USERNAME`` / ``LAYERSCAN_PASSWORD``), then the
``auths`` of a docker ``config.json`` (``DOCKER_CONFIG`` or ``~/.docker``).
Passwords and tokens are never put in messages: ``Credentials`` hides the
password from ``repr`` and errors only name the registry.
"""

from __future__ import annotations

import base64
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import requests
import urllib3

from layerscan.errors import AuthError, RegistryError
from layerscan.source.base import SourceOptions
from layerscan.source.registry.reference import DOCKER_HUB, DOCKER_HUB_ALIASES
from layerscan.textload import LoadError, parse_json

MAX_TOKEN_RESPONSE = 1024 * 1024
_PARAM_RE = re.compile(r'([A-Za-z_][\w-]*)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^,\s]*))')


@dataclass(frozen=True)
class Credentials:
    username: str
    password: str = field(repr=False)

    def basic(self) -> str:
        pair = f"{self.username}:{self.password}".encode()
        return "Basic " + base64.b64encode(pair).decode()


@dataclass(frozen=True)
class Challenge:
    scheme: str  # "basic" | "bearer" (lower case)
    realm: str = ""
    service: str = ""
    scope: str = ""


def parse_challenge(header: str) -> Challenge | None:
    """Parse one ``WWW-Authenticate`` value; None when it is not Basic or Bearer."""
    scheme, _, rest = header.strip().partition(" ")
    scheme = scheme.lower()
    if scheme not in ("basic", "bearer"):
        return None
    params = {m.group(1).lower(): (m.group(2) if m.group(2) is not None else m.group(3))
              for m in _PARAM_RE.finditer(rest)}
    return Challenge(scheme, params.get("realm", ""), params.get("service", ""), params.get("scope", ""))


def normalize_registry(key: str) -> str:
    """``https://index.docker.io/v1/`` -> registry-1.docker.io; ``http://h:5000/x`` -> h:5000."""
    host = urlsplit(key).netloc if "://" in key else key.split("/", 1)[0]
    return DOCKER_HUB if host in DOCKER_HUB_ALIASES else host


def docker_config_path(options: SourceOptions, env: Mapping[str, str]) -> Path:
    if options.docker_config:
        return Path(options.docker_config)
    if env.get("DOCKER_CONFIG"):
        return Path(env["DOCKER_CONFIG"]) / "config.json"
    return Path.home() / ".docker" / "config.json"


def _entry_credentials(entry: object) -> Credentials | None:
    if not isinstance(entry, dict):
        return None
    auth = entry.get("auth")
    if isinstance(auth, str) and auth:
        try:
            user, sep, password = base64.b64decode(auth, validate=False).decode().partition(":")
        except (ValueError, UnicodeDecodeError):
            return None
        return Credentials(user, password) if sep else None
    name, secret = entry.get("username"), entry.get("password")
    if isinstance(name, str) and isinstance(secret, str) and name:
        return Credentials(name, secret)
    return None


def docker_config_credentials(path: Path, registry: str) -> Credentials | None:
    """Credentials for ``registry`` from a docker config.json; unreadable files are ignored."""
    try:
        if not path.is_file() or path.stat().st_size > 4 * 1024 * 1024:
            return None
        doc = parse_json(path.read_bytes())
    except (OSError, LoadError):
        return None
    auths = doc.get("auths") if isinstance(doc, dict) else None
    if not isinstance(auths, dict):
        return None
    for key, entry in auths.items():
        if isinstance(key, str) and normalize_registry(key) == registry:
            found = _entry_credentials(entry)
            if found:
                return found
    return None


def resolve_credentials(registry: str, options: SourceOptions,
                        env: Mapping[str, str] | None = None) -> Credentials | None:
    env = os.environ if env is None else env
    if options.username:
        return Credentials(options.username, options.password)
    if env.get("LAYERSCAN_USERNAME"):
        return Credentials(env["LAYERSCAN_USERNAME"], env.get("LAYERSCAN_PASSWORD", ""))
    return docker_config_credentials(docker_config_path(options, env), registry)


class Authenticator:
    """Answers challenges for one registry; caches the Authorization header per scope."""

    def __init__(self, session: requests.Session, registry: str, credentials: Credentials | None,
                 timeout: float, verify: bool = True) -> None:
        self._session = session
        self._registry = registry
        self._credentials = credentials
        self._timeout = timeout
        self._verify = verify
        self._headers: dict[str, str] = {}

    def cached(self, scope: str) -> str | None:
        return self._headers.get(scope)

    def forget(self, scope: str) -> None:
        self._headers.pop(scope, None)

    def respond(self, challenge: Challenge, scope: str) -> str:
        """The Authorization header value answering ``challenge`` for ``scope``."""
        if challenge.scheme == "basic":
            if self._credentials is None:
                raise AuthError(f"{self._registry} requires credentials")
            header = self._credentials.basic()
        else:
            header = "Bearer " + self._fetch_token(challenge, scope)
        self._headers[scope] = header
        return header

    def _fetch_token(self, challenge: Challenge, scope: str) -> str:
        if not challenge.realm.startswith(("https://", "http://")):
            raise AuthError(f"{self._registry}: invalid token realm in its challenge")
        params: list[tuple[str, str]] = []
        if challenge.service:
            params.append(("service", challenge.service))
        params += [("scope", s) for s in (challenge.scope or scope).split() if s]
        auth = (self._credentials.username, self._credentials.password) if self._credentials else None
        try:
            resp = self._session.get(challenge.realm, params=params, auth=auth, timeout=self._timeout,
                                     verify=self._verify, stream=True)
            body = resp.raw.read(MAX_TOKEN_RESPONSE + 1, decode_content=True)
        except (requests.RequestException, urllib3.exceptions.HTTPError, OSError) as exc:  # body read: urllib3/zlib
            raise RegistryError(f"{self._registry}: token request failed ({type(exc).__name__})") from None
        if resp.status_code in (401, 403):
            who = "the given credentials were rejected" if auth else "anonymous access was refused"
            raise AuthError(f"{self._registry}: token request denied ({resp.status_code}): {who}")
        if resp.status_code != 200:
            raise RegistryError(f"{self._registry}: token request failed (HTTP {resp.status_code})")
        if len(body) > MAX_TOKEN_RESPONSE:
            raise RegistryError(f"{self._registry}: token response is larger than {MAX_TOKEN_RESPONSE} bytes")
        try:
            doc = parse_json(body)
        except LoadError:
            doc = None
        token = (doc.get("token") or doc.get("access_token")) if isinstance(doc, dict) else None
        if not isinstance(token, str) or not token:
            raise RegistryError(f"{self._registry}: token endpoint answered without a token")
        return token
