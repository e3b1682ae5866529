"""The sequential tar walker and layer decompression (walk/tarstream.py, walk/decompress.py)."""

from __future__ import annotations

import gzip
import io
import tarfile
from pathlib import Path

import pytest
import zstandard
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from layerscan.errors import ImageError
from layerscan.walk.decompress import open_layer_stream, sniff
from layerscan.walk.tarstream import FILE, HARDLINK, OTHER, SYMLINK, TarStream, normalize_path, parse_pax

from fixtures.walk.walkhelpers import tar_bytes


def walk(data: bytes, read: bool = True, **kw) -> list[tuple[str, str, int, str, bytes]]:
    ts = TarStream(io.BytesIO(data), "layer 7 (sha256:abc)", **kw)
    return [(e.path, e.kind, e.size, e.linkname, ts.read_content() if read and e.kind == FILE else b"")
            for e in ts.entries()]


def tar_of_tree(root: Path, fmt: int) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=fmt) as tf:
        tf.add(root, arcname=".", recursive=True)
    return buf.getvalue()


def tarfile_view(data: bytes) -> list[tuple[str, str, int, bytes]]:
    out = []
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:") as tf:
        for m in tf:
            kind = FILE if m.isreg() else "dir" if m.isdir() else SYMLINK if m.issym() else HARDLINK if m.islnk() \
                else OTHER
            content = tf.extractfile(m).read() if m.isreg() else b""
            out.append((normalize_path(m.name), kind, m.size if m.isreg() else 0, content))
    return out


@pytest.mark.parametrize("fmt", [tarfile.USTAR_FORMAT, tarfile.GNU_FORMAT, tarfile.PAX_FORMAT])
def test_walk_matches_tarfile_on_real_package_databases(corpus: Path, fmt: int) -> None:
    root = corpus / "fixtures" / "rpm"
    data = tar_of_tree(root, fmt)
    ours = [(p, k, s, c) for p, k, s, _, c in walk(data)]
    assert ours == tarfile_view(data)
    assert sum(1 for _, k, _, _ in ours if k == FILE) == sum(1 for p in root.rglob("*") if p.is_file())


def test_skipping_unread_content_keeps_alignment(corpus: Path) -> None:
    data = tar_of_tree(corpus / "fixtures" / "apk", tarfile.PAX_FORMAT)
    ts = TarStream(io.BytesIO(data), "layer 0")
    installed = None
    for entry in ts.entries():
        if entry.path.endswith("lib/apk/db/installed"):
            installed = ts.read_content()
    expected = (corpus / "fixtures/apk/trivy-apk-happy-path/lib/apk/db/installed").read_bytes()
    assert installed == expected


def test_long_names_links_and_special_types() -> None:
    long = "usr/lib/" + "x" * 150 + "/METADATA"
    for fmt in (tarfile.GNU_FORMAT, tarfile.PAX_FORMAT):
        data = tar_bytes([(long, b"meta", "file"), ("bin/sh", None, "symlink:/" + "y" * 120),
                          ("bin/hard", None, "hardlink:./" + long), ("run/fifo", None, "fifo"),
                          ("etc", None, "dir")], fmt)
        entries = walk(data)
        assert entries[0] == (long, FILE, 4, "", b"meta")
        assert entries[1][:2] == ("bin/sh", SYMLINK) and entries[1][3] == "/" + "y" * 120
        assert entries[2][:2] == ("bin/hard", HARDLINK) and entries[2][3] == long
        assert entries[3][:2] == ("run/fifo", OTHER)
        assert entries[4][:3] == ("etc", "dir", 0)


@pytest.mark.parametrize("raw,expected", [
    ("../../etc/x", "etc/x"), ("/etc/passwd", "etc/passwd"), ("./a/./b//c", "a/b/c"),
    ("a/../../../b", "b"), ("a/b/..", "a"), ("usr/lib/os-release", "usr/lib/os-release"), ("./", ""),
    ("etc/x\x00../../y", "etc/x"),
])
def test_normalize_path(raw: str, expected: str) -> None:
    assert normalize_path(raw) == expected


def test_traversal_and_absolute_entries_are_neutralised() -> None:
    data = tar_bytes([("../../etc/x", b"1", "file"), ("/etc/shadow", b"2", "file"), ("a/../../b", b"3", "file")],
                     tarfile.GNU_FORMAT)
    assert [e[0] for e in walk(data)] == ["etc/x", "etc/shadow", "b"]


def test_non_utf8_names_become_valid_strings() -> None:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.GNU_FORMAT, encoding="latin-1") as tf:
        info = tarfile.TarInfo("caf\xe9/\xff.txt")
        info.size = 1
        tf.addfile(info, io.BytesIO(b"x"))
    [(path, kind, *_)] = walk(buf.getvalue())
    assert kind == FILE and path == "caf\\xe9/\\xff.txt"
    path.encode("utf-8")  # never a surrogate


