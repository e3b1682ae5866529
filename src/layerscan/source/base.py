"""ImageSource contract (DESIGN.md §2).

A source yields the image config and the layers in order. ``open_layer``
returns a *compressed-as-stored* binary stream whose digest is verified while
it is read: reading it to EOF raises DigestMismatchError if the bytes do not
hash to the descriptor's digest. The walker sniffs the compression (gzip, zstd,
plain) from the media type and the magic bytes.
"""

from __future__ import annotations

import hashlib
import io
import queue
import threading
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import BinaryIO, Callable

from layerscan.errors import DigestMismatchError, ImageError
from layerscan.limits import Limits
from layerscan.textload import LoadError, parse_json


@dataclass(frozen=True)
class LayerDescriptor:
    index: int  # position among the filesystem layers (0 = base)
    digest: str  # digest of the stored blob ("sha256:..."); equals diff_id for uncompressed layers
    diff_id: str  # from the config's rootfs.diff_ids
    media_type: str
    size: int  # stored size in bytes (-1 if unknown)
    created_by: str = ""


@dataclass(frozen=True)
class ImageConfig:
    digest: str  # "sha256:..." of the raw config bytes = the image ID
    raw: bytes

    def parsed(self) -> dict:
        return load_json_document(self.raw, f"image config {self.digest}")


def load_json_document(raw: bytes, what: str) -> dict:
    """A JSON object from an image document; ImageError naming ``what`` otherwise."""
    try:
        doc = parse_json(raw)
    except LoadError as exc:
        raise ImageError(f"{what} is not valid JSON: {exc.detail}") from None
    if not isinstance(doc, dict):
        raise ImageError(f"{what} is not a JSON object")
    return doc


class ImageSource(ABC):
    """An opened image. Use as a context manager; ``close`` releases files/sessions."""

    name: str  # what the user asked for (artifact name)
    repo_tags: tuple[str, ...] = ()
    repo_digests: tuple[str, ...] = ()
    annotations: tuple[tuple[str, str], ...] = ()  # manifest annotations, when the format has them

    @abstractmethod
    def config(self) -> ImageConfig: ...

    @abstractmethod
    def layers(self) -> list[LayerDescriptor]: ...

    @abstractmethod
    def open_layer(self, layer: LayerDescriptor) -> BinaryIO:
        """Stream of the stored blob, digest-verified at EOF."""

    def verify_layer(self, layer: LayerDescriptor) -> None:
        """Check that the stored blob has ``layer.digest`` (DigestMismatchError otherwise) before a
        cached analysis of that digest is trusted: hashing only, no inflating or walking. Sources
        that do not hold the bytes (a registry: content-addressed, would mean a download) override it."""
        with self.open_layer(layer) as stream:
            while stream.read(1 << 20):
                pass

    def blob_identity(self, layer: LayerDescriptor) -> str:
        """A stat fingerprint of the file holding the layer's stored bytes (``blobstore.file_identity``),
        or "" (no local file): the scan remembers which identities were verified to which digest."""
        return ""

    def close(self) -> None:  # noqa: B027 - optional hook
        pass

    def __enter__(self) -> "ImageSource":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def created_by_per_layer(config: dict, n_layers: int) -> list[str]:
    """Map history entries to filesystem layers, skipping empty_layer entries."""
    steps = [h.get("created_by", "") or "" for h in config.get("history") or []
             if isinstance(h, dict) and not h.get("empty_layer")]
    if len(steps) != n_layers:
        # history does not line up with the layers; pad/truncate but never shift blame
        steps = (steps + [""] * n_layers)[:n_layers] if len(steps) < n_layers else steps[-n_layers:]
    return steps


def diff_ids(config: dict) -> list[str]:
    rootfs = config.get("rootfs") or {}
    ids = rootfs.get("diff_ids") if isinstance(rootfs, dict) else None
    if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
        raise ImageError("image config has no rootfs.diff_ids list")
    return ids


