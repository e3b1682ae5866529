"""Hostile feed input (tests/hostile/feeds.py): every bad file is a counted skip, bounded in time and memory."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from hostile.feeds import BILLION_LAUGHS, GARBAGE, WRONG_TYPES, feed_zip_bomb
from hostile.lockfiles import DEEP_JSON
from layerscan.db.build import import_paths
from layerscan.db.feeds.base import ParseStats
from layerscan.db.feeds.members import iter_members
from layerscan.db.feeds.osv import OsvFeed
from layerscan.db.store import Store


def test_yaml_alias_bomb_is_refused(tmp_path: Path) -> None:
    (tmp_path / "bomb.yaml").write_text(BILLION_LAUGHS)
    stats = ParseStats()
    assert list(OsvFeed().parse(tmp_path, stats)) == []
    assert stats.skipped == 1 and "aliases" in stats.warnings[0]


def test_deep_json_and_binary_garbage(tmp_path: Path) -> None:
    (tmp_path / "deep.json").write_bytes(DEEP_JSON)
    (tmp_path / "garbage.json").write_bytes(GARBAGE)
    (tmp_path / "wrong-types.json").write_bytes(WRONG_TYPES)
    result = import_paths(tmp_path / "layerscan.db", [tmp_path])
    assert result.skipped == {"import": 2, "osv": 1}


def test_oversized_zip_member_is_skipped(tmp_path: Path) -> None:
    bomb = tmp_path / "bomb.zip"
    bomb.write_bytes(feed_zip_bomb())  # 2 MiB of spaces, compressed to a few KB, and a small ok.json
    stats = ParseStats()
    names = [m.name for m in iter_members(bomb, stats, limit=1024 * 1024)]
    assert names == ["ok.json"] and stats.skipped == 1


def test_symlinks_are_not_followed(tmp_path: Path) -> None:
    feed = tmp_path / "feed"
    feed.mkdir()
    outside = tmp_path / "secret.json"
    outside.write_text(json.dumps({"id": "GO-2", "modified": "x", "affected": []}))
    (feed / "link.json").symlink_to(outside)
    assert list(iter_members(feed, ParseStats())) == []


def test_concurrent_builders_serialise(tmp_path: Path) -> None:
    feeds = []
    for n in range(2):
        d = tmp_path / f"in{n}"
        d.mkdir()
        (d / "a.json").write_text(json.dumps({"id": f"GO-{n}", "modified": "2024-01-01T00:00:00Z", "affected": [
            {"package": {"ecosystem": f"Eco{n}", "name": "p"}, "versions": ["1.0"]}]}))
        feeds.append(d)
    db = tmp_path / "layerscan.db"
    code = "import sys; from layerscan.db.build import import_paths; import_paths(sys.argv[1], [sys.argv[2]])"
    procs = [subprocess.Popen([sys.executable, "-c", code, str(db), str(d)]) for d in feeds]
    assert [p.wait() for p in procs] == [0, 0]
    with Store.open(db) as store:  # both builds landed, one after the other, each keeping the other's source
        assert {r.vuln_id for ns in ("Eco0", "Eco1") for r in store.affected(ns, "p")} == {"GO-0", "GO-1"}
