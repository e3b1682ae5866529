"""``docker save`` archives (.tar, or .tar.gz / .tgz).

``manifest.json`` lists ``Config``, ``RepoTags`` and ``Layers`` (paths inside
the archive). Docker < 25 writes ``<id>/layer.tar`` and ``<image id>.json``;
Docker 25+ writes ``blobs/sha256/<hex>`` (the archive is then also an OCI
layout). Layers are normally uncompressed, so the blob digest is the diff_id
and is verified as such while streaming. A compressed layer (gzip, zstd; xz and
bzip2 are recognised and refused by the walker) is named by its compressed
digest (Docker 25 ``blobs/sha256/<hex>``) or, stored under a name that carries
no digest, its stored bytes are hashed up front (not inflated); either way the
walk checks the diff_id on the one pass that inflates it.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import BinaryIO

from layerscan.errors import DigestMismatchError, ImageError
from layerscan.progress import NULL_PROGRESS, Progress
from layerscan.source.base import ImageConfig, ImageSource, LayerDescriptor, created_by_per_layer, diff_ids
from layerscan.source.blobstore import BlobStore, open_tar_store
from layerscan.source.manifest import MAX_CONFIG_BYTES, MAX_MANIFEST_BYTES, check_digest
from layerscan.source.verify import sha256_digest, verified_stream, verify_bytes
from layerscan.textload import LoadError, parse_json

_PLAIN = "application/vnd.docker.image.rootfs.diff.tar"
_GZIP = "application/vnd.docker.image.rootfs.diff.tar.gzip"
_ZSTD = "application/vnd.docker.image.rootfs.diff.tar.zstd"
_XZ = "application/x-xz"  # legacy docker load input; the walker reports it as unsupported compression
_BZIP2 = "application/x-bzip2"
_DIGEST_IN_NAME = re.compile(r"(?:^|/)(?:blobs/sha256/)?([0-9a-f]{64})(?:\.json|\.tar)?$")


def is_docker_archive(store: BlobStore) -> bool:
    return store.exists("manifest.json")


def sniff_media_type(head: bytes) -> str:
    if head[:2] == b"\x1f\x8b":
        return _GZIP
    if head[:4] == b"\x28\xb5\x2f\xfd":
        return _ZSTD
    if head[:6] == b"\xfd7zXZ\x00":
        return _XZ
    if head[:3] == b"BZh":
        return _BZIP2
    return _PLAIN


def _digest_from_name(name: str) -> str:
    match = _DIGEST_IN_NAME.search(name)
    return f"sha256:{match.group(1)}" if match else ""


def _select_entry(doc: object, repo_tag: str, where: str) -> dict:
    if not isinstance(doc, list) or not doc or not all(isinstance(e, dict) for e in doc):
        raise ImageError(f"{where}: manifest.json is not a non-empty list of images")
    if not repo_tag:
        return doc[0]
    for entry in doc:
        if repo_tag in (entry.get("RepoTags") or []):
            return entry
    tags = sorted(t for e in doc for t in (e.get("RepoTags") or []) if isinstance(t, str))
    raise ImageError(f"{where}: no image tagged {repo_tag!r} (available: {', '.join(tags) or 'none'})")


def _str_list(value: object, what: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ImageError(f"{what} is not a list of strings")
    return value


class DockerArchiveSource(ImageSource):
    def __init__(self, store: BlobStore, name: str, repo_tag: str = "",
                 progress: Progress = NULL_PROGRESS) -> None:
        self.name = name
        self._store = store
        self._progress = progress
        where = store.description
        try:
            doc = parse_json(store.read("manifest.json", MAX_MANIFEST_BYTES))
        except LoadError as exc:
            raise ImageError(f"{where}: manifest.json is not valid JSON ({exc.detail})") from None
        entry = _select_entry(doc, repo_tag, where)
        config_path = entry.get("Config")
        if not isinstance(config_path, str):
            raise ImageError(f"{where}: manifest.json entry has no Config")
        self._config_path = config_path
        self._layer_paths = _str_list(entry.get("Layers"), f"{where}: Layers")
        self.repo_tags = tuple(_str_list(entry.get("RepoTags") or [], f"{where}: RepoTags"))
        self._config: ImageConfig | None = None
        self._layers: list[LayerDescriptor] | None = None
        self._paths: dict[str, str] = {}

    def config(self) -> ImageConfig:
        if self._config is None:
            raw = self._store.read(self._config_path, MAX_CONFIG_BYTES)
            named = _digest_from_name(self._config_path)
            if named:
                verify_bytes(raw, named, f"image config {self._config_path}")
            self._config = ImageConfig(digest=named or sha256_digest(raw), raw=raw)
        return self._config

    def layers(self) -> list[LayerDescriptor]:
        if self._layers is None:
            config = self.config().parsed()
            ids = [check_digest(i, "config rootfs.diff_ids") for i in diff_ids(config)]
            if len(ids) != len(self._layer_paths):
                raise ImageError(f"{self._store.description}: {len(self._layer_paths)} layers in "
                                 f"manifest.json but {len(ids)} diff_ids in the config")
            created = created_by_per_layer(config, len(ids))
            self._layers = [self._describe(i, path, ids[i], created[i])
                            for i, path in enumerate(self._layer_paths)]
        return self._layers

    def _describe(self, index: int, path: str, diff_id: str, created_by: str) -> LayerDescriptor:
        size = self._store.size(path)
        if size < 0:
            raise ImageError(f"{self._store.description}: missing layer {path}")
        with self._store.open(path) as fh:
            media_type = sniff_media_type(fh.read(6))
        named = _digest_from_name(path)
        if media_type == _PLAIN:
            if named and named != diff_id:
                raise DigestMismatchError(f"layer {path}: uncompressed blob named {named} "
                                          f"but the config's diff_id is {diff_id}")
            digest = diff_id
        else:
            digest = named or self._hash_compressed(path)
        self._paths[digest] = path
        return LayerDescriptor(index=index, digest=digest, diff_id=diff_id, media_type=media_type,
                               size=size, created_by=created_by)

    def _hash_compressed(self, path: str) -> str:
        """Digest of a compressed layer stored without one: the stored bytes hashed, not
        inflated (the walk inflates the layer once and checks its diff_id on that pass)."""
        with self._store.open(path) as fh:
            return "sha256:" + hashlib.file_digest(fh, "sha256").hexdigest()  # type: ignore[arg-type]

    def open_layer(self, layer: LayerDescriptor) -> BinaryIO:
        path = self._paths.get(layer.digest)
        if path is None:
            self.layers()
            path = self._paths.get(layer.digest)
        if path is None:
            raise ImageError(f"{self._store.description}: no layer {layer.digest}")
        return verified_stream(self._store.open(path), layer.digest, f"layer {path}",
                               size=layer.size, progress=self._progress)

    def blob_identity(self, layer: LayerDescriptor) -> str:
        path = self._paths.get(layer.digest)
        return self._store.identity(path) if path is not None else ""

    def close(self) -> None:
        self._store.close()


def open_docker_archive(path: Path, *, repo_tag: str = "",
                        progress: Progress = NULL_PROGRESS) -> DockerArchiveSource:
    store = open_tar_store(path, f"docker archive {path}")
    try:
        if not is_docker_archive(store):
            raise ImageError(f"{path}: not a docker archive (no manifest.json)")
        return DockerArchiveSource(store, str(path), repo_tag=repo_tag, progress=progress)
    except BaseException:
        store.close()
        raise
