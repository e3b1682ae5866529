"""NuGet ``packages.lock.json``, fs mode.

``dependencies`` maps each target framework to packages with ``type``
(Direct, Transitive, CentralTransitive, Project) and ``resolved`` version.
A package locked for several frameworks is listed once per version.
"""

from __future__ import annotations

from typing import ClassVar

from layerscan.analyzers.base import FileSpec, spec
from layerscan.analyzers.langbase import FileAnalyzer, Parsed, as_dict, as_str, basename, lang_package, load_json_object
from layerscan.model import Package

ANALYZER = "dotnet-packages-lock"
INDIRECT_TYPES = frozenset({"Transitive", "CentralTransitive"})


def parse(data: bytes) -> Parsed:
    doc = load_json_object(data)
    found: dict[tuple[str, str], Package] = {}
    for framework in as_dict(doc.get("dependencies")).values():
        for name, raw in as_dict(framework).items():
            entry = as_dict(raw)
            kind, version = as_str(entry.get("type")), as_str(entry.get("resolved"))
            package = lang_package("nuget", name, version, indirect=kind in INDIRECT_TYPES,
                                   is_application=kind == "Project")
            key = (name.lower(), version)
            if key not in found or (found[key].indirect and not package.indirect):
                found[key] = package
    return Parsed(packages=tuple(found.values()))


class PackagesLockAnalyzer(FileAnalyzer):
    name: ClassVar[str] = ANALYZER
    version: ClassVar[int] = 1
    description: ClassVar[str] = "NuGet packages.lock.json"
    result_type: ClassVar[str] = "nuget"
    files: ClassVar[FileSpec] = spec(names=("packages.lock.json",))

    def matches(self, path: str) -> bool:
        return basename(path) == "packages.lock.json"

    def parse_file(self, path: str, data: bytes) -> Parsed:
        return parse(data)
