"""Maven coordinates: validation, naming and Package construction shared by the
Java analyzers (archives, pom.xml, gradle lockfiles)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from layerscan.analyzers.langbase import lang_purl
from layerscan.model import Package

_ID_RE = re.compile(r"^[A-Za-z0-9_.\-]+$")


@dataclass(frozen=True)
class Coordinates:
    group_id: str
    artifact_id: str
    version: str

    @property
    def name(self) -> str:
        """Package name as Trivy writes it: ``group:artifact``."""
        return f"{self.group_id}:{self.artifact_id}"

    @property
    def purl(self) -> str:
        return maven_purl(self.group_id, self.artifact_id, self.version)


def valid_id(value: str) -> bool:
    """A plausible groupId/artifactId: no spaces, no unresolved ``${...}`` or ``%`` keys."""
    return bool(value) and _ID_RE.match(value) is not None


def valid_version(value: str) -> bool:
    return bool(value) and " " not in value and "${" not in value and "%" not in value


def maven_purl(group_id: str, artifact_id: str, version: str) -> str:
    return lang_purl("maven", artifact_id, version, group_id)


def maven_package(
    coords: Coordinates,
    *,
    file_path: str,
    found_by: str,
    evidence: str,
    dev: bool = False,
    indirect: bool = False,
    is_application: bool = False,
    version_unknown_reason: str = "",
    extra: tuple[tuple[str, str], ...] = (),
) -> Package:
    return Package(
        name=coords.name,
        version=coords.version,
        type="maven",
        purl=coords.purl,
        file_path=file_path,
        found_by=found_by,
        evidence=evidence,
        dev=dev,
        indirect=indirect,
        is_application=is_application,
        version_unknown_reason=version_unknown_reason,
        extra=extra,
    )