def test_truncated_archives_raise_image_error_naming_the_layer() -> None:
    data = tar_bytes([("var/lib/dpkg/status", b"P" * 3000, "file"), ("etc/os-release", b"ID=x\n", "file")])
    for cut in (700, 1024 + 100, 1536 + 3, 3584 + 100, 3584 + 512 + 3):  # members end at 4608
        with pytest.raises(ImageError, match=r"layer 7 \(sha256:abc\).*truncated"):
            walk(data[:cut])


def test_bad_header_checksum_raises_image_error() -> None:
    data = bytearray(tar_bytes([("etc/os-release", b"ID=debian\n", "file")], tarfile.USTAR_FORMAT))
    data[0] ^= 0x20  # change the name without fixing the checksum
    with pytest.raises(ImageError, match="bad header checksum"):
        walk(bytes(data))


def test_end_marker_missing_at_block_boundary_is_tolerated() -> None:
    data = tar_bytes([("a", b"x" * 10, "file")], tarfile.USTAR_FORMAT)
    assert walk(data[:1024]) == [("a", FILE, 10, "", b"x" * 10)]


def test_oversized_pax_header_and_malformed_pax() -> None:
    big = tar_bytes([("a", b"", "file")], tarfile.USTAR_FORMAT)
    header = bytearray(big[:512])
    header[156:157] = b"x"
    header[124:136] = b"%011o\x00" % (64 << 20)
    header[148:156] = b"        "
    header[148:156] = b"%06o\x00 " % sum(header)
    with pytest.raises(ImageError, match="extended header"):
        walk(bytes(header) + b"\0" * 1024)
    assert parse_pax(b"18 path=etc/hosts\n") == {"path": b"etc/hosts"}
    for bad in (b"99 path=x\n", b"x path=y\n", b"9 pathx\n\n"):
        with pytest.raises(ValueError):
            parse_pax(bad)


def test_layer_size_limit_stops_decompression_bombs() -> None:
    data = gzip.compress(tar_bytes([("zeros", bytes(4 << 20), "file")]))
    with pytest.raises(ImageError, match="larger than"):
        TarStream(open_layer_stream(io.BytesIO(data)).stream, "layer 0", max_bytes=1 << 20).drain()


def test_entry_count_limit() -> None:
    data = tar_bytes([(f"d/{i}", b"", "file") for i in range(30)])
    assert len(walk(data, max_entries=30)) == 30
    with pytest.raises(ImageError, match="more than 29 entries"):
        walk(data, max_entries=29)


@pytest.mark.parametrize("compression", ["gzip", "gzip-multi", "zstd", "none"])
@pytest.mark.parametrize("threaded", [True, False])
def test_compression_is_sniffed_from_magic_bytes(compression: str, threaded: bool) -> None:
    tar = tar_bytes([("etc/os-release", b"ID=alpine\n", "file"), ("lib/apk/db/installed", b"P:musl\n", "file")])
    blob = {"gzip": lambda: gzip.compress(tar),
            "gzip-multi": lambda: gzip.compress(tar[:1000]) + gzip.compress(tar[1000:]),
            "zstd": lambda: zstandard.ZstdCompressor().compress(tar), "none": lambda: tar}[compression]()
    opened = open_layer_stream(io.BytesIO(blob), threaded=threaded)
    assert opened.compression == compression.split("-")[0]
    assert sniff(blob[:4]) == opened.compression
    ts = TarStream(opened.stream, "layer 0")
    assert [(e.path, ts.read_content()) for e in ts.entries()] == [
        ("etc/os-release", b"ID=alpine\n"), ("lib/apk/db/installed", b"P:musl\n")]


@pytest.mark.parametrize("blob", [
    b"\x1f\x8b" + b"garbage" * 20,
    gzip.compress(b"x" * 5000)[:30],
    b"\x28\xb5\x2f\xfd" + b"garbage" * 20,
])
def test_corrupt_compressed_layers_raise_image_error(blob: bytes) -> None:
    with pytest.raises(ImageError, match="layer 3"):
        ts = TarStream(open_layer_stream(io.BytesIO(blob)).stream, "layer 3")
        list(ts.entries())


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.integers(0, 4095), st.integers(0, 255)), max_size=8))
def test_damaged_archives_never_raise_anything_but_image_error(flips: list[tuple[int, int]]) -> None:
    data = bytearray(tar_bytes([("var/lib/dpkg/status", b"Package: a\n" * 40, "file"),
                                ("x/" + "l" * 120, b"y", "file"), ("s", None, "symlink:/etc/shadow")]))
    for pos, value in flips:
        data[pos % len(data)] = value
    try:
        walk(bytes(data))
    except ImageError:
        pass
