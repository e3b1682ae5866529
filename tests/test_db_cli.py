"""``layerscan db import|status|update`` through the real CLI entry point."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from layerscan.cli.main import main
from layerscan.db.update import parse_duration
from layerscan.errors import LayerscanError


def _feed(tmp_path: Path) -> Path:
    src = tmp_path / "feed"
    src.mkdir()
    (src / "GO-1.json").write_text(json.dumps({"id": "GO-2099-0001", "modified": "2024-01-01T00:00:00Z",
                                               "affected": [{"package": {"ecosystem": "Go", "name": "example.com/x"},
                                                             "ranges": [{"type": "SEMVER", "events": [
                                                                 {"introduced": "0"}, {"fixed": "1.0.1"}]}]}]}))
    (src / "broken.json").write_text("{")
    return src


def test_import_then_status(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cache = tmp_path / "cache"
    assert main(["db", "import", str(_feed(tmp_path)), "--cache-dir", str(cache), "--no-progress"]) == 0
    err = capsys.readouterr().err
    assert "osv:Go" in err and "1 malformed record(s) skipped" in err
    assert main(["db", "status", "--cache-dir", str(cache), "--json"]) == 0
    status = json.loads(capsys.readouterr().out)
    assert status["sources"]["osv:Go"]["records"] == 1
    assert "state" not in status
    assert main(["db", "status", "--cache-dir", str(cache), "--db-max-age", "0s"]) == 0
    captured = capsys.readouterr()
    assert "osv:Go" in captured.out and "older than --db-max-age 0s" in captured.err
    assert "import: 1 malformed record(s) skipped" in captured.out


def test_status_without_database_is_a_runtime_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["db", "status", "--cache-dir", str(tmp_path)]) == 3
    err = capsys.readouterr().err
    assert "not found" in err and "hint:" in err


def test_import_missing_path_is_a_usage_error(tmp_path: Path) -> None:
    assert main(["db", "import", str(tmp_path / "nope"), "--cache-dir", str(tmp_path)]) == 2


def test_unknown_source_is_reported(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["db", "update", "--sources", "bogus", "--cache-dir", str(tmp_path)]) == 3
    assert "unknown database source" in capsys.readouterr().err


def test_durations() -> None:
    assert parse_duration("7d").days == 7 and parse_duration("12h").total_seconds() == 43200
    with pytest.raises(LayerscanError):
        parse_duration("soon")


def test_db_flags_read_the_flag_tables_env_and_config(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """The db flags come from cli/flags.py like every other flag: LAYERSCAN_* variables and config keys."""
    cache = tmp_path / "cache"
    assert main(["db", "import", str(_feed(tmp_path)), "--cache-dir", str(cache), "-q"]) == 0
    monkeypatch.setenv("LAYERSCAN_DB_MAX_AGE", "0s")
    assert main(["db", "status", "--cache-dir", str(cache)]) == 0
    assert "older than --db-max-age 0s" in capsys.readouterr().err
    monkeypatch.delenv("LAYERSCAN_DB_MAX_AGE")
    config = tmp_path / "layerscan.yaml"
    config.write_text("db:\n  max-age: 0s\n")
    assert main(["db", "status", "--cache-dir", str(cache), "--config", str(config)]) == 0
    assert "older than --db-max-age 0s" in capsys.readouterr().err
    assert main(["db", "status", "--cache-dir", str(cache)]) == 0  # default 7d: fresh, no warning
    assert "older than" not in capsys.readouterr().err
    monkeypatch.setenv("LAYERSCAN_DB_SOURCES", "bogus")
    assert main(["db", "update", "--cache-dir", str(tmp_path / "other")]) == 3
    assert "unknown database source" in capsys.readouterr().err


def test_every_db_flag_is_in_the_flag_table() -> None:
    import argparse

    from layerscan.cli.flags import FLAGS
    from layerscan.cli.main import build_parser

    declared = {name for flag in FLAGS for name in flag.names}
    db = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction)).choices["db"]
    subs = next(a for a in db._actions if isinstance(a, argparse._SubParsersAction)).choices
    assert set(subs) == {"update", "import", "status", "push"}
    for name, parser in subs.items():
        options = {o for action in parser._actions for o in action.option_strings} - {"-h", "--help"}
        assert options and options <= declared, name
