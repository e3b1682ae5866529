"""The whole scan as one library call:

    outcome = Scanner(warn=print).run(config)   # config: scan.config.ScanConfig
    outcome.report     # report.document.ScanReport, ready for any writer
    outcome.exit_code  # what the policy decided

Inventory (source -> SBOM), database refresh, matching, end-of-life, policy and the
report document, in that order. The CLI, the server and the remediation commands call
this; none of them re-implements a step. Warnings go to ``warn`` (one line each);
progress bars come from ``progress``, a factory of context managers, so the caller
decides whether anything is drawn.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable, ContextManager

from layerscan.errors import ImageError, InputNotFoundError, UsageError
from layerscan.analyzers.base import FILE_TOO_LARGE
from layerscan.model import Sbom, Unknown
from layerscan.progress import NULL_PROGRESS, Progress
from layerscan.scan.config import DatabaseConfig, InventoryConfig, ScanConfig
from layerscan.walk.analysis import UNREADABLE_LAYER

if TYPE_CHECKING:
    from layerscan.policy.baselayers import BaseBoundary
    from layerscan.policy.decision import PolicyResult
    from layerscan.report.document import ScanReport
    from layerscan.scan.vulns import VulnOutcome

log = logging.getLogger(__name__)
Warn = Callable[[str], None]
ProgressFactory = Callable[[], ContextManager[Progress]]
MAX_TOO_LARGE_WARNINGS = 5  # files named one by one on stderr
MISSING_SOURCE = "not in the vulnerability database (offline or not downloadable): findings may be incomplete"
EXIT_INCOMPLETE = 4  # the scan finished without one or more unreadable layers (docs/cli.md, "Exit codes")


def no_progress() -> ContextManager[Progress]:
    return contextlib.nullcontext(NULL_PROGRESS)


@dataclass(frozen=True)
class ScanOutcome:
    report: ScanReport
    policy: PolicyResult
    sbom: Sbom  # the inventory with the unknowns and end-of-life the matcher added

    @property
    def incomplete(self) -> bool:
        """A layer could not be read: the report holds the other layers' packages only."""
        return any(u.analyzer == UNREADABLE_LAYER for u in self.sbom.unknowns)

    @property
    def exit_code(self) -> int:
        """The policy's code; else EXIT_INCOMPLETE when a layer was left out; else 0."""
        return self.policy.exit_code or (EXIT_INCOMPLETE if self.incomplete else 0)


