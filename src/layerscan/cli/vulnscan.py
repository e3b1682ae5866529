"""The vulnerability step of a scan: open the database under the cache root and
match the SBOM. Database and matcher modules are imported only here."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from layerscan.errors import DatabaseError
from layerscan.model import Finding, Sbom, Unknown


@dataclass(frozen=True)
class VulnOutcome:
    scanned: bool  # False: no database consulted (SBOM only)
    findings: tuple[Finding, ...] = ()
    unknowns: tuple[Unknown, ...] = ()
    db_metadata: tuple[tuple[str, str], ...] = ()
    os_eol: bool | None = None  # from endoflife.date data in the database; None = unknown


def _metadata(data: dict[str, Any]) -> tuple[tuple[str, str], ...]:
    return tuple(sorted((str(k), v if isinstance(v, str) else str(v)) for k, v in data.items()
                        if not isinstance(v, (dict, list))))


def find_vulnerabilities(sbom: Sbom, cache_dir: Path, *, required: bool,
                         warn: Callable[[str], None]) -> VulnOutcome:
    """Match ``sbom`` against the database. Without a database: a DatabaseError when
    ``required``, else a warning and an SBOM-only outcome."""
    from layerscan.db.store import Store
    from layerscan.db.update import db_path
    from layerscan.match.eol import os_eol
    from layerscan.match.matcher import match_sbom

    path = db_path(cache_dir)
    if not path.is_file():
        return _unavailable(f"no vulnerability database at {path}", required, warn)
    with Store.open(path) as store:
        result = match_sbom(sbom, store)
        metadata = _metadata(store.metadata())
        status = os_eol(sbom.os, store)
    eol = None if status is None else status.is_eol
    return VulnOutcome(True, tuple(result.findings), tuple(result.unknowns), metadata, eol)


def _unavailable(message: str, required: bool, warn: Callable[[str], None]) -> VulnOutcome:
    if required:
        raise DatabaseError(message)
    warn(f"{message}; listing packages only ({DatabaseError.hint})")
    return VulnOutcome(False)
