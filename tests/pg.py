"""A throw-away PostgreSQL cluster for tests (Debian's ``postgresql`` package: the server
binaries live in /usr/lib/postgresql/<version>/bin, not on PATH).

Fixtures (skip cleanly when the binaries are absent):

- ``postgres`` (session): one cluster on a free 127.0.0.1 port, owned by the tests; as root it
  runs as the unprivileged ``postgres`` user (initdb refuses root). ``postgres.url("db")``.
- ``pg_database`` (function): a fresh, empty database in that cluster; its URL.

Start one by hand with ``start_cluster()`` / ``cluster.stop()``.
"""

from __future__ import annotations

import glob
import os
import pwd
import secrets
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from registry import free_port

SUPERUSER = "postgres"


def bin_dir() -> Path | None:
    """The newest PostgreSQL server binaries (LAYERSCAN_PG_BINDIR overrides); None when absent."""
    override = os.environ.get("LAYERSCAN_PG_BINDIR")
    candidates = [override] if override else sorted(
        glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(Path(p).parent.name) if
        Path(p).parent.name.isdigit() else 0, reverse=True)
    on_path = shutil.which("initdb")
    if on_path and not override:
        candidates.append(str(Path(on_path).parent))
    for candidate in candidates:
        path = Path(candidate)
        if (path / "initdb").is_file() and (path / "pg_ctl").is_file():
            return path
    return None


def _as_owner(cmd: list[str], owner: str | None) -> list[str]:
    return ["runuser", "-u", owner, "--", *cmd] if owner else cmd


@dataclass
class Cluster:
    bindir: Path
    workdir: Path
    port: int
    owner: str | None  # the OS user running the server (None: the current user)

    @property
    def data(self) -> Path:
        return self.workdir / "data"

    def url(self, dbname: str = "postgres") -> str:
        return f"postgresql://{SUPERUSER}@127.0.0.1:{self.port}/{dbname}"

    def create_database(self, name: str = "") -> str:
        import psycopg

        name = name or "t_" + secrets.token_hex(6)
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def stop(self) -> None:
        subprocess.run(_as_owner([str(self.bindir / "pg_ctl"), "stop", "-D", str(self.data), "-m", "immediate",
                                  "-w"], self.owner), capture_output=True, timeout=60, check=False)
        shutil.rmtree(self.workdir, ignore_errors=True)


def start_cluster() -> Cluster:
    bindir = bin_dir()
    if bindir is None:
        raise FileNotFoundError("PostgreSQL server binaries not found (apt-get install postgresql)")
    owner = SUPERUSER if os.geteuid() == 0 else None
    workdir = Path(tempfile.mkdtemp(prefix="layerscan-pg-"))
    (workdir / "sock").mkdir()
    if owner:
        entry = pwd.getpwnam(owner)
        for path in (workdir, workdir / "sock"):
            os.chown(path, entry.pw_uid, entry.pw_gid)
    cluster = Cluster(bindir, workdir, free_port(), owner)
    try:
        subprocess.run(_as_owner([str(bindir / "initdb"), "-D", str(cluster.data), "-U", SUPERUSER, "-A", "trust",
                                  "-E", "UTF8", "--no-sync"], owner), check=True, capture_output=True, timeout=120)
        options = (f"-p {cluster.port} -k {workdir / 'sock'} -c listen_addresses=127.0.0.1 -c fsync=off"
                   " -c synchronous_commit=off -c full_page_writes=off -c max_connections=100")
        subprocess.run(_as_owner([str(bindir / "pg_ctl"), "start", "-D", str(cluster.data), "-w", "-t", "60",
                                  "-l", str(workdir / "server.log"), "-o", options], owner),
                       check=True, capture_output=True, timeout=90)
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
        log = workdir / "server.log"
        detail = log.read_text(errors="replace")[-2000:] if log.is_file() else ""
        stderr = getattr(exc, "stderr", b"") or b""
        cluster.stop()
        raise RuntimeError(f"PostgreSQL did not start: {stderr.decode(errors='replace')[-2000:]} {detail}") from exc
    return cluster


@pytest.fixture(scope="session")
def postgres() -> Iterator[Cluster]:
    if bin_dir() is None:
        pytest.skip("PostgreSQL server binaries are not installed (apt-get install postgresql)")
    pytest.importorskip("psycopg", reason="the 'server' extra is not installed")
    cluster = start_cluster()
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture
def pg_database(postgres: Cluster) -> str:
    return postgres.create_database()