class Scanner:
    def __init__(self, warn: Warn | None = None, progress: ProgressFactory = no_progress) -> None:
        self.warn: Warn = warn or (lambda message: log.warning("%s", message))
        self.progress = progress

    # ---- inventory ---------------------------------------------------------------------

    def inventory(self, config: InventoryConfig) -> Sbom:
        """The SBOM of the target (no database involved)."""
        started = time.perf_counter()
        with self.progress() as progress:
            sbom = _inventory(config, progress)
        log.debug("inventory of %s: %d packages, %d unknowns in %.3fs", sbom.artifact_name, len(sbom.packages),
                  len(sbom.unknowns), time.perf_counter() - started)
        for message in too_large_warnings(sbom.unknowns):
            self.warn(message)
        for u in sbom.unknowns:
            if u.analyzer == UNREADABLE_LAYER:
                self.warn(f"{u.reason}; the layer is left out, the results hold the other layers' packages "
                          f"(exit code {EXIT_INCOMPLETE})")
        return sbom

    # ---- the whole scan ----------------------------------------------------------------

    def run(self, config: ScanConfig) -> ScanOutcome:
        sbom = self.inventory(config.inventory)
        if config.inventory.target.kind == "sbom":  # before any database work: a usage error
            from layerscan.policy.baselayers import require_layer_order

            require_layer_order(config.base_layers, sbom.image, config.inventory.target.name)
        vulns = self._vulnerabilities(sbom, config.database) if config.vulnerabilities else None
        if vulns is not None:
            sbom = _with_match_facts(sbom, vulns)
        if sbom.os and sbom.os.eosl:
            self.warn(f"{sbom.os.family} {sbom.os.name} is end-of-life: the distribution no longer publishes "
                      "security fixes for it (see --exit-on-eol)")
        unchecked = vulns.unchecked_os_packages if vulns and "os" in config.policy.pkg_types else 0
        if unchecked:
            self._warn_unchecked(sbom, unchecked)
        eol_runtimes = self._eol_runtimes(config, sbom) if vulns is not None and config.policy.exit_on_eol else 0
        return self._decide(config, sbom, vulns, unchecked, eol_runtimes)

    def _eol_runtimes(self, config: ScanConfig, sbom: Sbom) -> int:
        """How many runtimes found in the image (ENV, OS packages, binaries) are end of life by
        the database's endoflife.date data; each is a warning (asked for by --exit-on-eol only)."""
        from layerscan.db.freshness import db_path
        from layerscan.db.store import Store
        from layerscan.match.lifecycle import find_runtimes, runtime_entries

        runtimes = find_runtimes(sbom.image, sbom.packages)
        if not runtimes:
            return 0
        store = Store.open(db_path(config.database.cache_dir))
        try:
            ended = [e for e in runtime_entries(runtimes, store, config.policy.today) if e.is_eol]
        finally:
            store.close()
        for entry in ended:
            since = f" since {entry.eol}" if entry.eol else ""
            self.warn(f"{entry.name} {entry.version} is end-of-life{since} (cycle {entry.cycle}; "
                      f"{', '.join(entry.evidence)}): it no longer gets security fixes (--exit-on-eol)")
        return len(ended)

    def _vulnerabilities(self, sbom: Sbom, database: DatabaseConfig) -> VulnOutcome:
        from layerscan.scan.dbrefresh import refresh_database
        from layerscan.scan.vulns import find_vulnerabilities

        with self.progress() as progress:
            missing = refresh_database(database, progress, self.warn, sbom)
        outcome = find_vulnerabilities(sbom, database.cache_dir)
        if not missing:
            return outcome
        from layerscan.db.freshness import db_path

        gaps = tuple(Unknown(str(db_path(database.cache_dir)), f"{key}: {MISSING_SOURCE}", "database")
                     for key in missing)
        return dataclasses.replace(outcome, unknowns=outcome.unknowns + gaps)

    def _warn_unchecked(self, sbom: Sbom, unchecked: int) -> None:
        from layerscan.report.document import unscanned_os_reason

        reason = unscanned_os_reason(sbom.os, unchecked)
        self.warn((f"{sbom.os.family} {sbom.os.name}: {reason}" if sbom.os else reason)
                  + " (see --fail-on-unscanned-os)")

    def _boundary(self, config: ScanConfig, sbom: Sbom) -> BaseBoundary:
        from layerscan.policy.baselayers import resolve_boundary

        boundary = resolve_boundary(config.base_layers, sbom.image)
        if boundary.warning:
            self.warn(boundary.warning)
        return boundary

    def _decide(self, config: ScanConfig, sbom: Sbom, vulns: VulnOutcome | None, unchecked: int,
                eol_runtimes: int = 0) -> ScanOutcome:
        from layerscan.policy.decision import apply_policy

        boundary = self._boundary(config, sbom)
        policy = dataclasses.replace(config.policy, base_layers=boundary.layers)
        result = apply_policy(vulns.findings if vulns else (), policy,
                              end_of_life=bool(sbom.os and sbom.os.eosl) or eol_runtimes > 0,
                              unscanned_os=bool(unchecked))
        for rule in result.expired_rules:
            self.warn(f"ignore entry {rule.id} ({rule.source}) expired on {rule.expires}; it no longer suppresses")
        report = _report(config, sbom, vulns, unchecked, result, boundary)
        return ScanOutcome(report=report, policy=result, sbom=sbom)


