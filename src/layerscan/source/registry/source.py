"""RegistrySource: an image pulled through the OCI distribution API, layers streamed."""

from __future__ import annotations

from typing import BinaryIO

from layerscan.progress import NULL_PROGRESS, Progress
from layerscan.source.base import LayerDescriptor, SourceOptions
from layerscan.source.manifest import INDEX_TYPES, MAX_CONFIG_BYTES, ManifestImageSource, parse_index
from layerscan.source.registry.client import RegistryClient
from layerscan.source.registry.reference import familiar_repository, parse_reference


class RegistrySource(ManifestImageSource):
    """Resolves ``name`` (tag or digest; index -> platform) when constructed.

    Layer reads report to ``progress``: one task per layer, sized by the descriptor.
    """

    def __init__(self, name: str, options: SourceOptions = SourceOptions(),
                 progress: Progress = NULL_PROGRESS, client: RegistryClient | None = None) -> None:
        self.name = name
        self.ref = parse_reference(name)
        self._client = client or RegistryClient(self.ref.registry, options)
        self._progress = progress
        self.manifest, top = self._client.resolve_image(self.ref, options.platform)
        if top.media_type in INDEX_TYPES:  # attestations are looked up in the top index only
            self.index_entries = tuple(parse_index(top.doc, f"manifest {self.ref}"))
        repo = familiar_repository(self.ref)
        self.repo_tags = (f"{repo}:{self.ref.tag}",) if self.ref.tag else ()
        self.repo_digests = (f"{repo}@{top.digest}",)

    def close(self) -> None:
        self._client.close()

    def read_config(self, digest: str) -> bytes:
        return self._client.fetch_blob(self.ref.repository, digest, MAX_CONFIG_BYTES, f"image config {digest}")

    def read_manifest(self, digest: str) -> bytes:
        return self._client.get_manifest(self.ref.repository, digest).raw

    def read_blob(self, digest: str, limit: int, what: str) -> bytes:
        return self._client.fetch_blob(self.ref.repository, digest, limit, what)

    def verify_layer(self, layer: LayerDescriptor) -> None:
        """A cached analysis is trusted without a download: the registry addresses blobs by
        digest, and an entry exists only for a blob that was verified (digest and diff_id)."""

    def open_layer(self, layer: LayerDescriptor) -> BinaryIO:
        return self._client.open_blob(self.ref.repository, layer.digest, layer.size,
                                      what=f"layer {layer.digest}", progress=self._progress,
                                      description=f"layer {layer.digest.split(':')[-1][:12]}")
