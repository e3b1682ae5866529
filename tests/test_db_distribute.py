"""``db push`` / ``db update --db-repository`` against the real local registry."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from layerscan.cli.db_cmd import main as db_main
from layerscan.db.build import import_paths
from layerscan.db.distribute import pull_database, push_database
from layerscan.db.store import Store
from layerscan.db.update import db_path
from layerscan.errors import DatabaseError


def _small_db(tmp_path: Path) -> Path:
    src = tmp_path / "feed"
    src.mkdir()
    (src / "a.json").write_text(json.dumps({"id": "GHSA-test-0001", "modified": "2024-01-01T00:00:00Z",
                                            "aliases": ["CVE-2024-0001"], "affected": [
        {"package": {"ecosystem": "npm", "name": "left-pad"},
         "ranges": [{"type": "SEMVER", "events": [{"introduced": "0"}, {"fixed": "1.3.0"}]}]}]}))
    target = db_path(tmp_path / "publisher")
    import_paths(target, [src])
    return target


def test_push_then_pull(registry, tmp_path: Path) -> None:  # noqa: ANN001 - fixture from tests/registry.py
    source = _small_db(tmp_path)
    ref = f"{registry.host}/layerscan/db:1"
    digest = push_database(source, ref, insecure=True)
    assert digest.startswith("sha256:")
    pulled = pull_database(ref, tmp_path / "consumer", insecure=True)
    assert pulled.read_bytes() == source.read_bytes()
    with Store.open(pulled) as store:
        assert store.affected("npm", "left-pad")[0].primary_id == "CVE-2024-0001"


def test_cli_push_and_pull(registry, tmp_path: Path) -> None:  # noqa: ANN001
    _small_db(tmp_path)
    ref = f"{registry.host}/layerscan/db:cli"
    assert db_main(["db", "push", ref, "--cache-dir", str(tmp_path / "publisher"), "-q", "--insecure"]) == 0
    assert db_main(["db", "update", "--db-repository", ref, "--cache-dir", str(tmp_path / "c2"), "-q",
                    "--insecure"]) == 0
    assert db_path(tmp_path / "c2").is_file()


def test_plain_http_registry_needs_insecure_everywhere(registry, tmp_path: Path) -> None:  # noqa: ANN001
    """--insecure means the same for image pulls, db push and --db-repository: without it,
    a plain-HTTP registry is refused (TLS fails) with a hint to pass it."""
    from test_cli_main import EXIT_RUNTIME, assert_one_error_line, run_cli

    _small_db(tmp_path)
    ref = f"{registry.host}/layerscan/db:strict"
    env = {"LAYERSCAN_CACHE_DIR": str(tmp_path / "publisher")}
    for args in (("db", "push", ref), ("db", "update", "--db-repository", ref),
                 ("image", f"{registry.host}/layerscan/db:strict", "--scanners", "none")):
        proc = run_cli(*args, cwd=tmp_path, env=env)
        assert proc.returncode == EXIT_RUNTIME, (args, proc.stderr)
        assert_one_error_line(proc)
        assert "--insecure" in proc.stderr, proc.stderr
    assert run_cli("db", "push", ref, "--insecure", cwd=tmp_path, env=env).returncode == 0


def test_pull_refuses_non_database_artifact(registry, tmp_path: Path) -> None:  # noqa: ANN001
    from layerscan.source.registry.client import RegistryClient
    from layerscan.source.registry.reference import parse_reference
    from layerscan.source.base import SourceOptions

    ref = parse_reference(f"{registry.host}/layerscan/notdb:1")
    client = RegistryClient(ref.registry, SourceOptions(insecure=True))
    blob = client.push_blob(ref.repository, b"hello")
    cfg = client.push_blob(ref.repository, b"{}")
    manifest = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "config": {"mediaType": "application/vnd.oci.empty.v1+json", "digest": cfg, "size": 2},
                "layers": [{"mediaType": "text/plain", "digest": blob, "size": 5}]}
    client.push_manifest(ref, json.dumps(manifest).encode(), "application/vnd.oci.image.manifest.v1+json")
    with pytest.raises(DatabaseError, match="not a layerscan database artifact"):
        pull_database(str(ref), tmp_path / "c", insecure=True)
    assert not db_path(tmp_path / "c").exists()