def too_large_warnings(unknowns: tuple[Unknown, ...], shown: int = MAX_TOO_LARGE_WARNINGS) -> list[str]:
    """One line per file left unread for exceeding an analyzer's size limit (the first
    ``shown`` files), then one line counting the rest."""
    files: dict[str, list[Unknown]] = {}
    for u in unknowns:
        if u.reason.startswith(FILE_TOO_LARGE):
            files.setdefault(u.path, []).append(u)
    lines = [f"{path}: not analyzed: {found[0].reason} for {', '.join(u.analyzer for u in found)}"
             for path, found in list(files.items())[:shown]]
    if len(files) > shown:
        lines.append(f"{len(files) - shown} more file(s) not analyzed for exceeding a size limit "
                     "(the report's unknowns list them)")
    return lines


# ---- steps ------------------------------------------------------------------------------

def _inventory(config: InventoryConfig, progress: Progress) -> Sbom:
    target = config.target
    if target.kind == "image":
        return _image_sbom(config, progress)
    if target.kind in ("rootfs", "fs"):
        return _directory_sbom(config, progress)
    if target.kind == "sbom":
        from layerscan.source.sbom_input import load_sbom

        return load_sbom(target.name)
    raise UsageError(f"unknown scan target kind {target.kind!r}")


def _image_sbom(config: InventoryConfig, progress: Progress) -> Sbom:
    target = config.target
    if not target.name and not target.input_path:
        raise UsageError("image: give an IMAGE name or --input PATH")
    from layerscan.scan.inventory import scan_image
    from layerscan.source.open import open_image

    with open_image(target.name or None, input_path=target.input_path or None, options=config.source,
                    progress=progress) as source:
        return scan_image(source, dataclasses.replace(config.options, mode="image"), progress)


def _directory_sbom(config: InventoryConfig, progress: Progress) -> Sbom:
    kind, path = config.target.kind, Path(config.target.name)
    if not path.exists():
        raise InputNotFoundError("root filesystem" if kind == "rootfs" else "project path", config.target.name)
    if kind == "rootfs" and not path.is_dir():
        raise ImageError(f"{config.target.name}: not a directory")
    from layerscan.scan.inventory import scan_directory

    return scan_directory(path, dataclasses.replace(config.options, mode=kind), progress)


def _with_match_facts(sbom: Sbom, vulns: VulnOutcome) -> Sbom:
    """The SBOM plus what matching learnt: unknowns (unmatchable versions) and the OS's end-of-life."""
    if vulns.unknowns:
        sbom = dataclasses.replace(sbom, unknowns=sbom.unknowns + vulns.unknowns)
    if vulns.os_eol and sbom.os and not sbom.os.eosl:
        sbom = dataclasses.replace(sbom, os=dataclasses.replace(sbom.os, eosl=True))
    return sbom


def _report(config: ScanConfig, sbom: Sbom, vulns: VulnOutcome | None, unchecked: int, result: PolicyResult,
            boundary: BaseBoundary) -> ScanReport:
    from layerscan.report import SBOM_FORMATS
    from layerscan.report.document import PolicySummary, build_report

    policy = config.policy
    summary = PolicySummary(
        exit_code=result.exit_code, failing=len(result.failing), eol=result.eol,
        expired_ignores=tuple(r.source for r in result.expired_rules),
        base_layers=boundary.layers, base_boundary=boundary.how, base_image=boundary.base_image,
        base_layer_findings=result.base_layer_findings,
        baseline=policy.baseline.source if policy.baseline else "", new_findings=result.new_findings)
    return build_report(
        sbom, result.shown, suppressed=result.suppressed, show_suppressed=config.report.show_suppressed,
        list_all_pkgs=config.report.list_all_pkgs or config.report.format in SBOM_FORMATS,
        vulnerabilities_scanned=bool(vulns and vulns.scanned), unchecked_os_packages=unchecked,
        policy=summary, db_metadata=vulns.db_metadata if vulns else (), dockerfile=config.report.dockerfile)
