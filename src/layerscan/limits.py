"""Byte limits against hostile images (DESIGN.md §6), in one place.

The defaults are far above any real image. The library takes them as a frozen
:class:`Limits` value (``SourceOptions.limits``, ``ScanOptions.limits``); nothing is
read from the environment at import time. Where a scan's configuration is built
(``cli/scan_cmd.py``), :func:`limits_from_env` lets an environment variable lower (or
raise) one for a constrained host or a test:

- ``LAYERSCAN_MAX_LAYER_BYTES``: uncompressed bytes read from one layer
  (decompression bombs).
- ``LAYERSCAN_MAX_LAYER_ENTRIES``: tar members in one layer.
- ``LAYERSCAN_MAX_SPOOL_BYTES``: bytes a ``.tar.gz`` image archive may inflate
  to in its private temp spool.

A value that is not a positive integer is ignored (the default applies).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

GiB = 1 << 30
MAX_LAYER_BYTES = 64 * GiB
MAX_LAYER_ENTRIES = 2_000_000  # real layers: a few 100k
MAX_SPOOL_BYTES = 64 * GiB
# Sibling files an analyzer asks for beside its own (``Analyzer.siblings``: the package.json
# beside a yarn.lock): small manifests, read whole up to this size each; a larger one is left
# out (the analyzer then reads its file alone) with an Unknown saying so.
MAX_SIBLING_BYTES = 1 << 20
MAX_CHECKSUM_SIBLING_BYTES = 8 << 20  # checksum lists (go.sum) of large projects run to megabytes
# An image layer keeps the content of the sibling files it holds (for lockfiles in other
# layers) up to this many bytes in all; the rest is left out with an Unknown.
MAX_LAYER_SIBLING_BYTES = 16 << 20
ENV_MAX_LAYER_BYTES = "LAYERSCAN_MAX_LAYER_BYTES"
ENV_MAX_LAYER_ENTRIES = "LAYERSCAN_MAX_LAYER_ENTRIES"
ENV_MAX_SPOOL_BYTES = "LAYERSCAN_MAX_SPOOL_BYTES"


@dataclass(frozen=True)
class Limits:
    max_layer_bytes: int = MAX_LAYER_BYTES
    max_layer_entries: int = MAX_LAYER_ENTRIES
    max_spool_bytes: int = MAX_SPOOL_BYTES


def env_limit(env: Mapping[str, str], name: str, default: int) -> int:
    """``default``, or the positive integer in ``env[name]``."""
    text = env.get(name, "").strip()
    try:
        value = int(text)
    except ValueError:
        return default
    return value if value > 0 else default


def limits_from_env(env: Mapping[str, str]) -> Limits:
    """The limits with the ``LAYERSCAN_MAX_*`` variables of ``env`` applied."""
    return Limits(max_layer_bytes=env_limit(env, ENV_MAX_LAYER_BYTES, MAX_LAYER_BYTES),
                  max_layer_entries=env_limit(env, ENV_MAX_LAYER_ENTRIES, MAX_LAYER_ENTRIES),
                  max_spool_bytes=env_limit(env, ENV_MAX_SPOOL_BYTES, MAX_SPOOL_BYTES))
