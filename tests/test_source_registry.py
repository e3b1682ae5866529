"""Registry source against real registries (docker-registry) and a scripted local HTTP server."""

from __future__ import annotations

import base64
import json
import shutil
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from imagebuild import (BuiltImage, canonical_json, decompress, digest_of, read_layers, sample_image,
                        sample_index)
from registry import RegistryServer

from layerscan.errors import AuthError, DigestMismatchError, ImageError, RegistryError
from layerscan.source.base import SourceOptions
from layerscan.source.open import open_image
from layerscan.source.registry.client import RegistryClient
from layerscan.source.registry.reference import parse_reference
from layerscan.source.registry.source import RegistrySource


@pytest.fixture()
def opts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> SourceOptions:
    """Insecure (plain HTTP) options isolated from the host's docker config and env."""
    for var in ("LAYERSCAN_USERNAME", "LAYERSCAN_PASSWORD", "DOCKER_CONFIG"):
        monkeypatch.delenv(var, raising=False)
    return SourceOptions(insecure=True, docker_config=str(tmp_path / "no-config.json"), retry_max_wait=0.01)


@pytest.fixture(scope="module")
def image() -> BuiltImage:
    return sample_image()


needs_skopeo = pytest.mark.skipif(shutil.which("skopeo") is None, reason="skopeo is not installed")


@pytest.fixture(scope="module")
def pushed(registry: RegistryServer, image: BuiltImage) -> str:
    if shutil.which("skopeo") is None:
        pytest.skip("skopeo is not installed")
    image.push(registry.host, "team/app", "1.0")
    sample_index().push(registry.host, "team/multi", "1.0")
    return registry.host


def test_pull_same_image_as_built(pushed: str, image: BuiltImage, opts: SourceOptions) -> None:
    with open_image(f"{pushed}/team/app:1.0", options=opts) as src:
        assert src.config().digest == image.config_digest
        assert [layer.diff_id for layer in src.layers()] == image.diff_ids
        assert [layer.digest for layer in src.layers()] == [b.digest for b in image.layers]
        assert [layer.created_by for layer in src.layers()] == [b.created_by for b in image.layers]
        assert [decompress(b) for b in read_layers(src)] == [b.tar for b in image.layers]
        assert src.repo_tags == (f"{pushed}/team/app:1.0",)
        assert src.repo_digests == (f"{pushed}/team/app@{image.manifest_digest}",)


def test_pull_by_digest(pushed: str, image: BuiltImage, opts: SourceOptions) -> None:
    with open_image(f"{pushed}/team/app@{image.manifest_digest}", options=opts) as src:
        assert src.config().digest == image.config_digest
        assert src.repo_tags == ()


def test_registry_and_archive_agree(pushed: str, image: BuiltImage, opts: SourceOptions, tmp_path: Path) -> None:
    archive = image.write_docker_archive(tmp_path / "img.tar")
    with open_image(f"{pushed}/team/app:1.0", options=opts) as remote, \
            open_image(input_path=str(archive)) as local:
        assert remote.config().raw == local.config().raw
        assert [decompress(b) for b in read_layers(remote)] == read_layers(local)


@pytest.mark.parametrize("platform", ["linux/amd64", "linux/arm64"])
def test_multi_arch_platform(pushed: str, opts: SourceOptions, platform: str) -> None:
    arch = platform.split("/")[1]
    wanted = next(i for i in sample_index().images if i.architecture == arch)
    options = SourceOptions(**{**opts.__dict__, "platform": platform})
    with open_image(f"{pushed}/team/multi:1.0", options=options) as src:
        assert src.config().digest == wanted.config_digest
        assert src.repo_digests == (f"{pushed}/team/multi@{sample_index().digest}",)


def test_multi_arch_missing_platform(pushed: str, opts: SourceOptions) -> None:
    options = SourceOptions(**{**opts.__dict__, "platform": "linux/ppc64le"})
    with pytest.raises(ImageError, match="available: linux/amd64, linux/arm64"):
        open_image(f"{pushed}/team/multi:1.0", options=options)


