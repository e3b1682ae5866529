"""Image references, registry credentials and WWW-Authenticate challenges."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from layerscan.errors import ImageError
from layerscan.source.base import SourceOptions
from layerscan.source.manifest import parse_platform, select_platform, Descriptor, Platform
from layerscan.source.registry.auth import Credentials, parse_challenge, resolve_credentials
from layerscan.source.registry.reference import familiar_repository, parse_reference


@pytest.mark.parametrize(("text", "registry", "repo", "tag", "digest"), [
    ("python:3.9", "registry-1.docker.io", "library/python", "3.9", ""),
    ("alpine", "registry-1.docker.io", "library/alpine", "latest", ""),
    ("docker.io/bitnami/redis", "registry-1.docker.io", "bitnami/redis", "latest", ""),
    ("index.docker.io/library/debian:12", "registry-1.docker.io", "library/debian", "12", ""),
    ("127.0.0.1:5000/team/app:1.0", "127.0.0.1:5000", "team/app", "1.0", ""),
    ("localhost/app", "localhost", "app", "latest", ""),
    ("ghcr.io/org/sub/img@sha256:" + "a" * 64, "ghcr.io", "org/sub/img", "", "sha256:" + "a" * 64),
    ("quay.io/x/y:v1@sha256:" + "b" * 64, "quay.io", "x/y", "v1", "sha256:" + "b" * 64),
    ("myhost:5000/app", "myhost:5000", "app", "latest", ""),
])
def test_parse_reference(text: str, registry: str, repo: str, tag: str, digest: str) -> None:
    ref = parse_reference(text)
    assert (ref.registry, ref.repository, ref.tag, ref.digest) == (registry, repo, tag, digest)
    assert ref.reference == (digest or tag)


def test_reference_round_trip_and_familiar_name() -> None:
    ref = parse_reference("python:3.9")
    assert str(ref) == "registry-1.docker.io/library/python:3.9"
    assert familiar_repository(ref) == "python"
    assert familiar_repository(parse_reference("127.0.0.1:5000/a/b")) == "127.0.0.1:5000/a/b"


@pytest.mark.parametrize("text", ["", "UPPER/case", "app@sha256:short", "app:bad tag", "a//b",
                                  "app:" + "x" * 200, "host:99/../etc"])
def test_invalid_references(text: str) -> None:
    with pytest.raises(ImageError):
        parse_reference(text)


def test_parse_bearer_challenge() -> None:
    c = parse_challenge('Bearer realm="https://auth.docker.io/token",service="registry.docker.io",'
                        'scope="repository:library/python:pull"')
    assert c is not None
    assert (c.scheme, c.realm, c.service, c.scope) == (
        "bearer", "https://auth.docker.io/token", "registry.docker.io", "repository:library/python:pull")
    basic = parse_challenge('Basic realm="Registry Realm"')
    assert basic is not None and basic.scheme == "basic"
    assert parse_challenge("Negotiate abc") is None


def test_credentials_never_repr_the_password() -> None:
    creds = Credentials("me", "hunter2")
    assert "hunter2" not in repr(creds)
    assert creds.basic() == "Basic " + base64.b64encode(b"me:hunter2").decode()


def _config(tmp_path: Path, auths: dict) -> str:
    path = tmp_path / "config.json"
    path.write_text(json.dumps({"auths": auths}))
    return str(path)


def test_credentials_precedence(tmp_path: Path) -> None:
    auth = base64.b64encode(b"cfguser:cfgpass").decode()
    cfg = _config(tmp_path, {"https://index.docker.io/v1/": {"auth": auth},
                             "http://127.0.0.1:5000": {"username": "u2", "password": "p2"}})
    opts = SourceOptions(docker_config=cfg)
    assert resolve_credentials("registry-1.docker.io", opts, env={}) == Credentials("cfguser", "cfgpass")
    assert resolve_credentials("127.0.0.1:5000", opts, env={}) == Credentials("u2", "p2")
    assert resolve_credentials("ghcr.io", opts, env={}) is None
    env = {"LAYERSCAN_USERNAME": "envu", "LAYERSCAN_PASSWORD": "envp"}
    assert resolve_credentials("ghcr.io", opts, env=env) == Credentials("envu", "envp")
    flags = SourceOptions(username="flag", password="pw", docker_config=cfg)
    assert resolve_credentials("ghcr.io", flags, env=env) == Credentials("flag", "pw")


def test_docker_config_env_and_garbage(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text(json.dumps({"auths": {"docker.io": {"auth": "%%%notbase64"}}}))
    assert resolve_credentials("registry-1.docker.io", SourceOptions(), env={"DOCKER_CONFIG": str(tmp_path)}) is None
    (tmp_path / "config.json").write_text("{not json")
    assert resolve_credentials("registry-1.docker.io", SourceOptions(), env={"DOCKER_CONFIG": str(tmp_path)}) is None


def test_platform_parsing_and_selection() -> None:
    assert parse_platform("linux/arm/v7") == Platform("linux", "arm", "v7")
    with pytest.raises(ImageError, match="os/arch"):
        parse_platform("amd64")
    entries = [Descriptor("m", "sha256:" + "1" * 64, 1, Platform("linux", "arm64")),
               Descriptor("m", "sha256:" + "2" * 64, 1, Platform("unknown", "unknown"))]
    # single image (the other is an attestation): taken when no platform was asked for
    assert select_platform(entries, "", "x").digest.endswith("1" * 64)
    with pytest.raises(ImageError, match="available: linux/arm64"):
        select_platform(entries, "linux/amd64", "x")
