"""Import at real scale: a tracker JSON too large to decode whole is read one package at a
time (same rows as decoding it whole), and the row columns' compact JSON is the stdlib's."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from layerscan.cli.main import main
from layerscan.db import schema
from layerscan.db.feeds.base import ParseStats
from layerscan.db.feeds.debian import (
    TRACKER_STREAM_BYTES, DebianFeed, _Collector, iter_tracker_packages, parse_tracker_json,
)
from layerscan.db.feeds.members import Member
from layerscan.errors import FeedError
from layerscan.model import CVSS, Range

# one package of the tracker JSON as security-tracker.debian.org/tracker/data/json writes it
ENTRY = {
    "CVE-2023-0001": {
        "scope": "remote", "debianbug": 1000001, "description": "Buffer overflow in the parser ("
        "\u00e9t\u00e9, \"quoted\", tab\t).",
        "releases": {
            "bookworm": {"status": "resolved", "repositories": {"bookworm": "1.2-3+deb12u1"},
                         "fixed_version": "1.2-3+deb12u1", "urgency": "medium"},
            "bullseye": {"status": "open", "repositories": {"bullseye": "1.1-1"}, "urgency": "low",
                         "nodsa": "Minor issue", "nodsa_reason": "postponed"},
            "sid": {"status": "resolved", "repositories": {"sid": "1.3-1"}, "fixed_version": "1.2-4",
                    "urgency": "medium"},
        },
    },
    "CVE-2023-0002": {
        "scope": "local", "description": "",
        "releases": {"bookworm": {"status": "undetermined", "repositories": {"bookworm": "1.2-3"},
                                  "urgency": "not yet assigned"}},
    },
}


def _tracker(packages: int) -> bytes:
    doc = {f"pkg{i}": {cve.replace("-000", f"-{i:04d}"): e for cve, e in ENTRY.items()} for i in range(packages)}
    return json.dumps(doc, indent=1, ensure_ascii=False).encode()


def _whole(data: bytes) -> list:
    out = _Collector()
    parse_tracker_json(json.loads(data), out, ParseStats())
    return list(out.emit("debian"))


def _streamed(data: bytes) -> list:
    feed, stats = DebianFeed(), ParseStats()
    member = Member("tracker.json", data)
    assert feed.accepts_raw(member) == (len(data) >= TRACKER_STREAM_BYTES)
    list(feed.add(member, None, stats))
    return list(feed.finish(stats))


def test_streamed_tracker_gives_the_rows_of_the_whole_document() -> None:
    data = _tracker(50)
    assert _streamed(data) == _whole(data)
    assert list(iter_tracker_packages(b" {\n } ")) == []


@pytest.mark.parametrize("text, why", [
    (b'{"a": {"CVE-2023-0001": {}}', "expected ','"),
    (b'{"a" {}}', "expected ':'"),
    (b'{"a": {}} trailing', "data after the document"),
    (b'[{"a": 1}]', "expected '{'"),
    (b'{1: {}}', "must be a string"),
    (b'{"a": {"CVE-2023-0001": {"releases": [}}}', "invalid JSON"),
    (b'\xff{}', "not UTF-8"),
])
def test_malformed_tracker_text_is_a_feed_error(text: bytes, why: str) -> None:
    with pytest.raises(FeedError, match=why):
        list(iter_tracker_packages(text))


def _db_rows(cache: Path) -> list[tuple]:
    conn = sqlite3.connect(cache / "db" / schema.DB_FILENAME)
    try:
        return conn.execute("SELECT namespace, package, vuln_id, status, fixed_version, ranges FROM affected "
                            "ORDER BY 1, 2, 3").fetchall()
    finally:
        conn.close()


def test_import_of_a_large_tracker_json_through_the_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = _tracker(1)
    packages = TRACKER_STREAM_BYTES // len(data) * 2  # well above the streaming threshold
    big = _tracker(packages)
    assert len(big) > TRACKER_STREAM_BYTES
    (tmp_path / "feed").mkdir()
    (tmp_path / "feed" / "tracker.json").write_bytes(big)
    assert main(["db", "import", str(tmp_path / "feed"), "--cache-dir", str(tmp_path / "c"), "--no-progress"]) == 0
    rows = _db_rows(tmp_path / "c")
    expected = sum(len(a.affected) for a in _whole(big))
    assert len(rows) == expected == packages * 4
    assert ("Debian:12", "pkg0", "CVE-2023-00001", "fixed", "1.2-3+deb12u1",
            '[["ECOSYSTEM",[["introduced","0"],["fixed","1.2-3+deb12u1"]]]]') in rows
    assert "debian" in capsys.readouterr().err


def test_truncated_large_tracker_json_is_a_recorded_skip(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    big = _tracker(TRACKER_STREAM_BYTES // len(_tracker(1)) * 2)
    (tmp_path / "feed").mkdir()
    (tmp_path / "feed" / "tracker.json").write_bytes(big[: len(big) // 2])
    code = main(["db", "import", str(tmp_path / "feed"), "--cache-dir", str(tmp_path / "c"), "--no-progress"])
    err = capsys.readouterr().err
    assert code == 0 and "Traceback" not in err
    assert "debian: 1 malformed record(s) skipped" in err
    assert not [r for r in _db_rows(tmp_path / "c") if r[0].startswith("Debian")]  # all or nothing


@pytest.mark.parametrize("value", [
    [], ["a", "b"], ["caf\u00e9", "quote \" backslash \\ tab \t nl \n ctrl \x01 del \x7f", "\u2028"],
    [["ECOSYSTEM", [["introduced", "0"], ["fixed", "1:2.3-4"]]]],
    [["nvd", "3.1", "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", 9.8], ["ghsa", "4.0", "x", None]],
    ["lone surrogate \ud800"],
])
def test_compact_column_json_is_the_stdlib_encoding(value: list) -> None:
    assert schema._compact(value) == json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def test_encoders_round_trip() -> None:
    ranges = (Range("ECOSYSTEM", (("introduced", "0"), ("fixed", "2.0"))),)
    assert schema.decode_ranges(schema.encode_ranges(ranges)) == ranges
    cvss = (CVSS(source="nvd", version="3.1", vector="CVSS:3.1/AV:N", score=7.5),)
    assert schema.decode_cvss(schema.encode_cvss(cvss)) == cvss
    assert schema.encode_strings(()) == "[]" and schema.decode_strings("[]") == ()


def _osv(path: Path, vuln_id: str, eco: str, name: str) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    (path / f"{vuln_id}.json").write_text(json.dumps({
        "id": vuln_id, "modified": "2024-01-01T00:00:00Z", "details": "d" * 800, "aliases": ["CVE-2024-0001"],
        "affected": [{"package": {"ecosystem": eco, "name": name},
                      "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "2.0"}]}]}]}))
    return path


def test_a_file_with_the_former_without_rowid_table_is_read_and_copied(tmp_path: Path) -> None:
    """Files built before the rowid layout (vulnerabilities WITHOUT ROWID, same columns) still
    work: a scan's store reads them, and the next build copies their sources."""
    from layerscan.db.build import BuildInput, build_database
    from layerscan.db.store import Store

    db = tmp_path / "layerscan.db"
    build_database(db, [BuildInput((_osv(tmp_path / "pypi", "PYSEC-2024-1", "PyPI", "demo"),))])
    conn = sqlite3.connect(db, isolation_level=None)  # rewrite the table in the former layout
    columns = ", ".join(r[1] for r in conn.execute("PRAGMA table_info(vulnerabilities)"))
    conn.executescript(
        "BEGIN; ALTER TABLE vulnerabilities RENAME TO v_new; DROP INDEX vulnerabilities_key;"
        "DROP INDEX vulnerabilities_source;"
        "CREATE TABLE vulnerabilities (id TEXT NOT NULL, source TEXT NOT NULL, summary TEXT NOT NULL,"
        " details TEXT NOT NULL, published TEXT NOT NULL, modified TEXT NOT NULL, severities TEXT NOT NULL,"
        " cvss TEXT NOT NULL, cwes TEXT NOT NULL, refs TEXT NOT NULL, related TEXT NOT NULL,"
        f" PRIMARY KEY (id, source)) WITHOUT ROWID; INSERT INTO vulnerabilities SELECT {columns} FROM v_new;"
        "DROP TABLE v_new; CREATE INDEX vulnerabilities_source ON vulnerabilities (source); COMMIT;")
    assert "WITHOUT ROWID" in conn.execute("SELECT sql FROM sqlite_master WHERE name = 'vulnerabilities'").fetchone()[0]
    conn.close()
    with Store.open(db) as store:
        assert store.advisory("PYSEC-2024-1").details == "d" * 800
    build_database(db, [BuildInput((_osv(tmp_path / "go", "GO-2024-1", "Go", "example.com/demo"),))])
    with Store.open(db) as store:
        assert store.advisory("PYSEC-2024-1").details == "d" * 800  # copied from the former layout
        assert store.advisory("GO-2024-1") is not None
        assert [r.vuln_id for r in store.affected("PyPI", "demo")] == ["PYSEC-2024-1"]
    conn = sqlite3.connect(db)
    assert "WITHOUT ROWID" not in conn.execute("SELECT sql FROM sqlite_master WHERE name = 'vulnerabilities'").fetchone()[0]
    conn.close()
