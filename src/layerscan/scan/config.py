"""What a scan is asked to do, as frozen typed values: the CLI fills them once from its
flag table, the server and the remediation commands build them directly.

    InventoryConfig   what to read (target, how to open it, how to walk it)
    DatabaseConfig    where the vulnerability database lives and whether to refresh it
    ReportConfig      what the report document keeps
    ScanConfig        all of them, plus the policy (``policy.decision.PolicyOptions``)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from layerscan.policy.decision import PolicyOptions
from layerscan.scan.inventory import ScanOptions
from layerscan.source.base import SourceOptions

TARGET_KINDS = ("image", "rootfs", "fs", "sbom")


@dataclass(frozen=True)
class Target:
    kind: str  # one of TARGET_KINDS
    name: str = ""  # image reference, directory, or SBOM file
    input_path: str = ""  # image: a docker-save archive or OCI layout instead of a registry


@dataclass(frozen=True)
class InventoryConfig:
    target: Target
    source: SourceOptions = field(default_factory=SourceOptions)
    options: ScanOptions = field(default_factory=lambda: ScanOptions(mode="image"))


@dataclass(frozen=True)
class DatabaseConfig:
    cache_dir: Path  # the database is ``db_path(cache_dir)``
    skip_update: bool = False  # never refresh before matching (--skip-db-update / --offline-scan)
    repository: str = ""  # refresh by pulling a prebuilt database (--db-repository)
    timeout: float = 300.0  # --timeout: deadline of a whole pull / feed download
    insecure: bool = False
    max_age: str = ""  # warn when the database is older ("7d"); "" = never


@dataclass(frozen=True)
class ReportConfig:
    format: str = "table"  # decides only whether all packages are listed (SBOM formats)
    list_all_pkgs: bool = False
    show_suppressed: bool = False
    dockerfile: str = ""  # map layers to the steps of this Dockerfile


@dataclass(frozen=True)
class ScanConfig:
    inventory: InventoryConfig
    database: DatabaseConfig
    policy: PolicyOptions = field(default_factory=PolicyOptions)
    report: ReportConfig = field(default_factory=ReportConfig)
    vulnerabilities: bool = True  # False: inventory only (no database is needed)
    base_layers: str | int | None = None  # base-layer exclusion spec (``policy.baselayers.parse_spec``)
