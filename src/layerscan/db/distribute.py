"""Publishing the built database as an OCI artifact, and pulling it back.

The artifact is an OCI image manifest (``artifactType`` DB_ARTIFACT_TYPE) with
one zstd-compressed layer (DB_LAYER_TYPE) and a small JSON config carrying the
database metadata. The layer digest is verified by the registry client while
downloading; the uncompressed file's sha256 (a layer annotation) and its
schema are verified before it atomically replaces the local database.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import zstandard

from layerscan.cachedir import open_private, private_dir
from layerscan.db.lock import BuildLock
from layerscan.db.schema import DB_FILENAME
from layerscan.db.store import Store
from layerscan.errors import DatabaseError
from layerscan.source.base import SourceOptions

DB_ARTIFACT_TYPE = "application/vnd.layerscan.db.v1"
DB_LAYER_TYPE = "application/vnd.layerscan.db.v1+sqlite+zstd"
DB_CONFIG_TYPE = "application/vnd.layerscan.db.config.v1+json"
MANIFEST_TYPE = "application/vnd.oci.image.manifest.v1+json"
RAW_DIGEST_ANNOTATION = "io.layerscan.db.sqlite.digest"
MAX_DB_BYTES = 16 * 1024 ** 3
_CHUNK = 1 << 20


def _client(ref_text: str, timeout: float, insecure: bool):
    """``insecure`` as for image pulls: plain HTTP (local registries) or unverified TLS only when asked."""
    from layerscan.source.registry.client import RegistryClient
    from layerscan.source.registry.reference import parse_reference

    ref = parse_reference(ref_text)
    return ref, RegistryClient(ref.registry, SourceOptions(insecure=insecure, timeout=timeout))


def _public_metadata(path: Path) -> dict[str, object]:
    with Store.open(path) as store:
        meta = store.metadata()
    meta.pop("state", None)
    return meta


def push_database(path: Path, ref_text: str, *, timeout: float = 300.0, insecure: bool = False) -> str:
    """Push ``path`` to ``ref_text`` (REGISTRY/REPO:TAG); returns the manifest digest."""
    path = Path(path)
    meta = _public_metadata(path)  # refuses a missing or invalid database
    raw = path.read_bytes()
    packed = zstandard.ZstdCompressor(level=10, threads=-1).compress(raw)
    config = json.dumps({"layerscan_db": meta}, sort_keys=True).encode()
    ref, client = _client(ref_text, timeout, insecure)
    layer_digest = client.push_blob(ref.repository, packed)
    config_digest = client.push_blob(ref.repository, config)
    manifest = {
        "schemaVersion": 2, "mediaType": MANIFEST_TYPE, "artifactType": DB_ARTIFACT_TYPE,
        "config": {"mediaType": DB_CONFIG_TYPE, "digest": config_digest, "size": len(config)},
        "layers": [{
            "mediaType": DB_LAYER_TYPE, "digest": layer_digest, "size": len(packed),
            "annotations": {"org.opencontainers.image.title": DB_FILENAME + ".zst",
                            RAW_DIGEST_ANNOTATION: "sha256:" + hashlib.sha256(raw).hexdigest()},
        }],
        "annotations": {"org.opencontainers.image.created": str(meta.get("built_at", ""))},
    }
    body = json.dumps(manifest, sort_keys=True).encode()
    return client.push_manifest(ref, body, MANIFEST_TYPE)


def _unpack(packed: Path, dest: Path, want_digest: str) -> None:
    digest = hashlib.sha256()
    total = 0
    with open(packed, "rb") as src, open_private(dest) as out:
        reader = zstandard.ZstdDecompressor().stream_reader(src)
        while chunk := reader.read(_CHUNK):
            total += len(chunk)
            if total > MAX_DB_BYTES:
                raise DatabaseError(f"pulled database is larger than {MAX_DB_BYTES} bytes")
            digest.update(chunk)
            out.write(chunk)
        out.flush()
        os.fsync(out.fileno())
    if want_digest and "sha256:" + digest.hexdigest() != want_digest:
        raise DatabaseError("pulled database does not match its recorded sha256")


def pull_database(ref_text: str, cache_dir: Path, *, timeout: float = 300.0, insecure: bool = False) -> Path:
    """Pull the database artifact into ``<cache_dir>/db/layerscan.db`` (verified, atomic)."""
    from layerscan.db.update import db_path

    target = db_path(Path(cache_dir))
    private_dir(target.parent)
    ref, client = _client(ref_text, timeout, insecure)
    _, layers = client.pull_artifact(ref)
    layer = next((d for d in layers if d.media_type == DB_LAYER_TYPE), None)
    if layer is None:
        raise DatabaseError(f"{ref_text} is not a layerscan database artifact (no {DB_LAYER_TYPE} layer)")
    want = layer.annotation(RAW_DIGEST_ANNOTATION)
    with BuildLock(target):
        packed = target.with_name(f".{target.name}.{os.getpid()}.zst.tmp")
        tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
        try:
            client.download_blob(ref.repository, layer, packed)  # digest-verified by the client
            _unpack(packed, tmp, want)
            Store.open(tmp).close()  # schema and readability before it replaces anything
            os.replace(tmp, target)
        finally:
            packed.unlink(missing_ok=True)
            tmp.unlink(missing_ok=True)
    return target
