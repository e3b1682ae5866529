"""Packages found in a target, and the things we could not identify."""

from __future__ import annotations

from dataclasses import dataclass, replace

from layerscan.ecosystems import os_types
from layerscan.model.image import LayerInfo

# Package.type values (one per ecosystem). OS: deb, apk, rpm (opkg: OpenWrt status files).
OS_TYPES: frozenset[str] = os_types()  # the ecosystem records of kind OS (layerscan.ecosystems)


@dataclass(frozen=True)
class Package:
    """One installed (or locked) package.

    ``version`` is always the full version string as the ecosystem writes it
    (for deb/rpm ``[epoch:]upstream[-release]``); split fields for Trivy-style
    output are derived by the reporters.
    """

    name: str
    version: str
    type: str  # deb, apk, rpm, pypi, npm, maven, golang, cargo, gem, composer, nuget, conda, ...
    purl: str = ""
    arch: str = ""
    src_name: str = ""  # OS packages: source package (Debian Source:, apk origin, rpm SOURCERPM name)
    src_version: str = ""  # full source version
    file_path: str = ""  # file the package was read from ("app.jar!/BOOT-INF/lib/x.jar" for nested)
    installed_files: tuple[str, ...] = ()
    licenses: tuple[str, ...] = ()
    found_by: str = ""  # analyzer name
    evidence: str = ""  # how identity was established (e.g. "pom.properties", "MANIFEST.MF", "filename")
    dev: bool = False
    indirect: bool = False
    is_application: bool = False  # the project itself (top-level package.json, main Go module): not matched
    os_owner: str = ""  # "deb:python3-yaml" when an OS package owns file_path: listed, not matched
    version_unknown_reason: str = ""  # set when the version could not be established
    layer: LayerInfo | None = None
    extra: tuple[tuple[str, str], ...] = ()  # analyzer-specific facts, e.g. (("go_toolchain","go1.21.1"),)

    @property
    def id(self) -> str:
        return f"{self.name}@{self.version}"

    @property
    def matchable(self) -> bool:
        """False for packages listed for completeness but excluded from matching."""
        return not (self.is_application or self.os_owner or self.version_unknown_reason or not self.version)

    def with_layer(self, layer: LayerInfo | None) -> "Package":
        return replace(self, layer=layer)


@dataclass(frozen=True)
class Unknown:
    """A file we looked at but could not (fully) read; reported, never silently dropped."""

    path: str
    reason: str
    analyzer: str = ""
    layer: LayerInfo | None = None
