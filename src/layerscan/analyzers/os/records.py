"""Turning the records of a text package database (dpkg ``status``, apk ``installed``)
into an AnalysisResult: one Package per good record, one Unknown per damaged record,
at most MAX_UNKNOWNS per file."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from layerscan.analyzers.base import AnalysisResult
from layerscan.model import Package, Unknown

MAX_UNKNOWNS = 50  # per database file

# (line of the record, its Package / why it is none / None when skipped, the record's own problems)
Record = tuple[int, Package | str | None, Sequence[str]]


def database_result(records: Iterable[Record], path: str, unit: str, analyzer: str) -> AnalysisResult:
    """``unit`` names a record in Unknown reasons ("stanza", "record")."""
    packages: list[Package] = []
    unknowns: list[Unknown] = []
    for line, result, problems in records:
        reasons = list(problems)
        if isinstance(result, Package):
            packages.append(result)
        elif result:
            reasons.insert(0, result)
        if reasons and len(unknowns) < MAX_UNKNOWNS:
            reason = f"{unit} at line {line}: " + "; ".join(reasons)
            unknowns.append(Unknown(path=path, reason=reason, analyzer=analyzer))
    return AnalysisResult(packages=tuple(packages), unknowns=tuple(unknowns))
