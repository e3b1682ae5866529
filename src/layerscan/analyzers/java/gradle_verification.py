"""Gradle dependency verification metadata (``gradle/verification-metadata.xml``, fs mode):
one package per ``<component group= name= version=>``. Components missing an
attribute are recorded as unknowns rather than half-named packages."""

from __future__ import annotations

from layerscan.analyzers.base import AnalysisResult, Analyzer, LOCKFILE, spec, unknown
from layerscan.analyzers.java.coords import Coordinates, maven_package
from layerscan.analyzers.java.xmlsafe import XmlError, parse_xml
from layerscan.model import Unknown

NAME = "gradle-verification-metadata"


def parse(path: str, data: bytes) -> AnalysisResult:
    try:
        root = parse_xml(data)
    except XmlError as exc:
        return unknown(path, str(exc), NAME)
    packages = []
    unknowns = []
    for component in root.iter("component"):
        coords = Coordinates(*(component.get(k, "").strip() for k in ("group", "name", "version")))
        if coords.group_id and coords.artifact_id and coords.version:
            packages.append(
                maven_package(coords, file_path=path, found_by=NAME, evidence="verification-metadata.xml")
            )
        else:
            reason = f"component {coords.name}@{coords.version} lacks group, name or version"
            unknowns.append(Unknown(path=path, reason=reason, analyzer=NAME))
    return AnalysisResult(packages=tuple(packages), unknowns=tuple(unknowns))


class GradleVerificationAnalyzer(Analyzer):
    name = NAME
    version = 1
    description = "Gradle dependency verification metadata: the components it lists"
    result_type = "gradle"
    files = spec(names=("verification-metadata.xml",))
    modes = LOCKFILE

    def wants(self, path: str, mode: int, size: int) -> bool:
        return path.rsplit("/", 1)[-1] == "verification-metadata.xml"

    def analyze(self, path: str, data: bytes) -> AnalysisResult:
        return parse(path, data)
