"""Analyze one image layer from its stored blob, as a stream (never extracted).

Regular files go to the analyzers that want them; whiteout markers become
whiteouts / opaque dirs; symlinks, devices and unwanted files are recorded
only as paths they replace. Links are never followed: a symlink's target is
not read at all, and a hard link is resolved only against content read
earlier in the same layer.
"""

from __future__ import annotations

import stat
from typing import BinaryIO, Sequence

from layerscan.analyzers.base import Analyzer
from layerscan.walk.analysis import LayerAnalysis, LayerBuilder, PathFilter
from layerscan.walk.decompress import open_layer_stream
from layerscan.walk.tarstream import DIR, FILE, HARDLINK, MAX_LAYER_BYTES, TarStream


def analyze_layer(blob: BinaryIO, what: str, analyzers: Sequence[Analyzer], *,
                  skip: PathFilter | None = None, max_bytes: int = MAX_LAYER_BYTES,
                  threaded: bool = True) -> LayerAnalysis:
    """Walk the stored blob (gzip / zstd / plain tar) to EOF and analyze its files.

    ``what`` names the layer in errors ("layer 2 (sha256:...)"). Raises ImageError
    for a corrupt, truncated or oversized layer; everything else is an Unknown.
    """
    opened = open_layer_stream(blob, threaded=threaded)
    try:
        tar = TarStream(opened.stream, what, max_bytes)
        builder = LayerBuilder(analyzers, skip)
        _walk(tar, builder)
        tar.drain()
        TarStream(opened.raw, what, max_bytes).drain()  # trailing bytes of the blob: digest check at EOF
    finally:
        if opened.stream is not opened.raw:
            _close_quietly(opened.stream)
    return builder.build(opened.compression)


def _walk(tar: TarStream, builder: LayerBuilder) -> None:
    for entry in tar.entries():
        path = entry.path
        if not path or builder.add_whiteout_entry(path) or builder.skipped(path):
            continue
        kind = entry.kind
        if kind == FILE:
            builder.add_file(path, entry.mode | stat.S_IFREG, entry.size, tar.read_content)
        elif kind == DIR:
            if entry.overlay_opaque:
                builder.add_opaque_dir(path)
        elif entry.overlay_whiteout:
            builder.add_whiteout(path)
        elif kind == HARDLINK:
            builder.add_hardlink(path, entry.mode | stat.S_IFREG, entry.linkname)
        else:
            builder.add_other(path)


def _close_quietly(stream: BinaryIO) -> None:
    try:
        stream.close()
    except Exception:  # noqa: BLE001 - closing after an error must not hide it
        pass
