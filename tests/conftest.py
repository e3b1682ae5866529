"""Shared test fixtures: where the corpus is, and skipping cleanly without it."""

from __future__ import annotations

import os

from pathlib import Path

import pytest

from conftest_paths import CORPUS, ROOT, SHARED  # noqa: F401

FIXTURES = ROOT / "tests" / "fixtures"

# Scans in tests never reach the upstream feed servers: the automatic database update
# before a scan is off unless a test turns it on (tests/test_cli_dbrefresh.py does,
# against local servers).
os.environ.setdefault("LAYERSCAN_SKIP_DB_UPDATE", "true")


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
from dbfixture import corpus_db  # noqa: E402,F401
# The corpus / registry / slow markers, applied by what each test uses (tests/markers.py).
from markers import pytest_collection_modifyitems  # noqa: E402,F401
# A throw-away PostgreSQL cluster (tests/pg.py; skip when the server binaries are absent).
from pg import pg_database, postgres  # noqa: E402,F401
