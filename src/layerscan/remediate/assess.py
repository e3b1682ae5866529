"""One remediation look at an image: the library scan (``scan.pipeline.Scanner``), then
the base image (``remediate.base``) and the end of life of the OS and runtimes
(``match.lifecycle``). Every remediation command starts here.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping

from layerscan.model import Finding
from layerscan.model.image import ImageMeta
from layerscan.policy.baselayers import in_base_layers
from layerscan.remediate.base import BaseImage, identify_base
from layerscan.match.lifecycle import EolEntry, find_runtimes, os_entry, runtime_entries
from layerscan.scan.config import ScanConfig
from layerscan.scan.pipeline import ScanOutcome, Scanner
from layerscan.source.attestation import Provenance


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


def _compressed_archive(input_path: str) -> bool:
    """A gzip/zstd archive would be spooled whole again (and a docker archive has no index)."""
    from layerscan.source.open import parse_input

    path = parse_input(input_path).path if input_path else None
    if path is None or not path.is_file():
        return False
    with path.open("rb") as fh:
        head = fh.read(4)
    return head[:2] == b"\x1f\x8b" or head == b"\x28\xb5\x2f\xfd"


def image_provenance(config: ScanConfig, image: ImageMeta | None) -> Provenance | None:
    """The provenance attestation of the scanned image (registry or OCI layout), read anew
    from its index: manifests and one statement, no layers. None when there is none, or when
    the image there is no longer the one scanned (a tag moved meanwhile)."""
    from layerscan.errors import LayerscanError
    from layerscan.source.attestation import read_provenance
    from layerscan.source.manifest import ManifestImageSource
    from layerscan.source.open import open_image

    target = config.inventory.target
    if target.kind != "image" or image is None:
        return None
    try:
        if _compressed_archive(target.input_path):
            return None
        with open_image(target.name or None, input_path=target.input_path or None,
                        options=config.inventory.source) as source:
            if not isinstance(source, ManifestImageSource) or source.manifest.config.digest != image.image_id:
                return None
            return read_provenance(source)
    except LayerscanError as exc:
        return Provenance(warnings=(f"provenance attestation not read: {exc}",))


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
        provenance = image_provenance(config, sbom.image)
        base = identify_base(sbom.image, dockerfile, build_args, config.base_layers, store, provenance)
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
