"""Where the shared corpus is (importable from test helper modules)."""

from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("LAYERSCAN_SHARED", ROOT.parent / "shared"))
CORPUS = SHARED / "corpus"
