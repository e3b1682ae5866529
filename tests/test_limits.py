"""limits.py: the LAYERSCAN_MAX_* variables are read where a scan's configuration is built,
not at import time; the CLI tests in test_hostile_cli.py show each one taking effect."""

from __future__ import annotations

import pytest

from layerscan.limits import MAX_LAYER_BYTES, MAX_LAYER_ENTRIES, MAX_SPOOL_BYTES, Limits, limits_from_env
from layerscan.scan.inventory import ScanOptions
from layerscan.source.base import SourceOptions


def test_defaults_do_not_read_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LAYERSCAN_MAX_LAYER_BYTES", "1")
    assert Limits() == Limits(MAX_LAYER_BYTES, MAX_LAYER_ENTRIES, MAX_SPOOL_BYTES)
    assert SourceOptions().limits == ScanOptions(mode="image").limits == Limits()


def test_environment_lowers_each_limit() -> None:
    env = {"LAYERSCAN_MAX_LAYER_BYTES": "1024", "LAYERSCAN_MAX_LAYER_ENTRIES": " 50 ",
           "LAYERSCAN_MAX_SPOOL_BYTES": "2048"}
    assert limits_from_env(env) == Limits(max_layer_bytes=1024, max_layer_entries=50, max_spool_bytes=2048)


@pytest.mark.parametrize("bad", ["", "0", "-5", "1e9", "lots", "12 MiB"])
def test_a_value_that_is_not_a_positive_integer_is_ignored(bad: str) -> None:
    assert limits_from_env({"LAYERSCAN_MAX_LAYER_ENTRIES": bad}) == Limits()
