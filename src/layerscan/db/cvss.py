"""CVSS base scores from vector strings (v2.0, v3.0, v3.1), per the FIRST specifications.

Feeds such as OSV carry only the vector; the score lets the matcher derive a
severity when no vendor level is given. v4.0 vectors are kept without a score.
"""

from __future__ import annotations

import math

_V3_WEIGHTS = {
    "AV": {"N": 0.85, "A": 0.62, "L": 0.55, "P": 0.2},
    "AC": {"L": 0.77, "H": 0.44},
    "UI": {"N": 0.85, "R": 0.62},
    "C": {"H": 0.56, "L": 0.22, "N": 0.0},
    "I": {"H": 0.56, "L": 0.22, "N": 0.0},
    "A": {"H": 0.56, "L": 0.22, "N": 0.0},
}
_V3_PR = {"U": {"N": 0.85, "L": 0.62, "H": 0.27}, "C": {"N": 0.85, "L": 0.68, "H": 0.5}}
_V2_WEIGHTS = {
    "AV": {"L": 0.395, "A": 0.646, "N": 1.0},
    "AC": {"H": 0.35, "M": 0.61, "L": 0.71},
    "Au": {"M": 0.45, "S": 0.56, "N": 0.704},
    "C": {"N": 0.0, "P": 0.275, "C": 0.660},
    "I": {"N": 0.0, "P": 0.275, "C": 0.660},
    "A": {"N": 0.0, "P": 0.275, "C": 0.660},
}


def _metrics(vector: str) -> dict[str, str]:
    parts = vector.strip("()").split("/")
    out = {}
    for part in parts:
        key, sep, value = part.partition(":")
        if sep and key != "CVSS":
            out[key] = value
    return out


def _roundup_31(value: float) -> float:
    scaled = round(value * 100_000)
    if scaled % 10_000 == 0:
        return scaled / 100_000
    return (math.floor(scaled / 10_000) + 1) / 10.0


def _roundup_30(value: float) -> float:
    return math.ceil(value * 10) / 10.0


def score_v3(vector: str) -> float | None:
    m = _metrics(vector)
    try:
        scope = m["S"]
        w = {k: _V3_WEIGHTS[k][m[k]] for k in _V3_WEIGHTS}
        pr = _V3_PR[scope][m["PR"]]
    except KeyError:
        return None
    iss = 1 - (1 - w["C"]) * (1 - w["I"]) * (1 - w["A"])
    impact = 6.42 * iss if scope == "U" else 7.52 * (iss - 0.029) - 3.25 * (iss - 0.02) ** 15
    exploitability = 8.22 * w["AV"] * w["AC"] * pr * w["UI"]
    if impact <= 0:
        return 0.0
    roundup = _roundup_31 if vector.startswith("CVSS:3.1/") else _roundup_30
    total = impact + exploitability if scope == "U" else 1.08 * (impact + exploitability)
    return roundup(min(total, 10.0))


def score_v2(vector: str) -> float | None:
    m = _metrics(vector)
    try:
        w = {k: _V2_WEIGHTS[k][m[k]] for k in _V2_WEIGHTS}
    except KeyError:
        return None
    impact = 10.41 * (1 - (1 - w["C"]) * (1 - w["I"]) * (1 - w["A"]))
    exploitability = 20 * w["AV"] * w["AC"] * w["Au"]
    f_impact = 0.0 if impact == 0 else 1.176
    return round((0.6 * impact + 0.4 * exploitability - 1.5) * f_impact + 1e-9, 1)


def level_from_score(score: float | None) -> str:
    """The qualitative rating of a CVSS score (the v3 bands: 9.0+ CRITICAL, 7.0+ HIGH, 4.0+ MEDIUM,
    above 0 LOW); UNKNOWN without a score."""
    if score is None:
        return "UNKNOWN"
    if score >= 9.0:
        return "CRITICAL"
    if score >= 7.0:
        return "HIGH"
    if score >= 4.0:
        return "MEDIUM"
    if score > 0.0:
        return "LOW"
    return "UNKNOWN"


def base_score(version: str, vector: str) -> float | None:
    """The base score of a vector, None when it cannot be computed (v4.0, malformed)."""
    if version in ("3.0", "3.1"):
        return score_v3(vector)
    if version == "2.0":
        return score_v2(vector)
    return None