def test_missing_tag_and_repo(pushed: str, opts: SourceOptions) -> None:
    with pytest.raises(ImageError, match="not found"):
        open_image(f"{pushed}/team/app:nope", options=opts)
    with pytest.raises(ImageError, match="not found"):
        open_image(f"{pushed}/nobody/here:1", options=opts)


def test_progress_tasks_sized_by_descriptor(pushed: str, image: BuiltImage, opts: SourceOptions) -> None:
    seen: dict[str, list[int]] = {}

    class Task:
        def __init__(self, key: str) -> None:
            self.key = key

        def advance(self, n: int = 1) -> None:
            seen[self.key].append(n)

        def close(self) -> None:
            seen[self.key].append(-1)

    class Recorder:
        def task(self, description: str, total: int | None = None) -> Task:
            seen[f"{description}|{total}"] = []
            return Task(f"{description}|{total}")

    with RegistrySource(f"{pushed}/team/app:1.0", options=opts, progress=Recorder()) as src:
        read_layers(src)
    assert sorted(int(k.split("|")[1]) for k in seen) == sorted(len(b.blob) for b in image.layers)
    for counts in seen.values():
        assert counts[-1] == -1  # closed
    assert sorted(sum(counts[:-1]) for counts in seen.values()) == sorted(len(b.blob) for b in image.layers)


def test_push_helpers_and_artifact_pull(registry: RegistryServer, opts: SourceOptions,
                                        tmp_path: Path) -> None:
    client = RegistryClient(registry.host, opts)
    payload = b"SQLite format 3\x00" + bytes(range(256)) * 40
    config = b"{}"
    layer = client.push_blob("layerscan/db", payload)
    cfg = client.push_blob("layerscan/db", config)
    assert client.push_blob("layerscan/db", payload) == layer  # already there: skipped
    manifest = canonical_json({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "artifactType": "application/vnd.layerscan.db.v1",
        "config": {"mediaType": "application/vnd.oci.empty.v1+json", "digest": cfg, "size": len(config)},
        "layers": [{"mediaType": "application/vnd.layerscan.db.layer.v1+sqlite", "digest": layer,
                    "size": len(payload), "annotations": {"org.opencontainers.image.title": "db.sqlite"}}]})
    ref = parse_reference(f"{registry.host}/layerscan/db:1")
    assert client.push_manifest(ref, manifest, "application/vnd.oci.image.manifest.v1+json") == digest_of(manifest)
    fetched, layers = client.pull_artifact(ref)
    assert fetched.digest == digest_of(manifest)
    assert layers[0].annotation("org.opencontainers.image.title") == "db.sqlite"
    out = client.download_blob("layerscan/db", layers[0], tmp_path / "db.sqlite")
    assert out.read_bytes() == payload
    with pytest.raises(ImageError, match="not a container image"):
        open_image(str(ref), options=opts)


@needs_skopeo
def test_token_auth(token_registry: RegistryServer, image: BuiltImage, opts: SourceOptions) -> None:
    image.push(token_registry.host, "team/private", "1.0", creds=token_registry.creds)
    name = f"{token_registry.host}/team/private:1.0"
    good = SourceOptions(**{**opts.__dict__, "username": token_registry.username,
                            "password": token_registry.password})
    with open_image(name, options=good) as src:
        assert src.config().digest == image.config_digest
        assert [decompress(b) for b in read_layers(src)] == [b.tar for b in image.layers]
    bad_password = "not-" + token_registry.password
    bad = SourceOptions(**{**good.__dict__, "password": bad_password})
    with pytest.raises(AuthError) as info:
        open_image(name, options=bad)
    assert bad_password not in str(info.value) and token_registry.password not in str(info.value)
    with pytest.raises(AuthError, match="anonymous"):
        open_image(name, options=opts)


