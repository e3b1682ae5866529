"""Where the shared corpus is (importable from test helper modules)."""

from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("LAYERSCAN_SHARED", ROOT.parent / "shared"))
CORPUS = SHARED / "corpus"


def corpus_params(cases: list[str], xfail: dict[str, str]) -> list:
    """``parametrize`` values for corpus case names: a case with a known, explained difference
    is a strict xfail, so the day it passes the suite says so; ["<no corpus>"] without cases
    (the test then skips through the ``corpus`` fixture)."""
    import pytest

    return [pytest.param(case, marks=pytest.mark.xfail(strict=True, reason=xfail[case])) if case in xfail else case
            for case in cases] or ["<no corpus>"]
