"""NuGet ``packages.config`` (XML, classic .NET Framework projects), fs mode.

``<package id version [developmentDependency="true"]/>`` entries. Documents with
a DTD or entity declarations are refused (no entity expansion of hostile XML).
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ElementTree
from typing import ClassVar

from layerscan.analyzers.base import FileSpec, spec
from layerscan.analyzers.langbase import FileAnalyzer, Parsed, ParseError, basename, decode_text, lang_package

ANALYZER = "dotnet-packages-config"
_DTD = re.compile(r"<!\s*(DOCTYPE|ENTITY)", re.I)


def load_xml(data: bytes) -> ElementTree.Element:
    text = decode_text(data)
    if _DTD.search(text):
        raise ParseError("XML with a DTD or entity declarations is not accepted")
    try:
        return ElementTree.fromstring(text.encode("utf-8"))
    except ElementTree.ParseError as exc:
        raise ParseError(f"invalid XML: {exc}") from None


def parse(data: bytes) -> Parsed:
    root = load_xml(data)
    packages = []
    for element in root.iter("package"):
        name, version = element.get("id", "").strip(), element.get("version", "").strip()
        if name:
            packages.append(lang_package("nuget", name, version,
                                         dev=element.get("developmentDependency", "").lower() == "true"))
    return Parsed(packages=tuple(packages))


class PackagesConfigAnalyzer(FileAnalyzer):
    name: ClassVar[str] = ANALYZER
    version: ClassVar[int] = 1
    description: ClassVar[str] = "NuGet packages.config"
    result_type: ClassVar[str] = "packages-props"
    files: ClassVar[FileSpec] = spec(names=("packages.config",))

    def matches(self, path: str) -> bool:
        return basename(path) == "packages.config"

    def parse_file(self, path: str, data: bytes) -> Parsed:
        return parse(data)
