"""OCI image layout (https://github.com/opencontainers/image-spec/blob/main/image-layout.md),
as a directory or as a tar (``oci-archive``).

``index.json`` lists manifests; ``TAG`` picks the one whose
``org.opencontainers.image.ref.name`` annotation matches, ``sha256:...`` picks
by digest. Nested indexes are followed and resolved by platform. Every blob is
digest-checked (small documents at once, layers while streaming).
"""

from __future__ import annotations

from pathlib import Path
from typing import BinaryIO

from layerscan.errors import ImageError
from layerscan.progress import NULL_PROGRESS, Progress
from layerscan.source.base import LayerDescriptor, load_json_document
from layerscan.source.blobstore import BlobStore, DirStore, open_tar_store
from layerscan.source.manifest import (
    INDEX_TYPES,
    MAX_CONFIG_BYTES,
    MAX_INDEX_DEPTH,
    MAX_MANIFEST_BYTES,
    Descriptor,
    ImageManifest,
    ManifestImageSource,
    check_digest,
    document_media_type,
    ensure_supported,
    parse_image_manifest,
    parse_index,
    select_platform,
)
from layerscan.source.verify import verified_stream, verify_bytes

REF_NAME = "org.opencontainers.image.ref.name"


def blob_path(digest: str) -> str:
    algo, _, hexpart = check_digest(digest, "blob").partition(":")
    return f"blobs/{algo}/{hexpart}"


def is_oci_layout(store: BlobStore) -> bool:
    return store.exists("index.json") and store.exists("oci-layout")


class OciLayoutReader:
    """Resolves a manifest inside an OCI layout held by a BlobStore."""

    def __init__(self, store: BlobStore, platform: str = "") -> None:
        self.store = store
        self.platform = platform

    def read_blob(self, digest: str, limit: int, what: str) -> bytes:
        return verify_bytes(self.store.read(blob_path(digest), limit), digest, what)

    def open_blob(self, digest: str, size: int, what: str, progress: Progress) -> BinaryIO:
        raw = self.store.open(blob_path(digest))
        return verified_stream(raw, digest, what, size=size, progress=progress)

    def top_entries(self) -> list[Descriptor]:
        raw = self.store.read("index.json", MAX_MANIFEST_BYTES)
        return parse_index(load_json_document(raw, f"{self.store.description}: index.json"),
                           f"{self.store.description}: index.json")

    def select(self, tag: str = "", digest: str = "") -> Descriptor:
        entries = self.top_entries()
        where = self.store.description
        if digest:
            check_digest(digest, where)
            for entry in entries:
                if entry.digest == digest:
                    return entry
            if self.store.exists(blob_path(digest)):
                return Descriptor(media_type="", digest=digest, size=-1)
            raise ImageError(f"{where}: no manifest {digest}")
        if tag:
            for entry in entries:
                if entry.annotation(REF_NAME) == tag:
                    return entry
            raise ImageError(f"{where}: tag {tag!r} not found (available: {_tags(entries)})")
        if len(entries) == 1:
            return entries[0]
        if entries and all(e.platform for e in entries):
            return select_platform(entries, self.platform, where)
        raise ImageError(f"{where}: {len(entries)} manifests in index.json; pick one with PATH:TAG "
                         f"or PATH@sha256:... (tags: {_tags(entries)})")

    def resolve(self, entry: Descriptor) -> ImageManifest:
        """Follow indexes from ``entry`` down to a single image manifest."""
        return self.resolve_in_index(entry, ())[0]

    def resolve_in_index(self, entry: Descriptor, entries: tuple[Descriptor, ...]
                         ) -> tuple[ImageManifest, tuple[Descriptor, ...]]:
        """``resolve``, and the entries of the index the image manifest was picked from
        (``entries``, those holding ``entry``, when it is an image manifest itself)."""
        for _ in range(MAX_INDEX_DEPTH + 1):
            what = f"manifest {entry.digest}"
            raw = self.read_blob(entry.digest, MAX_MANIFEST_BYTES, what)
            doc = load_json_document(raw, what)
            media_type = document_media_type(doc, entry.media_type)
            ensure_supported(media_type, what)
            if media_type not in INDEX_TYPES:
                return parse_image_manifest(doc, entry.digest, media_type, what), entries
            entries = tuple(parse_index(doc, what))
            entry = select_platform(list(entries), self.platform, what)
        raise ImageError(f"{self.store.description}: indexes nested deeper than {MAX_INDEX_DEPTH}")


def _tags(entries: list[Descriptor]) -> str:
    return ", ".join(sorted({e.annotation(REF_NAME) for e in entries if e.annotation(REF_NAME)})) or "none"


class BlobImageSource(ManifestImageSource):
    """An image whose manifest, config and layers are blobs in a BlobStore (OCI layout)."""

    def __init__(self, reader: OciLayoutReader, manifest: ImageManifest, name: str,
                 progress: Progress = NULL_PROGRESS, repo_tags: tuple[str, ...] = ()) -> None:
        self.name = name
        self.repo_tags = repo_tags
        self._reader = reader
        self.manifest = manifest
        self._progress = progress

    def read_config(self, digest: str) -> bytes:
        return self._reader.read_blob(digest, MAX_CONFIG_BYTES, f"image config {digest}")

    def read_manifest(self, digest: str) -> bytes:
        return self._reader.read_blob(digest, MAX_MANIFEST_BYTES, f"manifest {digest}")

    def read_blob(self, digest: str, limit: int, what: str) -> bytes:
        return self._reader.read_blob(digest, limit, what)

    def open_layer(self, layer: LayerDescriptor) -> BinaryIO:
        return self._reader.open_blob(layer.digest, layer.size, f"layer {layer.digest}", self._progress)

    def blob_identity(self, layer: LayerDescriptor) -> str:
        return self._reader.store.identity(blob_path(layer.digest))

    def close(self) -> None:
        self._reader.store.close()


def open_oci_store(store: BlobStore, name: str, *, tag: str = "", digest: str = "",
                   platform: str = "", progress: Progress = NULL_PROGRESS) -> BlobImageSource:
    """Open the selected image of an OCI layout; closes ``store`` on failure."""
    try:
        reader = OciLayoutReader(store, platform)
        entry = reader.select(tag=tag, digest=digest)
        manifest, entries = reader.resolve_in_index(entry, tuple(reader.top_entries()))
        ref_tag = entry.annotation(REF_NAME)
        source = BlobImageSource(reader, manifest, name, progress,
                                 repo_tags=(ref_tag,) if ref_tag and ":" in ref_tag else ())
        source.index_entries = entries
        return source
    except BaseException:
        store.close()
        raise


def open_oci_layout(path: Path, *, tag: str = "", digest: str = "", platform: str = "",
                    progress: Progress = NULL_PROGRESS) -> BlobImageSource:
    """Open an OCI layout directory or tar at ``path``."""
    store: BlobStore = DirStore(path) if path.is_dir() else open_tar_store(path, f"OCI archive {path}")
    if not is_oci_layout(store):
        store.close()
        raise ImageError(f"{path}: not an OCI layout (no index.json / oci-layout)")
    name = str(path) + (f":{tag}" if tag else f"@{digest}" if digest else "")
    return open_oci_store(store, name, tag=tag, digest=digest, platform=platform, progress=progress)
