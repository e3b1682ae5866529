"""Installed .NET applications: ``*.deps.json`` (image and rootfs mode).

``libraries`` maps "Name/Version" to a type: ``package`` entries are NuGet
packages and ``runtimepack`` entries the runtime bundled by a self-contained
app (both matched); ``project`` entries are the application and its own
projects (listed, not matched); ``reference`` entries are skipped. An invalid
entry (a key that is not ``Name/Version``, a value that is not an object) is an
Unknown of its own; the other entries are kept.
"""

from __future__ import annotations

from typing import ClassVar

from layerscan.analyzers.base import FileSpec, INSTALLED, spec
from layerscan.analyzers.langbase import FileAnalyzer, Parsed, ParseError, as_str, lang_package, load_json_object
from layerscan.model import Package

ANALYZER = "dotnet-deps-json"


def parse(data: bytes) -> Parsed:
    doc = load_json_object(data)
    packages: list[Package] = []
    problems: list[str] = []
    libraries = doc.get("libraries", {})
    if not isinstance(libraries, dict):
        raise ParseError(f"'libraries' is a {type(libraries).__name__}, not an object")
    for key, raw in libraries.items():
        if not isinstance(raw, dict):
            problems.append(f"library {key!r} is a {type(raw).__name__}, not an object")
            continue
        kind = as_str(raw.get("type"))
        if kind not in ("package", "runtimepack", "project"):
            continue
        name, sep, version = str(key).partition("/")
        if not sep or not name or not version or "/" in version:
            problems.append(f"library key {key!r} is not Name/Version")
            continue
        if kind == "runtimepack":
            name = name.removeprefix("runtimepack.")  # the key's prefix, not part of the NuGet id
        packages.append(lang_package("nuget", name, version, is_application=kind == "project"))
    return Parsed(packages=tuple(packages), problems=tuple(problems))


class DepsJsonAnalyzer(FileAnalyzer):
    name: ClassVar[str] = ANALYZER
    version: ClassVar[int] = 2
    description: ClassVar[str] = ".NET *.deps.json: the application's runtime libraries"
    result_type: ClassVar[str] = "dotnet-core"
    files: ClassVar[FileSpec] = spec(extensions=("json",))  # *.deps.json (matches)
    modes: ClassVar[frozenset[str]] = INSTALLED

    def matches(self, path: str) -> bool:
        return path.endswith(".deps.json")

    def parse_file(self, path: str, data: bytes) -> Parsed:
        return parse(data)
