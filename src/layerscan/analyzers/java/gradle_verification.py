"""Gradle dependency verification metadata (``gradle/verification-metadata.xml``, fs mode):
one package per ``<component group= name= version=>``. Components missing an
attribute are recorded as unknowns rather than half-named packages."""

from __future__ import annotations

from typing import ClassVar

from layerscan.analyzers.base import MiB, FileSpec, spec
from layerscan.analyzers.java.coords import Coordinates, maven_package
from layerscan.analyzers.java.xmlsafe import XmlError, parse_xml
from layerscan.analyzers.langbase import FileAnalyzer, Parsed, ParseError, basename
from layerscan.model import Package

NAME = "gradle-verification-metadata"


def parse(data: bytes) -> Parsed:
    try:
        root = parse_xml(data)
    except XmlError as exc:
        raise ParseError(str(exc)) from None
    packages: list[Package] = []
    problems: list[str] = []
    for component in root.iter("component"):
        coords = Coordinates(*(component.get(k, "").strip() for k in ("group", "name", "version")))
        if coords.group_id and coords.artifact_id and coords.version:
            packages.append(maven_package(coords, file_path="", found_by=NAME, evidence="verification-metadata.xml"))
        else:
            problems.append(f"component {coords.name}@{coords.version} lacks group, name or version")
    return Parsed(packages=tuple(packages), problems=tuple(problems))


class GradleVerificationAnalyzer(FileAnalyzer):
    name: ClassVar[str] = NAME
    version: ClassVar[int] = 1
    description: ClassVar[str] = "Gradle dependency verification metadata: the components it lists"
    result_type: ClassVar[str] = "gradle"
    files: ClassVar[FileSpec] = spec(names=("verification-metadata.xml",))
    max_file_size: ClassVar[int] = 64 * MiB

    def matches(self, path: str) -> bool:
        return basename(path) == "verification-metadata.xml"

    def parse_file(self, path: str, data: bytes) -> Parsed:
        return parse(data)
