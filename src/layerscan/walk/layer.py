"""Analyze one image layer from its stored blob, as a stream (never extracted).

Regular files go to the analyzers that want them; whiteout markers become
whiteouts / opaque dirs; directories, symlinks, devices and unwanted files are
recorded as paths they replace (symlinks with their target, resolved inside
the image). Links are never followed while walking: a hard link is resolved
only against content read earlier in the same layer, and a symlinked package
database directory is read in a second pass (``redirect``) once the stacked
image shows where the link leads. Likewise a lockfile whose sibling files
(``Analyzer.siblings``) the stacked image holds is read in a second pass
(``pairs``, see ``walk.siblings``).
"""

from __future__ import annotations

import stat
from typing import BinaryIO, Sequence, cast

from layerscan.analyzers.base import SPOOL_IN_MEMORY, Analyzer
from layerscan.errors import UnreadableLayerError
from layerscan.walk.analysis import LayerAnalysis, LayerBuilder, PathFilter
from layerscan.source.base import VerifyingReader
from layerscan.walk.decompress import UNSUPPORTED, OpenedLayer, UnsupportedCompressionError, open_layer_stream
from layerscan.walk.links import Redirects
from layerscan.walk.siblings import SiblingPlan
from layerscan.walk.tarstream import DIR, FILE, HARDLINK, MAX_LAYER_BYTES, MAX_LAYER_ENTRIES, SYMLINK, TarStream


def analyze_layer(blob: BinaryIO, what: str, analyzers: Sequence[Analyzer], *,
                  skip: PathFilter | None = None, max_bytes: int = MAX_LAYER_BYTES,
                  max_entries: int = MAX_LAYER_ENTRIES, threaded: bool = True, diff_id: str = "",
                  redirect: Redirects | None = None, pairs: SiblingPlan | None = None) -> LayerAnalysis:
    """Walk the stored blob (gzip / zstd / plain tar) to EOF and analyze its files.

    ``what`` names the layer in errors ("layer 2 (sha256:...)"). Raises
    UnreadableLayerError for a corrupt or truncated layer or an unsupported compression
    (after hashing the rest of the blob: DigestMismatchError when it was tampered with),
    ImageError for an oversized one; everything else is an Unknown.
    ``diff_id`` (when given) is checked against the uncompressed tar, hashed on the
    same pass that walks it: DigestMismatchError at EOF. ``redirect``: walk only the
    files at the real locations it maps, analysed under their declared paths
    (``links.merge_redirected`` puts the results back at the real paths). ``pairs``: walk only
    the files it names, analysed with the sibling content it holds (``siblings.merge_paired``).
    """
    opened = open_layer_stream(blob, threaded=threaded)
    try:
        builder = _walk_opened(opened, what, analyzers, skip, max_bytes, max_entries, diff_id, redirect, pairs)
    except UnreadableLayerError:
        # the rest of the blob is hashed (once a threaded decompressor has stopped reading it):
        # a tampered blob is a digest mismatch, not an unreadable layer
        if opened.stream is not opened.raw:
            _close_quietly(opened.stream)
        TarStream(opened.raw, what, max_bytes).drain()
        raise
    finally:
        if opened.stream is not opened.raw:
            _close_quietly(opened.stream)
    return builder.build(opened.compression)


def _walk_opened(opened: OpenedLayer, what: str, analyzers: Sequence[Analyzer], skip: PathFilter | None,
                 max_bytes: int, max_entries: int, diff_id: str, redirect: Redirects | None,
                 pairs: SiblingPlan | None = None) -> LayerBuilder:
    if opened.compression in UNSUPPORTED:
        raise UnsupportedCompressionError(
            f"{what}: unsupported compression ({opened.compression}); layers must be plain, gzip or zstd tar")
    stream = opened.stream
    if diff_id:
        check = f"{what} (uncompressed tar vs the config's diff_id)"
        stream = cast(BinaryIO, VerifyingReader(stream, diff_id, check))
    tar = TarStream(stream, what, max_bytes, max_entries)
    if redirect is not None:
        builder = LayerBuilder(analyzers, skip, record_shadowed=False)
        _walk_redirected(tar, builder, redirect)
    elif pairs is not None:
        builder = LayerBuilder(analyzers, skip, record_shadowed=False)
        _walk_paired(tar, builder, pairs)
    else:
        builder = LayerBuilder(analyzers, skip, keep_siblings=True)
        _walk(tar, builder)
    tar.drain()
    TarStream(opened.raw, what, max_bytes).drain()  # trailing bytes of the blob: digest check at EOF
    return builder


def _walk(tar: TarStream, builder: LayerBuilder) -> None:
    for entry in tar.entries():
        path = entry.path
        if not path or builder.add_whiteout_entry(path) or builder.skipped(path):
            continue
        kind = entry.kind
        if kind == FILE:
            builder.add_file(path, entry.mode | stat.S_IFREG, entry.size, tar.read_content,
                             lambda: tar.spool_content(SPOOL_IN_MEMORY))
        elif kind == DIR:
            builder.add_dir(path)
            if entry.overlay_opaque:
                builder.add_opaque_dir(path)
        elif entry.overlay_whiteout:
            builder.add_whiteout(path)
        elif kind == HARDLINK:
            builder.add_hardlink(path, entry.mode | stat.S_IFREG, entry.linkname)
        elif kind == SYMLINK:
            builder.add_symlink(path, entry.linkname)
        else:
            builder.add_other(path)


def _walk_redirected(tar: TarStream, builder: LayerBuilder, redirect: Redirects) -> None:
    for entry in tar.entries():
        alias = redirect.alias(entry.path) if entry.kind == FILE else None
        if alias is not None:
            builder.add_file(alias, entry.mode | stat.S_IFREG, entry.size, tar.read_content)


def _walk_paired(tar: TarStream, builder: LayerBuilder, pairs: SiblingPlan) -> None:
    for entry in tar.entries():
        if entry.kind == FILE and entry.path in pairs:
            builder.add_file(entry.path, entry.mode | stat.S_IFREG, entry.size, tar.read_content,
                             siblings=pairs.reader(entry.path))


def _close_quietly(stream: BinaryIO) -> None:
    try:
        stream.close()
    except Exception:  # noqa: BLE001 - closing after an error must not hide it
        pass
