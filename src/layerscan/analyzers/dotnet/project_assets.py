"""NuGet restore output ``obj/project.assets.json`` (PackageReference projects), fs mode.

``libraries`` maps "Name/Version" to ``{"type": "package" | "project", ...}``:
every restored package (direct and transitive, across all target frameworks)
and the project references. Packages are matched; project references and the
restored project itself (``project.restore.projectName`` + ``project.version``)
are listed as the application.

Direct dependencies are those the project declares: the names under
``project.frameworks.<tfm>.dependencies`` (older files: the "Name >= 1.0"
lines of ``projectFileDependencyGroups``). NuGet ids compare case-insensitively.
"""

from __future__ import annotations

from typing import Any, ClassVar

from layerscan.analyzers.base import FileSpec, spec
from layerscan.analyzers.langbase import (FileAnalyzer, Parsed, ParseError, as_dict, as_list, as_str, basename,
                                          lang_package, load_json_object)
from layerscan.model import Package

ANALYZER = "dotnet-project-assets"


def declared_names(doc: dict[str, Any]) -> set[str]:
    """Lower-cased ids the project itself depends on."""
    names = {name.lower() for framework in as_dict(as_dict(doc.get("project")).get("frameworks")).values()
             for name in as_dict(as_dict(framework).get("dependencies"))}
    for lines in as_dict(doc.get("projectFileDependencyGroups")).values():
        names.update(as_str(line).split(" ", 1)[0].lower() for line in as_list(lines) if as_str(line))
    return names


def _project(doc: dict[str, Any]) -> list[Package]:
    project = as_dict(doc.get("project"))
    name = as_str(as_dict(project.get("restore")).get("projectName"))
    version = as_str(project.get("version"))
    return [lang_package("nuget", name, version, is_application=True)] if name and version else []


def parse(data: bytes) -> Parsed:
    doc = load_json_object(data)
    if "libraries" not in doc and "targets" not in doc:
        raise ParseError("not a project.assets.json: no 'libraries' or 'targets'")
    direct = declared_names(doc)
    packages, problems = _project(doc), []
    for key, raw in as_dict(doc.get("libraries")).items():
        kind = as_str(as_dict(raw).get("type"))
        name, sep, version = str(key).partition("/")
        if not sep or not name:
            problems.append(f"library key {key!r} is not Name/Version")
        elif kind in ("package", "project"):
            packages.append(lang_package("nuget", name, version, is_application=kind == "project",
                                         indirect=kind == "package" and name.lower() not in direct))
    return Parsed(packages=tuple(packages), problems=tuple(problems))


class ProjectAssetsAnalyzer(FileAnalyzer):
    name: ClassVar[str] = ANALYZER
    version: ClassVar[int] = 1
    description: ClassVar[str] = "NuGet project.assets.json"
    result_type: ClassVar[str] = "nuget"
    files: ClassVar[FileSpec] = spec(names=("project.assets.json",))

    def matches(self, path: str) -> bool:
        return basename(path) == "project.assets.json"

    def parse_file(self, path: str, data: bytes) -> Parsed:
        return parse(data)
