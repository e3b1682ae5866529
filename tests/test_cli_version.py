"""`layerscan version [-f json]` and `--version` through the real CLI, shaped like
`trivy version -f json`: the database's schema and dates when the cache dir has one."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from test_cli_main import EXIT_USAGE, assert_one_error_line, run_cli

from layerscan import __version__
from layerscan.cli.version_cmd import DbInfo, version_json

ROOT = Path(__file__).resolve().parents[1]
FEEDS = str(ROOT / "examples" / "feeds")


def _rfc3339(text: str) -> dt.datetime:
    assert text.endswith("Z"), text
    return dt.datetime.fromisoformat(text[:-1] + "+00:00")


@pytest.fixture(scope="module")
def with_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    work = tmp_path_factory.mktemp("version")
    assert run_cli("db", "import", FEEDS, "-q", cwd=work).returncode == 0
    return work


def _status(work: Path) -> dict:
    proc = run_cli("db", "status", "--json", cwd=work)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


@pytest.mark.parametrize("args", [("version",), ("--version",)])
def test_plain_without_database_is_one_line(tmp_path: Path, args: tuple[str, ...]):
    proc = run_cli(*args, cwd=tmp_path)
    assert proc.returncode == 0 and proc.stdout == f"layerscan {__version__}\n" and proc.stderr == ""


@pytest.mark.parametrize("flag", ["--format", "-f"])
def test_json_without_database_omits_it(tmp_path: Path, flag: str):
    proc = run_cli("version", flag, "json", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == {"Version": __version__}


@pytest.mark.parametrize("args", [("version",), ("--version",)])
def test_plain_with_database_names_its_date(with_db: Path, args: tuple[str, ...]):
    status = _status(with_db)
    proc = run_cli(*args, cwd=with_db)
    assert proc.returncode == 0
    assert proc.stdout.splitlines() == [
        f"layerscan {__version__}",
        f"Vulnerability DB: updated {status['built_at']} (schema {status['schema_version']})"]


@pytest.mark.parametrize("flag", ["--format", "-f"])
def test_json_with_database_is_trivys_shape(with_db: Path, flag: str):
    status = _status(with_db)
    doc = json.loads(run_cli("version", flag, "json", cwd=with_db).stdout)
    assert doc["Version"] == __version__
    db = doc["VulnerabilityDB"]
    assert db["Version"] == status["schema_version"] and db["UpdatedAt"] == status["built_at"]
    assert ("NextUpdate" in db) == bool(status.get("next_update"))
    downloaded = _rfc3339(db["DownloadedAt"])
    mtime = (with_db / "cache" / "db" / "layerscan.db").stat().st_mtime
    assert abs(downloaded.timestamp() - mtime) < 2
    _rfc3339(db["UpdatedAt"])


def test_cache_dir_flag_is_honoured(with_db: Path, tmp_path: Path):
    elsewhere = run_cli("version", "-f", "json", "--cache-dir", str(tmp_path / "empty"), cwd=with_db)
    assert json.loads(elsewhere.stdout) == {"Version": __version__}
    here = run_cli("version", "-f", "json", "--cache-dir", str(with_db / "cache"), cwd=tmp_path)
    assert "VulnerabilityDB" in json.loads(here.stdout)
    assert "Vulnerability DB:" in run_cli("--cache-dir", str(with_db / "cache"), "--version", cwd=tmp_path).stdout


def test_unreadable_database_is_a_warning_not_a_failure(tmp_path: Path):
    db = tmp_path / "cache" / "db" / "layerscan.db"
    db.parent.mkdir(parents=True)
    db.write_bytes(b"not a database" * 100)
    proc = run_cli("version", "-f", "json", cwd=tmp_path)
    assert proc.returncode == 0 and json.loads(proc.stdout) == {"Version": __version__}
    assert [line for line in proc.stderr.splitlines() if line] and \
        all(line.startswith("layerscan: warning:") for line in proc.stderr.splitlines() if line)
    assert run_cli("version", "-q", cwd=tmp_path).stderr == ""


def test_unknown_format_is_a_usage_error(tmp_path: Path):
    proc = run_cli("version", "-f", "yaml", cwd=tmp_path)
    assert proc.returncode == EXIT_USAGE
    assert_one_error_line(proc)


def test_next_update_is_listed_when_known():
    info = DbInfo(schema=1, updated_at="2026-01-01T00:00:00Z", next_update="2026-01-02T00:00:00Z",
                  downloaded_at="2026-01-01T01:00:00Z")
    assert version_json("1.0", info) == {"Version": "1.0", "VulnerabilityDB": {
        "Version": 1, "UpdatedAt": "2026-01-01T00:00:00Z", "NextUpdate": "2026-01-02T00:00:00Z",
        "DownloadedAt": "2026-01-01T01:00:00Z"}}
