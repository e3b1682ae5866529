"""Per-layer analysis cache under ``<cache_dir>/layers/``.

Key: sha256 over (entry format, the layer's stored digest and diff_id, every
analyzer's name and version, the scan mode and the options that change a
layer's output). The stored digest is in the key because it is what the source
verifies while streaming, and an entry is written only after the walk checked
the diff_id too: a config that lies about a diff_id cannot poison the entry of
the real layer. Before an entry is trusted the scan has the source hash the
blob (``ImageSource.verify_layer``), so a layer whose bytes differ from the
digest its descriptor claims is never answered from the cache. A hashed (or
walked) local blob leaves a marker keyed by its file's stat identity (device,
inode, size, mtime, ctime) and digest, so an unchanged file is not hashed again;
any rewrite of the file changes its identity.

Writes are atomic (temp file in the same directory + ``os.replace``), so
concurrent scans never see half-written entries and never wait on each other;
an unreadable or corrupt entry is treated as a miss and rewritten.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Sequence

from layerscan.analyzers.base import Analyzer
from layerscan.cachedir import private_dir
from layerscan.textload import LoadError, parse_json
from layerscan.walk.analysis import FORMAT, LayerAnalysis

MAX_ENTRY_BYTES = 256 << 20


def cache_key(digest: str, diff_id: str, analyzers: Sequence[Analyzer], mode: str,
              skip_dirs: Sequence[str] = ()) -> str:
    material = {
        "format": FORMAT,
        "digest": digest,
        "diff_id": diff_id,
        "analyzers": sorted([a.name, int(a.version)] for a in analyzers),
        "mode": mode,
        "skip_dirs": sorted(skip_dirs),
    }
    return hashlib.sha256(json.dumps(material, sort_keys=True).encode()).hexdigest()


class LayerCache:
    def __init__(self, root: Path) -> None:
        self.dir = Path(root) / "layers"

    def _path(self, key: str) -> Path:
        return self.dir / f"{key}.json"

    def get(self, key: str) -> LayerAnalysis | None:
        """The cached analysis, or None (missing, unreadable or corrupt)."""
        path = self._path(key)
        try:
            with open(path, "rb") as fh:
                raw = fh.read(MAX_ENTRY_BYTES + 1)
        except OSError:
            return None
        if len(raw) > MAX_ENTRY_BYTES:
            return None
        try:
            return LayerAnalysis.from_json(parse_json(raw))
        except (LoadError, ValueError, TypeError):
            return None

    def has(self, key: str) -> bool:
        """Is there an entry (not checked: ``get`` may still find it corrupt)?"""
        return self._path(key).is_file()

    def put(self, key: str, analysis: LayerAnalysis) -> bool:
        """Store atomically; False (and no exception) if the cache is not writable."""
        return self._write(key, self._path(key), analysis.to_json())

    def _write(self, key: str, path: Path, doc: object) -> bool:
        try:  # dumps, not dump: json.dump streams through the pure-Python encoder (~3x slower)
            text = json.dumps(doc, separators=(",", ":"))
        except ValueError:
            return False
        try:
            private_dir(self.dir)  # entries are mkstemp's: 0600
            fd, tmp = tempfile.mkstemp(prefix=f".{key[:16]}.", suffix=".tmp", dir=self.dir)
        except OSError:
            return False
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(text)
            os.replace(tmp, path)
            return True
        except (OSError, ValueError):
            _unlink(tmp)
            return False

    # -- blobs already hashed: a warm rescan of an unchanged file need not hash it again --

    def _marker(self, identity: str, digest: str) -> tuple[str, Path]:
        key = hashlib.sha256(f"verified\0{identity}\0{digest}".encode()).hexdigest()
        return key, self.dir / f"{key}.verified.json"

    def verified(self, identity: str, digest: str) -> bool:
        """Was the file of this stat ``identity`` (``blobstore.file_identity``) hashed to ``digest``?"""
        return bool(identity) and self._marker(identity, digest)[1].is_file()

    def mark_verified(self, identity: str, digest: str) -> None:
        if identity:
            key, path = self._marker(identity, digest)
            self._write(key, path, {"digest": digest})

    def clear(self) -> int:
        """Remove every entry (and temp files left by interrupted writers); returns how many."""
        removed = 0
        try:
            names = os.listdir(self.dir)
        except OSError:
            return 0
        for name in names:
            if name.endswith((".json", ".tmp")):
                removed += _unlink(str(self.dir / name))
        return removed


def _unlink(path: str) -> int:
    try:
        os.unlink(path)
        return 1
    except OSError:
        return 0
