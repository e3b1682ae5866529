"""Turning the records of a text package database (dpkg ``status``, apk ``installed``)
into a :class:`~layerscan.analyzers.langbase.Parsed`: one Package per good record, one
problem per damaged record, at most MAX_UNKNOWNS per file."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from layerscan.analyzers.langbase import Parsed
from layerscan.model import Package

MAX_UNKNOWNS = 50  # per database file (within langbase.MAX_PROBLEMS: no summary line is added)

# (line of the record, its Package / why it is none / None when skipped, the record's own problems)
Record = tuple[int, Package | str | None, Sequence[str]]


def database_result(records: Iterable[Record], unit: str) -> Parsed:
    """``unit`` names a record in problem reasons ("stanza", "record")."""
    packages: list[Package] = []
    problems: list[str] = []
    for line, result, record_problems in records:
        reasons = list(record_problems)
        if isinstance(result, Package):
            packages.append(result)
        elif result:
            reasons.insert(0, result)
        if reasons and len(problems) < MAX_UNKNOWNS:
            problems.append(f"{unit} at line {line}: " + "; ".join(reasons))
    return Parsed(packages=tuple(packages), problems=tuple(problems))
