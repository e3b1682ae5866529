"""One remediation look at an image: the library scan (``scan.pipeline.Scanner``), then
the base image (``remediate.base``) and the end of life of the OS and runtimes
(``remediate.eol``). Every remediation command starts here.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping

from layerscan.model import Finding
from layerscan.policy.baselayers import in_base_layers
from layerscan.remediate.base import BaseImage, identify_base
from layerscan.remediate.eol import EolEntry, find_runtimes, os_entry, runtime_entries
from layerscan.scan.config import ScanConfig
from layerscan.scan.pipeline import ScanOutcome, Scanner


@dataclass(frozen=True)
class Assessment:
    outcome: ScanOutcome
    base: BaseImage
    os_eol: EolEntry | None = None
    runtimes: tuple[EolEntry, ...] = ()
    today: dt.date = field(default_factory=dt.date.today)

    @property
    def findings(self) -> tuple[Finding, ...]:
        return self.outcome.policy.shown

    @property
    def base_findings(self) -> tuple[Finding, ...]:
        """Findings in the base image's layers (empty when those layers are unknown)."""
        layers = self.base.layers or 0
        return tuple(f for f in self.findings if in_base_layers(f, layers))

    @property
    def eol_entries(self) -> tuple[EolEntry, ...]:
        return ((self.os_eol,) if self.os_eol else ()) + self.runtimes


def read_dockerfile(path: str) -> str:
    """The Dockerfile's text ("" when no path is given); unreadable is an error."""
    from layerscan.errors import InputNotFoundError, LayerscanError
    from layerscan.remediate.dockerfile import MAX_DOCKERFILE

    if not path:
        return ""
    target = Path(path)
    if not target.is_file():
        raise InputNotFoundError("Dockerfile", path)
    try:
        with target.open("rb") as fh:
            return fh.read(MAX_DOCKERFILE).decode("utf-8", "replace")
    except OSError as exc:
        raise LayerscanError(f"--dockerfile {path}: {exc.strerror or exc}") from None


def assess(scanner: Scanner, config: ScanConfig, dockerfile: str = "",
           build_args: Mapping[str, str] | None = None, today: dt.date | None = None) -> Assessment:
    """Scan with ``config``, then identify the base and look up end of life in the same database."""
    from layerscan.db.store import Store
    from layerscan.db.update import db_path

    from layerscan.errors import DatabaseError

    day = today or config.policy.today
    outcome = scanner.run(config)
    sbom = outcome.sbom
    path = db_path(config.database.cache_dir)
    try:  # the base-image index lives in the database; without vulnerabilities it is optional
        store = Store.open(path) if config.vulnerabilities or path.is_file() else None
    except DatabaseError:
        if config.vulnerabilities:
            raise
        store = None
    try:
        base = identify_base(sbom.image, dockerfile, build_args, config.base_layers, store)
        for warning in base.warnings:
            scanner.warn(warning)
        if store is None or not config.vulnerabilities:
            return Assessment(outcome, base, today=day)
        os_status = os_entry(sbom.os, store, day)
        runtimes = runtime_entries(find_runtimes(sbom.image, sbom.packages), store, day)
    finally:
        if store is not None:
            store.close()
    return Assessment(outcome, base, os_status, runtimes, day)
