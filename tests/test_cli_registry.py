"""`layerscan image NAME` against real local registries (tests/registry.py):
anonymous, bearer-token auth with --password-stdin / env credentials, bad
credentials (exit 3, one line, no secret in the output), and --platform."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from registry import RegistryServer, registry, token_registry  # noqa: F401 - pytest fixtures
from test_cli_main import EXIT_RUNTIME, assert_one_error_line, run_cli

imagebuild = pytest.importorskip("imagebuild")

pytestmark = [
    pytest.mark.registry,
    pytest.mark.skipif(shutil.which("skopeo") is None, reason="skopeo is not installed"),
]

SBOM_ARGS = ("-f", "json", "--list-all-pkgs", "--scanners", "none", "--no-cache", "--insecure")


def _isolated(tmp_path: Path) -> dict[str, str]:
    return {"DOCKER_CONFIG": str(tmp_path / "no-docker-config")}


def _packages(doc: dict) -> list[tuple[str, str, str, str]]:
    return sorted((p["Name"], p["Version"], p.get("Arch", ""), p["Layer"]["DiffID"])
                  for r in doc["Results"] for p in r.get("Packages", []))


@pytest.fixture(scope="module")
def pushed(registry: RegistryServer) -> str:  # noqa: F811
    imagebuild.sample_image().push(registry.host, "team/app", "1.0")
    imagebuild.sample_index().push(registry.host, "team/multi", "1.0")
    return registry.host


def test_registry_scan_matches_the_archive(pushed: str, tmp_path: Path):
    img = imagebuild.sample_image()
    img.write_docker_archive(tmp_path / "app.tar", "team/app:1.0")
    proc = run_cli("image", f"{pushed}/team/app:1.0", *SBOM_ARGS, cwd=tmp_path, env=_isolated(tmp_path))
    assert proc.returncode == 0, proc.stderr
    remote = json.loads(proc.stdout)
    assert remote["Metadata"]["DiffIDs"] == img.diff_ids
    assert remote["ArtifactName"] == f"{pushed}/team/app:1.0"
    local = json.loads(run_cli("image", "--input", "app.tar", *SBOM_ARGS, cwd=tmp_path).stdout)
    assert _packages(remote) == _packages(local)


def test_platform_selects_from_an_index(pushed: str, tmp_path: Path):
    proc = run_cli("image", f"{pushed}/team/multi:1.0", "--platform", "linux/arm64", *SBOM_ARGS, cwd=tmp_path,
                   env=_isolated(tmp_path))
    assert proc.returncode == 0, proc.stderr
    arches = {p[2] for p in _packages(json.loads(proc.stdout))}
    assert arches <= {"arm64", "all", ""} and "arm64" in arches


def test_unknown_image_is_a_runtime_error(pushed: str, tmp_path: Path):
    proc = run_cli("image", f"{pushed}/team/absent:1.0", *SBOM_ARGS, cwd=tmp_path, env=_isolated(tmp_path))
    assert proc.returncode == EXIT_RUNTIME
    assert_one_error_line(proc)


def test_token_auth_with_password_stdin_and_env(token_registry: RegistryServer, tmp_path: Path):  # noqa: F811
    imagebuild.sample_image().push(token_registry.host, "team/private", "1.0", creds=token_registry.creds)
    name = f"{token_registry.host}/team/private:1.0"
    env = _isolated(tmp_path)
    proc = run_cli("image", name, *SBOM_ARGS, "--username", token_registry.username, "--password-stdin",
                   cwd=tmp_path, env=env, stdin=token_registry.password + "\n")
    assert proc.returncode == 0, proc.stderr
    proc = run_cli("image", name, *SBOM_ARGS, cwd=tmp_path,
                   env={**env, "LAYERSCAN_USERNAME": token_registry.username,
                        "LAYERSCAN_PASSWORD": token_registry.password})
    assert proc.returncode == 0, proc.stderr
    bad = "wrong-" + token_registry.password
    proc = run_cli("image", name, *SBOM_ARGS, "--username", token_registry.username, "--password", bad,
                   cwd=tmp_path, env=env)
    assert proc.returncode == EXIT_RUNTIME
    assert_one_error_line(proc)
    assert bad not in proc.stderr + proc.stdout
