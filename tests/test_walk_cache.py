"""The per-layer analysis cache (walk/cache.py)."""

from __future__ import annotations

import io
import json
from pathlib import Path

from layerscan.walk.cache import LayerCache, cache_key
from layerscan.walk.layer import analyze_layer

from fixtures.walk.walkhelpers import JsonPkgAnalyzer, StatusAnalyzer, status, tar_bytes


class StatusV2(StatusAnalyzer):
    version = 2


def key(analyzers=(StatusAnalyzer(), JsonPkgAnalyzer()), mode="image", skip=(), digest="sha256:aa",
        diff_id="sha256:bb") -> str:
    return cache_key(digest, diff_id, list(analyzers), mode, skip)


def test_key_covers_everything_that_changes_a_layer_analysis() -> None:
    base = key()
    assert key(analyzers=(JsonPkgAnalyzer(), StatusAnalyzer())) == base  # order does not matter
    variants = [key(analyzers=(StatusV2(), JsonPkgAnalyzer())), key(analyzers=(StatusAnalyzer(),)),
                key(mode="rootfs"), key(skip=("app",)), key(digest="sha256:cc"), key(diff_id="sha256:dd")]
    assert len({base, *variants}) == len(variants) + 1


def test_round_trip_and_atomic_replace(tmp_path: Path) -> None:
    la = analyze_layer(io.BytesIO(tar_bytes([("var/lib/dpkg/status", status(("a", "1")), "file"),
                                             ("etc/.wh.x", b"", "file")])), "layer 0", [StatusAnalyzer()])
    cache = LayerCache(tmp_path)
    assert cache.get("k") is None
    assert cache.put("k", la) and cache.get("k") == la
    assert cache.put("k", la) and cache.get("k") == la  # replacing an entry
    assert sorted(p.name for p in (tmp_path / "layers").iterdir()) == ["k.json"]
    json.loads((tmp_path / "layers" / "k.json").read_text())


def test_damaged_entries_are_misses(tmp_path: Path) -> None:
    cache = LayerCache(tmp_path)
    (tmp_path / "layers").mkdir()
    for name, content in {"empty": b"", "binary": b"\xff\xfe\x00", "list": b"[]", "deep": b"[" * 100000,
                          "old": b'{"format": 0}'}.items():
        (tmp_path / "layers" / f"{name}.json").write_bytes(content)
        assert cache.get(name) is None
    (tmp_path / "layers" / "dir.json").mkdir()
    assert cache.get("dir") is None


def test_clear_removes_entries_and_stale_temp_files(tmp_path: Path) -> None:
    cache = LayerCache(tmp_path)
    assert cache.clear() == 0
    la = analyze_layer(io.BytesIO(tar_bytes([("a/status", status(("a", "1")), "file")])), "layer 0",
                       [StatusAnalyzer()])
    cache.put("one", la)
    cache.put("two", la)
    (tmp_path / "layers" / ".two.123.tmp").write_text("{")
    (tmp_path / "layers" / "README").write_text("kept")
    assert cache.clear() == 3
    assert [p.name for p in (tmp_path / "layers").iterdir()] == ["README"]
    assert cache.get("one") is None
