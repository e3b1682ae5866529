"""CVSS base scores computed from vectors equal the scores NVD publishes (corpus samples)."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

from layerscan.db.cvss import base_score
from layerscan.db.feeds.osv import cvss_from_vector

SAMPLE_ZIPS = ("vunnel-provider-fixtures.zip", "vuln-list-update-testdata.zip", "vulnerablecode-test-data.zip",
               "trivy-db-vulnsrc-testdata.zip")


def _published_scores(corpus: Path) -> list[tuple[str, str, float]]:
    """(version, vector, baseScore) of every cvssData-like object in the NVD samples."""
    out = []
    for name in SAMPLE_ZIPS:
        with zipfile.ZipFile(corpus / "feeds" / "upstream-samples" / name) as zf:
            for member in zf.namelist():
                if not member.endswith(".json"):
                    continue
                try:
                    stack = [json.loads(zf.read(member))]
                except ValueError:
                    continue
                while stack:
                    node = stack.pop()
                    if isinstance(node, dict):
                        if {"version", "vectorString", "baseScore"} <= node.keys():
                            out.append((node["version"], node["vectorString"], node["baseScore"]))
                        stack.extend(node.values())
                    elif isinstance(node, list):
                        stack.extend(node)
    return out


def test_scores_match_nvd(corpus: Path) -> None:
    scored = [(v, vec, s) for v, vec, s in _published_scores(corpus) if v in ("2.0", "3.0", "3.1")]
    assert {v for v, _, _ in scored} == {"2.0", "3.0", "3.1"}
    mismatches = [(vec, s, base_score(v, vec)) for v, vec, s in scored if base_score(v, vec) != s]
    assert mismatches == []


def test_vector_without_score_gets_one() -> None:
    cvss = cvss_from_vector("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:C/C:H/I:H/A:H", "ghsa")
    assert cvss is not None and cvss.version == "3.1" and cvss.score == 10.0
    assert cvss_from_vector("CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N", "x").score is None
    assert base_score("3.1", "CVSS:3.1/AV:N/garbage") is None
