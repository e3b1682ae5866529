"""The vulnerability step of a scan: open the database under the cache root and
match the SBOM. Database and matcher modules are imported only here."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from layerscan.errors import DatabaseError
from layerscan.model import Finding, Sbom, Unknown

log = logging.getLogger(__name__)
NO_DATABASE_HINT = ("run 'layerscan db update' (online), or 'layerscan db import DIR' (offline feeds); "
                    "'--scanners none' lists packages without a database")


@dataclass(frozen=True)
class VulnOutcome:
    scanned: bool  # False: no database consulted (SBOM only)
    findings: tuple[Finding, ...] = ()
    unknowns: tuple[Unknown, ...] = ()
    db_metadata: tuple[tuple[str, str], ...] = ()
    os_eol: bool | None = None  # from endoflife.date data in the database; None = unknown
    unchecked_os_packages: int = 0  # OS packages the database has no advisories for (their distro's namespace)


def _metadata(data: dict[str, Any]) -> tuple[tuple[str, str], ...]:
    return tuple(sorted((str(k), v if isinstance(v, str) else str(v)) for k, v in data.items()
                        if not isinstance(v, (dict, list))))


def find_vulnerabilities(sbom: Sbom, cache_dir: Path) -> VulnOutcome:
    """Match ``sbom`` against the database (a DatabaseError with what to do when there is none)."""
    from layerscan.db.store import Store
    from layerscan.db.freshness import db_path
    from layerscan.match.eol import os_eol
    from layerscan.match.matcher import match_sbom
    from layerscan.match.namespace import unchecked_os_packages

    path = db_path(cache_dir)
    if not path.is_file():
        raise DatabaseError(f"no vulnerability database at {path}", hint=NO_DATABASE_HINT)
    started = time.perf_counter()
    with Store.open(path) as store:
        result = match_sbom(sbom, store)
        log.debug("matched %d packages: %d findings, %d unknowns in %.3fs", len(sbom.packages),
                  len(result.findings), len(result.unknowns), time.perf_counter() - started)
        metadata = _metadata(store.metadata())
        status = os_eol(sbom.os, store)
        unchecked = unchecked_os_packages(sbom.packages, sbom.os, store.has_namespace)
    eol = None if status is None else status.is_eol
    return VulnOutcome(True, tuple(result.findings), tuple(result.unknowns), metadata, eol, unchecked)