@needs_skopeo
def test_token_auth_from_docker_config(token_registry: RegistryServer, image: BuiltImage,
                                       opts: SourceOptions, tmp_path: Path) -> None:
    image.push(token_registry.host, "team/cfg", "1.0", creds=token_registry.creds)
    config = tmp_path / "config.json"
    auth = base64.b64encode(token_registry.creds.encode()).decode()
    config.write_text(json.dumps({"auths": {f"http://{token_registry.host}": {"auth": auth}}}))
    options = SourceOptions(**{**opts.__dict__, "docker_config": str(config)})
    with open_image(f"{token_registry.host}/team/cfg:1.0", options=options) as src:
        assert src.config().digest == image.config_digest


# -- a scripted registry: faults on demand -------------------------------------------------


class ScriptedRegistry:
    """Serves one BuiltImage over the distribution API, with scripted faults."""

    def __init__(self, image: BuiltImage, bind: str = "127.0.0.1") -> None:
        self.image = image
        self.blobs = image.blobs()
        self.faults: list[tuple[int, dict[str, str]]] = []  # answered first, in order
        self.manifest_type = "application/vnd.oci.image.manifest.v1+json"
        self.manifest_body = image.manifest
        self.content_digest = image.manifest_digest
        self.requests = 0
        self.basic_auth = ""  # "user:pass" -> demand HTTP Basic
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802
                outer.requests += 1
                if outer.basic_auth and not self.path.startswith("/storage/"):
                    want = "Basic " + base64.b64encode(outer.basic_auth.encode()).decode()
                    if self.headers.get("Authorization") != want:
                        return self._send(401, b"", {"WWW-Authenticate": 'Basic realm="test"'})
                if outer.faults:
                    status, headers = outer.faults.pop(0)
                    return self._send(status, b"slow down", headers)
                if "/manifests/" in self.path:
                    return self._send(200, outer.manifest_body, {
                        "Content-Type": outer.manifest_type, "Docker-Content-Digest": outer.content_digest})
                if "/blobs/" in self.path:
                    digest = self.path.rsplit("/", 1)[1]
                    return self._send(302, b"", {"Location": f"/storage/{digest}"})
                if self.path.startswith("/storage/"):
                    data = outer.blobs.get(self.path.rsplit("/", 1)[1])
                    return self._send(200, data, {}) if data is not None else self._send(404, b"", {})
                return self._send(404, b"", {})

            def _send(self, status: int, body: bytes, headers: dict[str, str]) -> None:
                self.send_response(status)
                for key, value in headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer((bind, 0), Handler)
        self.host = f"{bind}:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture()
def scripted(image: BuiltImage) -> Iterator[ScriptedRegistry]:
    server = ScriptedRegistry(image)
    yield server
    server.close()


def _source(scripted: ScriptedRegistry, opts: SourceOptions, sleeps: list[float]) -> RegistrySource:
    client = RegistryClient(scripted.host, opts, sleep=sleeps.append)
    return RegistrySource(f"{scripted.host}/team/app:1.0", options=opts, client=client)


def test_retry_after_is_honoured_and_capped(scripted: ScriptedRegistry, image: BuiltImage,
                                            opts: SourceOptions) -> None:
    scripted.faults = [(429, {"Retry-After": "2"}), (503, {}), (429, {"Retry-After": "600"})]
    options = SourceOptions(**{**opts.__dict__, "retry_max_wait": 5.0})
    sleeps: list[float] = []
    with _source(scripted, options, sleeps) as src:
        assert src.config().digest == image.config_digest
        assert [decompress(b) for b in read_layers(src)] == [b.tar for b in image.layers]
    assert sleeps == [2.0, 1.0, 5.0]  # Retry-After; backoff 0.5*2^1; Retry-After capped


