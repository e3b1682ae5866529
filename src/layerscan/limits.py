"""Byte limits against hostile images (DESIGN.md §6), in one place.

The defaults are far above any real image; an environment variable lowers (or
raises) one for a constrained host or a test:

- ``LAYERSCAN_MAX_LAYER_BYTES``: uncompressed bytes read from one layer
  (decompression bombs); also bounds hashing a compressed layer stored
  without its digest.
- ``LAYERSCAN_MAX_LAYER_ENTRIES``: tar members in one layer.
- ``LAYERSCAN_MAX_SPOOL_BYTES``: bytes a ``.tar.gz`` image archive may inflate
  to in its private temp spool.

A value that is not a positive integer is ignored (the default applies).
"""

from __future__ import annotations

import os

GiB = 1 << 30


def env_limit(name: str, default: int) -> int:
    """``default``, or the positive integer in environment variable ``name``."""
    text = os.environ.get(name, "").strip()
    try:
        value = int(text)
    except ValueError:
        return default
    return value if value > 0 else default


MAX_LAYER_BYTES = env_limit("LAYERSCAN_MAX_LAYER_BYTES", 64 * GiB)
MAX_LAYER_ENTRIES = env_limit("LAYERSCAN_MAX_LAYER_ENTRIES", 2_000_000)  # real layers: a few 100k
MAX_SPOOL_BYTES = env_limit("LAYERSCAN_MAX_SPOOL_BYTES", 64 * GiB)
