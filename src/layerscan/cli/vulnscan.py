"""The vulnerability step of a scan: open the database under the cache root and
match the SBOM. Database and matcher modules are imported only here."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from layerscan.errors import DatabaseError
from layerscan.model import Finding, Sbom, Unknown

DB_SUBDIR = "db"
DB_FILENAME = "layerscan.db"


@dataclass(frozen=True)
class VulnOutcome:
    scanned: bool  # False: no database consulted (SBOM only)
    findings: tuple[Finding, ...] = ()
    unknowns: tuple[Unknown, ...] = ()
    db_metadata: tuple[tuple[str, str], ...] = ()
    os_eol: bool | None = None  # from endoflife.date data in the database; None = unknown


def db_path(cache_dir: Path) -> Path:
    """Where the vulnerability database lives under the cache root (db.update decides)."""
    try:
        from layerscan.db.update import db_path as database_path
    except ImportError:
        return cache_dir / DB_SUBDIR / DB_FILENAME
    return database_path(cache_dir)


def _metadata(store: object) -> tuple[tuple[str, str], ...]:
    meta = getattr(store, "metadata", None)
    if meta is None:
        return ()
    data = meta()
    if not isinstance(data, dict):
        return ()
    return tuple(sorted((str(k), v if isinstance(v, str) else str(v)) for k, v in data.items()
                        if not isinstance(v, (dict, list))))


def find_vulnerabilities(sbom: Sbom, cache_dir: Path, *, required: bool,
                         warn: Callable[[str], None]) -> VulnOutcome:
    """Match ``sbom`` against the database. Without a database (or a matcher in this build):
    a DatabaseError when ``required``, else a warning and an SBOM-only outcome."""
    path = db_path(cache_dir)
    try:
        from layerscan.db.store import Store
        from layerscan.match.matcher import match_sbom
    except ImportError:
        return _unavailable("vulnerability matching is not available in this build", required, warn)
    if not path.is_file():
        return _unavailable(f"no vulnerability database at {path}", required, warn)
    store = Store.open(path)
    try:
        result = match_sbom(sbom, store)
        metadata = _metadata(store)
        eol = _os_eol(sbom, store)
    finally:
        close = getattr(store, "close", None)
        if close:
            close()
    return VulnOutcome(True, tuple(result.findings), tuple(result.unknowns), metadata, eol)


def _os_eol(sbom: Sbom, store: object) -> bool | None:
    try:
        from layerscan.match.eol import os_eol
    except ImportError:
        return None
    status = os_eol(sbom.os, store)  # type: ignore[arg-type]
    return None if status is None else status.is_eol


def _unavailable(message: str, required: bool, warn: Callable[[str], None]) -> VulnOutcome:
    if required:
        raise DatabaseError(message)
    warn(f"{message}; listing packages only ({DatabaseError.hint})")
    return VulnOutcome(False)
