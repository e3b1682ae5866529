"""Shared test fixtures: where the corpus is, and skipping cleanly without it."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "fixtures"
SHARED = Path(os.environ.get("LAYERSCAN_SHARED", ROOT.parent / "shared"))
CORPUS = SHARED / "corpus"


@pytest.fixture(scope="session")
def corpus() -> Path:
    if not CORPUS.is_dir():
        pytest.skip("../shared/corpus is absent")
    return CORPUS


def corpus_available() -> bool:
    return CORPUS.is_dir()


# Local OCI registries on 127.0.0.1 (tests/registry.py; skip when docker-registry is absent):
# `registry` (anonymous, plain HTTP) and `token_registry` (bearer-token auth, .username/.password).
from registry import registry, token_registry  # noqa: E402,F401