def test_retries_are_bounded(scripted: ScriptedRegistry, opts: SourceOptions) -> None:
    scripted.faults = [(429, {"Retry-After": "1"})] * 10
    options = SourceOptions(**{**opts.__dict__, "retries": 2})
    sleeps: list[float] = []
    with pytest.raises(RegistryError, match="429"):
        _source(scripted, options, sleeps)
    assert len(sleeps) == 2 and scripted.requests == 3


def test_lying_content_digest(scripted: ScriptedRegistry, opts: SourceOptions) -> None:
    scripted.content_digest = digest_of(b"something else")
    with pytest.raises(DigestMismatchError, match="manifest"):
        _source(scripted, opts, [])


def test_pinned_digest_mismatch(scripted: ScriptedRegistry, opts: SourceOptions) -> None:
    scripted.content_digest = ""
    wrong = digest_of(b"x")
    client = RegistryClient(scripted.host, opts)
    with pytest.raises(DigestMismatchError, match=wrong):
        RegistrySource(f"{scripted.host}/team/app@{wrong}", options=opts, client=client)


def test_corrupt_layer_blob(scripted: ScriptedRegistry, image: BuiltImage, opts: SourceOptions) -> None:
    victim = image.layers[1].digest
    blob = bytearray(scripted.blobs[victim])
    blob[len(blob) // 2] ^= 0xFF
    scripted.blobs[victim] = bytes(blob)
    with _source(scripted, opts, []) as src:
        with pytest.raises(DigestMismatchError, match=victim):
            read_layers(src)


def test_schema1_is_rejected_by_name(scripted: ScriptedRegistry, opts: SourceOptions) -> None:
    scripted.manifest_type = "application/vnd.docker.distribution.manifest.v1+prettyjws"
    scripted.manifest_body = json.dumps({"schemaVersion": 1, "name": "team/app", "fsLayers": []}).encode()
    scripted.content_digest = digest_of(scripted.manifest_body)
    with pytest.raises(ImageError, match="schema 1"):
        _source(scripted, opts, [])


def test_unreachable_registry(opts: SourceOptions) -> None:
    from registry import free_port

    options = SourceOptions(**{**opts.__dict__, "retries": 1})
    with pytest.raises(RegistryError, match="cannot reach"):
        RegistrySource(f"127.0.0.1:{free_port()}/team/app:1", options=options,
                       client=RegistryClient(f"127.0.0.1:{free_port()}", options, sleep=lambda s: None))


def test_basic_auth(scripted: ScriptedRegistry, image: BuiltImage, opts: SourceOptions,
                    monkeypatch: pytest.MonkeyPatch) -> None:
    scripted.basic_auth = "alice:s3cret"
    monkeypatch.setenv("LAYERSCAN_USERNAME", "alice")
    monkeypatch.setenv("LAYERSCAN_PASSWORD", "s3cret")
    with _source(scripted, opts, []) as src:
        assert [decompress(b) for b in read_layers(src)] == [b.tar for b in image.layers]
    monkeypatch.setenv("LAYERSCAN_PASSWORD", "wrong")
    with pytest.raises(AuthError, match="authentication failed") as info:
        _source(scripted, opts, [])
    assert "wrong" not in str(info.value)
    monkeypatch.delenv("LAYERSCAN_USERNAME")
    with pytest.raises(AuthError, match="requires credentials"):
        _source(scripted, opts, [])


def test_insecure_falls_back_to_http_for_other_hosts(image: BuiltImage, opts: SourceOptions) -> None:
    """127.0.0.2 is not a 'local' name: https is tried first, then plain HTTP under --insecure."""
    server = ScriptedRegistry(image, bind="127.0.0.2")
    try:
        with RegistrySource(f"{server.host}/team/app:1.0", options=opts) as src:
            assert src.config().digest == image.config_digest
        secure = SourceOptions(**{**opts.__dict__, "insecure": False})
        with pytest.raises(RegistryError, match="TLS connection"):
            RegistrySource(f"{server.host}/team/app:1.0", options=secure)
    finally:
        server.close()
