"""Real OCI registries on 127.0.0.1 for tests (Debian's ``docker-registry``, distribution 2.8).

Fixtures (session scope; skip cleanly when ``docker-registry`` is not installed):

- ``registry``: anonymous, plain HTTP. ``registry.host`` is ``127.0.0.1:PORT``.
- ``token_registry``: bearer-token auth. A small token server (http.server in a
  thread) checks Basic credentials ``token_registry.username/.password`` and
  issues RS256 JWTs signed with a key generated for the session; the registry
  trusts the matching self-signed certificate (``auth.token.rootcertbundle``).

Use them from a test module with ``from registry import registry, token_registry``
(or through tests/conftest.py, which re-exports them). Push images with
``tests/imagebuild.py``: ``img.push(registry.host, "team/app", "1.0")`` or, for
the token registry, ``creds=token_registry.creds``.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import secrets
import shutil
import socket
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

SERVICE = "layerscan-test-registry"
ISSUER = "layerscan-test-issuer"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@dataclass
class TokenIssuer:
    """Signing key + certificate, and the JWTs distribution's token auth accepts."""

    key: object = None
    cert_der: bytes = b""
    cert_pem: bytes = b""

    @classmethod
    def generate(cls) -> "TokenIssuer":
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import rsa
        from cryptography.x509.oid import NameOID

        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, ISSUER)])
        now = dt.datetime.now(dt.timezone.utc)
        cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
                .public_key(key.public_key()).serial_number(x509.random_serial_number())
                .not_valid_before(now - dt.timedelta(days=1)).not_valid_after(now + dt.timedelta(days=7))
                .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
                .sign(key, hashes.SHA256()))
        return cls(key, cert.public_bytes(serialization.Encoding.DER),
                   cert.public_bytes(serialization.Encoding.PEM))

    def token(self, subject: str, scopes: list[str]) -> str:
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import padding

        header = {"typ": "JWT", "alg": "RS256", "x5c": [base64.b64encode(self.cert_der).decode()]}
        now = int(time.time())
        claims = {"iss": ISSUER, "sub": subject, "aud": SERVICE, "exp": now + 600, "nbf": now - 10,
                  "iat": now, "jti": secrets.token_hex(8), "access": [_access(s) for s in scopes]}
        signing_input = f"{_b64url(json.dumps(header).encode())}.{_b64url(json.dumps(claims).encode())}"
        signature = self.key.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())  # type: ignore[attr-defined]
        return f"{signing_input}.{_b64url(signature)}"


def _access(scope: str) -> dict:
    kind, _, rest = scope.partition(":")
    name, _, actions = rest.rpartition(":")
    return {"type": kind, "name": name, "actions": [a for a in actions.split(",") if a]}


@dataclass
class TokenServer:
    issuer: TokenIssuer
    username: str
    password: str
    requests_seen: list[str] = field(default_factory=list)
    _server: ThreadingHTTPServer | None = None

    def start(self) -> str:
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server API
                query = parse_qs(urlsplit(self.path).query)
                outer.requests_seen.append(self.path)
                expected = "Basic " + base64.b64encode(f"{outer.username}:{outer.password}".encode()).decode()
                if self.headers.get("Authorization") != expected:
                    self._answer(401, {"errors": [{"code": "UNAUTHORIZED", "message": "bad credentials"}]})
                    return
                token = outer.issuer.token(outer.username, query.get("scope", []))
                self._answer(200, {"token": token, "expires_in": 600})

            def _answer(self, status: int, body: dict) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return f"http://127.0.0.1:{self._server.server_address[1]}/token"

    def stop(self) -> None:
        if self._server:
            self._server.shutdown()
            self._server.server_close()


@dataclass
class RegistryServer:
    host: str  # 127.0.0.1:PORT
    process: subprocess.Popen
    workdir: Path
    username: str = ""
    password: str = ""
    token_server: TokenServer | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}"

    @property
    def creds(self) -> str:
        """``user:pass`` for skopeo's --dest-creds ("" when anonymous)."""
        return f"{self.username}:{self.password}" if self.username else ""

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        if self.token_server:
            self.token_server.stop()
        shutil.rmtree(self.workdir, ignore_errors=True)


def _config_yaml(storage: Path, port: int, token: dict | None) -> str:
    config: dict = {
        "version": 0.1,
        "log": {"level": "error", "accesslog": {"disabled": True}},
        "storage": {"filesystem": {"rootdirectory": str(storage)}, "delete": {"enabled": True}},
        "http": {"addr": f"127.0.0.1:{port}", "secret": secrets.token_hex(16)},
    }
    if token:
        config["auth"] = {"token": token}
    return json.dumps(config)  # JSON is YAML


def _wait_ready(host: str, process: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"docker-registry exited: {log.read_text(errors='replace')[-2000:]}")
        try:
            urllib.request.urlopen(f"http://{host}/v2/", timeout=1).close()
            return
        except urllib.error.HTTPError as exc:
            if exc.code == 401:
                return
        except OSError:
            pass
        time.sleep(0.1)
    raise RuntimeError("docker-registry did not start within 20 s")


def start_registry(token_auth: bool = False) -> RegistryServer:
    """Start a registry (optionally with token auth) on a free port; call ``stop()`` when done."""
    binary = shutil.which("docker-registry")
    if binary is None:
        raise FileNotFoundError("docker-registry is not installed")
    workdir = Path(tempfile.mkdtemp(prefix="layerscan-registry-"))
    port = free_port()
    token_server = None
    token_cfg = None
    username = password = ""
    if token_auth:
        username, password = "layerscan", secrets.token_urlsafe(12)
        issuer = TokenIssuer.generate()
        (workdir / "root.pem").write_bytes(issuer.cert_pem)
        token_server = TokenServer(issuer, username, password)
        token_cfg = {"realm": token_server.start(), "service": SERVICE, "issuer": ISSUER,
                     "rootcertbundle": str(workdir / "root.pem")}
    config = workdir / "config.yml"
    config.write_text(_config_yaml(workdir / "storage", port, token_cfg))
    log = workdir / "registry.log"
    with open(log, "wb") as log_fh:
        process = subprocess.Popen([binary, "serve", str(config)], stdout=log_fh, stderr=subprocess.STDOUT,
                                   stdin=subprocess.DEVNULL)
    server = RegistryServer(f"127.0.0.1:{port}", process, workdir, username, password, token_server)
    try:
        _wait_ready(server.host, process, log)
    except BaseException:
        server.stop()
        raise
    return server


def _fixture(token_auth: bool) -> Iterator[RegistryServer]:
    if shutil.which("docker-registry") is None:
        pytest.skip("docker-registry is not installed")
    server = start_registry(token_auth)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def registry() -> Iterator[RegistryServer]:
    """An anonymous plain-HTTP registry on 127.0.0.1."""
    yield from _fixture(token_auth=False)


@pytest.fixture(scope="session")
def token_registry() -> Iterator[RegistryServer]:
    """A registry behind bearer-token auth; credentials in ``.username``/``.password``."""
    yield from _fixture(token_auth=True)
