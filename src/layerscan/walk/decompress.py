"""Open a stored layer blob as a plain tar stream.

The compression is sniffed from the magic bytes (media types can lie): gzip
(``1f 8b``), zstd (``28 b5 2f fd``) or plain tar. gzip goes through ISA-L
(``isal``) when it is importable — more than twice as fast as zlib — and
through the standard library otherwise; concatenated gzip members are read as
one stream. zstd frames are decoded with a bounded window. xz and bzip2 are
recognised and refused (``UnsupportedCompressionError``), not mistaken for a
corrupt tar.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import BinaryIO

from layerscan.errors import UnreadableLayerError

GZIP_MAGIC = b"\x1f\x8b"
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
XZ_MAGIC = b"\xfd7zXZ\x00"
BZIP2_MAGIC = b"BZh"
UNSUPPORTED = frozenset({"xz", "bzip2"})  # recognised, so reported as such (not as a corrupt tar)
READ_BUFFER = 1 << 20
ZSTD_MAX_WINDOW = 1 << 27  # 128 MiB: the zstd default limit; larger windows are refused

try:  # optional accelerator
    from isal import igzip as _igzip
    from isal import igzip_threaded as _igzip_threaded
except ImportError:  # pragma: no cover - depends on the environment
    _igzip = None  # type: ignore[assignment]
    _igzip_threaded = None  # type: ignore[assignment]


@dataclass(frozen=True)
class OpenedLayer:
    """A layer's uncompressed tar stream and what the blob turned out to be."""

    stream: BinaryIO
    compression: str  # "gzip" | "zstd" | "none" (or "xz" | "bzip2": refused by the walker)
    raw: BinaryIO  # the buffered stored blob, to drain to EOF after the tar ends


class UnsupportedCompressionError(UnreadableLayerError):
    """A layer compressed with xz or bzip2 (legacy ``docker load`` accepted them; no OCI media type)."""


def sniff(head: bytes) -> str:
    if head.startswith(GZIP_MAGIC):
        return "gzip"
    if head.startswith(ZSTD_MAGIC):
        return "zstd"
    if head.startswith(XZ_MAGIC):
        return "xz"
    if head.startswith(BZIP2_MAGIC) and head[3:4].isdigit() and head[3:4] != b"0":
        return "bzip2"
    return "none"


def _buffered(raw: BinaryIO) -> io.BufferedReader:
    if isinstance(raw, io.BufferedReader):
        return raw
    return io.BufferedReader(raw, buffer_size=READ_BUFFER)  # type: ignore[arg-type]


def _gunzip(raw: io.BufferedReader, threaded: bool) -> BinaryIO:
    if _igzip_threaded is not None and threaded:
        # decompression runs in a helper thread without the GIL, overlapping the tar walk
        return _igzip_threaded.open(raw, "rb", threads=1)  # type: ignore[return-value]
    if _igzip is not None:
        return _igzip.IGzipFile(fileobj=raw, mode="rb")  # type: ignore[return-value]
    import gzip

    return gzip.GzipFile(fileobj=raw, mode="rb")  # type: ignore[return-value]


def _unzstd(raw: io.BufferedReader) -> BinaryIO:
    import zstandard

    dctx = zstandard.ZstdDecompressor(max_window_size=ZSTD_MAX_WINDOW)
    # closefd=False: closing the tar stream leaves the blob open, to be drained (digest check)
    return dctx.stream_reader(raw, read_size=READ_BUFFER, read_across_frames=True,  # type: ignore[return-value]
                              closefd=False)


def open_layer_stream(raw: BinaryIO, threaded: bool = True) -> OpenedLayer:
    """Wrap a stored blob stream; returns the uncompressed tar stream.

    Errors from the decompressors (EOFError, OSError, zlib/ISA-L/zstd errors)
    surface on ``read``; the tar walker turns them into ImageError naming the layer.
    """
    buffered = _buffered(raw)
    compression = sniff(buffered.peek(6)[:6])
    if compression == "gzip":
        return OpenedLayer(_gunzip(buffered, threaded), compression, buffered)
    if compression == "zstd":
        return OpenedLayer(_unzstd(buffered), compression, buffered)
    return OpenedLayer(buffered, compression, buffered)