def read_into(stream: BinaryIO, buffer: bytearray | memoryview) -> int:
    """``stream.readinto(buffer)``, also for streams that only have ``read``; 0 at EOF."""
    if hasattr(stream, "readinto"):
        return stream.readinto(buffer) or 0
    data = stream.read(len(buffer))
    buffer[: len(data)] = data
    return len(data)


class ProgressReader(io.RawIOBase):
    """Wraps a stream (closing it with itself); ``on_progress`` (if given) is called with
    the number of bytes read each time."""

    def __init__(self, raw: BinaryIO, on_progress: Callable[[int], None] | None = None) -> None:
        super().__init__()
        self._raw = raw
        self._progress = on_progress

    def readable(self) -> bool:
        return True

    def readinto(self, b) -> int:  # type: ignore[override]
        n = read_into(self._raw, b)
        if n and self._progress:
            self._progress(n)
        return n

    def close(self) -> None:
        try:
            self._raw.close()
        finally:
            super().close()


class _HashThread:
    """Hashes chunks on a helper thread: hashlib releases the GIL on large updates, so
    verifying a layer overlaps with walking its tar on the other core. The queue is
    bounded (at most ``depth`` chunks in flight), so memory stays small."""

    def __init__(self, algo: str, depth: int = 4) -> None:
        self.hash = hashlib.new(algo)
        self._queue: queue.Queue[bytes | None] = queue.Queue(maxsize=depth)
        self._thread = threading.Thread(target=self._run, name="layerscan-hash", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while (chunk := self._queue.get()) is not None:
            self.hash.update(chunk)

    def update(self, chunk: bytes) -> None:
        self._queue.put(chunk)

    def hexdigest(self) -> str:
        self._queue.put(None)
        self._thread.join()
        return self.hash.hexdigest()


class VerifyingReader(ProgressReader):
    """Wraps a stream; hashes what passes through; checks the digest at EOF."""

    def __init__(self, raw: BinaryIO, digest: str, what: str,
                 on_progress: Callable[[int], None] | None = None) -> None:
        algo, _, expected = digest.partition(":")
        if algo not in ("sha256", "sha512") or not expected:
            raise ImageError(f"{what}: unsupported digest {digest!r}")
        super().__init__(raw, on_progress)
        self._algo = algo
        self._hasher: _HashThread | None = None
        self._expected = expected.lower()
        self._what = what
        self._digest = digest
        self._done = False

    def readinto(self, b) -> int:  # type: ignore[override]
        n = super().readinto(b)
        if self._hasher is None:
            self._hasher = _HashThread(self._algo)
        if n:
            self._hasher.update(bytes(memoryview(b)[:n]))
        elif not self._done:
            self._done = True
            got = self._hasher.hexdigest()
            if got != self._expected:
                raise DigestMismatchError(
                    f"digest mismatch for {self._what}: expected {self._digest}, got {self._algo}:{got}")
        return n

    def close(self) -> None:
        if self._hasher is not None and not self._done:
            self._done = True
            self._hasher.hexdigest()  # stop the helper thread of an abandoned stream
        super().close()


@dataclass(frozen=True)
class SourceOptions:
    """How to open an image; filled from CLI flags / env / config."""

    platform: str = ""  # "os/arch[/variant]"; "" = linux/<host arch> (amd64 default)
    username: str = ""
    password: str = ""
    insecure: bool = False  # plain HTTP and unverified TLS allowed for the registry
    docker_config: str = ""  # path of a docker config.json ("" = ~/.docker/config.json / $DOCKER_CONFIG)
    timeout: float = 300.0  # --timeout: deadline of a whole pull / feed download
    retries: int = 4
    retry_max_wait: float = 30.0  # cap (seconds) on one backoff sleep, Retry-After included
    limits: Limits = Limits()  # the sources use max_spool_bytes (a .tar.gz archive's temp spool)
