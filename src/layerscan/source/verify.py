"""Digest checks shared by the sources: whole small blobs, and streamed layers with progress."""

from __future__ import annotations

import hashlib
import io
from typing import BinaryIO

from layerscan.errors import DigestMismatchError, ImageError, UnreadableLayerError
from layerscan.progress import NULL_PROGRESS, Progress, ProgressTask
from layerscan.source.base import VerifyingReader

_BUFFER = 1024 * 1024


def verify_bytes(data: bytes, digest: str, what: str) -> bytes:
    """Return ``data`` if it hashes to ``digest``, else raise DigestMismatchError naming ``what``."""
    algo, _, expected = digest.partition(":")
    if algo not in ("sha256", "sha512") or not expected:
        raise ImageError(f"{what}: unsupported digest {digest!r}")
    actual = hashlib.new(algo, data).hexdigest()
    if actual != expected.lower():
        raise DigestMismatchError(
            f"digest mismatch for {what}: expected {digest}, got {algo}:{actual}")
    return data


def sha256_digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


class _TrackedReader(VerifyingReader):
    """VerifyingReader that also refuses more than ``limit`` bytes and closes its progress task."""

    def __init__(self, raw: BinaryIO, digest: str, what: str, task: ProgressTask, limit: int) -> None:
        super().__init__(raw, digest, what, on_progress=task.advance)
        self._task = task
        self._limit = limit
        self._seen = 0

    def readinto(self, b) -> int:  # type: ignore[override]
        try:
            n = super().readinto(b)
        except DigestMismatchError:
            if 0 <= self._seen < self._limit:  # ends early: cut short, not tampered with
                raise UnreadableLayerError(f"{self._what} is truncated: {self._seen} of the {self._limit} "
                                           "bytes its descriptor declares") from None
            raise
        self._seen += n
        if 0 <= self._limit < self._seen:
            raise ImageError(f"{self._what}: more data than the {self._limit} bytes its descriptor declares")
        return n

    def close(self) -> None:
        try:
            self._task.close()
        finally:
            super().close()


def verified_stream(raw: BinaryIO, digest: str, what: str, *, size: int = -1,
                    progress: Progress = NULL_PROGRESS, description: str = "") -> BinaryIO:
    """Buffered stream over ``raw`` that raises DigestMismatchError at EOF on a bad digest.

    ``size`` (when >= 0) bounds the bytes accepted and sizes the progress task.
    """
    task = progress.task(description or what, total=size if size >= 0 else None)
    try:
        reader = _TrackedReader(raw, digest, what, task, size)
    except BaseException:
        task.close()
        raw.close()
        raise
    return io.BufferedReader(reader, _BUFFER)  # type: ignore[return-value]
