"""The automatic database refresh before a scan, through the real CLI:
from a prebuilt database in the local registry (--db-repository), and the
failure modes (nothing downloadable: warning or error; stale: warning)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from layerscan.db.distribute import push_database

TREE_STATUS = """Package: libexpat1
Status: install ok installed
Architecture: amd64
Source: expat
Version: 2.2.0-2+deb9u1

"""


def cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    full = {k: v for k, v in os.environ.items() if k != "LAYERSCAN_SKIP_DB_UPDATE"}
    full.update(env or {})
    return subprocess.run([sys.executable, "-m", "layerscan.cli.main", *args], capture_output=True, text=True,
                          env=full, timeout=300)


@pytest.fixture
def rootfs(tmp_path: Path) -> Path:
    root = tmp_path / "root"
    (root / "var/lib/dpkg").mkdir(parents=True)
    (root / "var/lib/dpkg/status").write_text(TREE_STATUS)
    (root / "etc").mkdir()
    (root / "etc/os-release").write_text('ID=debian\nVERSION_ID="9"\nPRETTY_NAME="Debian GNU/Linux 9"\n')
    return root


def test_scan_pulls_the_database_from_the_registry(registry, corpus_db: Path, rootfs: Path, tmp_path: Path):
    ref = f"{registry.host}/layerscan/db:1"
    push_database(corpus_db, ref, insecure=True)
    cache = tmp_path / "cache"
    out = cli("rootfs", str(rootfs), "--cache-dir", str(cache), "--db-repository", ref, "--insecure",
              "-f", "json", "--no-progress")
    assert out.returncode == 0, out.stderr
    assert (cache / "db" / "layerscan.db").is_file()
    vulns = [v for r in json.loads(out.stdout)["Results"] for v in r.get("Vulnerabilities") or []]
    assert vulns and all(v["PkgName"] == "libexpat1" for v in vulns)
    assert any("expat" == (v.get("MatchDetail") or {}).get("PackageName") for v in vulns)


def test_unreachable_feeds_without_a_database_fail_every_vulnerability_scan(rootfs: Path, tmp_path: Path):
    """No database and no network: an error that says what to do, never a package list that
    reads like a clean result."""
    dead = {f"LAYERSCAN_DB_{s}_URL": "http://127.0.0.1:9" for s in
            ("OSV", "DEBIAN", "ALPINE", "KEV", "EPSS", "EOL", "NODEJS_SECURITY_WG", "NVD")}
    cache = tmp_path / "cache"
    plain = cli("rootfs", str(rootfs), "--cache-dir", str(cache), "--timeout", "2", env=dead)
    assert plain.returncode == 3 and plain.stdout == ""
    errors = [line for line in plain.stderr.splitlines() if line.startswith("layerscan: error:")]
    assert len(errors) == 1 and "none of the" in errors[0] and "could be downloaded" in errors[0]
    assert "layerscan: hint: run 'layerscan db update'" in plain.stderr and "db import" in plain.stderr
    assert "Traceback" not in plain.stderr
    assert not (cache / "db" / "layerscan.db").exists()
    gated = cli("rootfs", str(rootfs), "--cache-dir", str(cache), "--timeout", "2", "--exit-code", "1", env=dead)
    assert gated.returncode == 3
    assert "layer" not in gated.stdout.lower() or gated.stdout == ""


def test_an_existing_database_is_used_when_the_update_fails(corpus_db: Path, rootfs: Path, tmp_path: Path):
    import shutil
    import sqlite3

    cache = tmp_path / "cache"
    (cache / "db").mkdir(parents=True)
    db = cache / "db" / "layerscan.db"
    shutil.copy(corpus_db, db)
    with sqlite3.connect(db) as conn:  # make it due and old
        conn.execute("INSERT OR REPLACE INTO metadata VALUES ('next_update', '2000-01-01T00:00:00Z')")
        conn.execute("INSERT OR REPLACE INTO metadata VALUES ('built_at', '2000-01-01T00:00:00Z')")
    dead = {f"LAYERSCAN_DB_{s}_URL": "http://127.0.0.1:9" for s in
            ("OSV", "DEBIAN", "ALPINE", "KEV", "EPSS", "EOL", "NODEJS_SECURITY_WG", "NVD")}
    out = cli("rootfs", str(rootfs), "--cache-dir", str(cache), "--timeout", "2", "-f", "json", env=dead)
    assert out.returncode == 0, out.stderr
    assert "more than 7d" in out.stderr  # --db-max-age warning
    vulns = [v for r in json.loads(out.stdout)["Results"] for v in r.get("Vulnerabilities") or []]
    assert vulns, "the previous database must still be used"
