"""Golden files for every format, rendered from the fixed SBOM + findings in
tests/fixtures/report/sample.py (times and tool version are fixed there).
Regenerate after an intended change: python tests/fixtures/report/sample.py --regen
"""

from __future__ import annotations

import json

import pytest

from fixtures.report.sample import GOLDEN, HERE, render

JSON_FORMATS = {"json", "cyclonedx", "spdx-json", "sarif"}


@pytest.mark.parametrize("fmt", sorted(GOLDEN))
def test_matches_golden(fmt: str):
    expected = (HERE / GOLDEN[fmt]).read_text(encoding="utf-8")
    actual = render(fmt)
    if fmt in JSON_FORMATS:
        assert json.loads(actual) == json.loads(expected)
    else:
        assert actual == expected


@pytest.mark.parametrize("fmt", sorted(GOLDEN))
def test_rendering_is_deterministic(fmt: str):
    assert render(fmt) == render(fmt)
