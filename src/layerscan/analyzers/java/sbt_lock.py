"""sbt ``build.sbt.lock`` (JSON, written by the sbt-dependency-lock plugin), fs mode.

Format (lockfile version 1): ``{"lockVersion": 1, "configurations": [...],
"dependencies": [{"org", "name", "version", "artifacts": [...], "configurations": [...]}]}``.
Every dependency is listed as a Maven package ``org:name`` (Scala artifacts keep
their ``_2.13`` suffix, as they are published). One used only by test
configurations is ``dev``. Trivy keeps only ``compile``/``runtime`` dependencies;
we also list ``provided``/``optional`` ones (they ship with the runtime that
provides them) and mark test-only ones dev instead of dropping them.
"""

from __future__ import annotations

from typing import Any, ClassVar

from layerscan.analyzers.base import FileSpec, spec
from layerscan.analyzers.java.coords import Coordinates, maven_package, valid_id, valid_version
from layerscan.analyzers.java.gradle_lock import tests_only
from layerscan.analyzers.langbase import (FileAnalyzer, Parsed, ParseError, as_dict, as_list, as_str, basename,
                                          load_json_object)
from layerscan.model import Package

NAME = "sbt-lockfile"
LOCK_VERSIONS = (1,)


def _dependency(entry: Any) -> Package | str:
    table = as_dict(entry)
    coords = Coordinates(as_str(table.get("org")), as_str(table.get("name")), as_str(table.get("version")))
    if not (valid_id(coords.group_id) and valid_id(coords.artifact_id) and valid_version(coords.version)):
        return f"dependency without a valid org, name and version: {str(entry)[:200]}"
    confs = [as_str(c) for c in as_list(table.get("configurations"))]
    return maven_package(coords, file_path="", found_by=NAME, evidence="build.sbt.lock", dev=tests_only(confs))


def parse(data: bytes) -> Parsed:
    doc = load_json_object(data)
    dependencies = doc.get("dependencies")
    if not isinstance(dependencies, list):
        raise ParseError("no 'dependencies' array: not an sbt-dependency-lock file")
    problems: list[str] = []
    if doc.get("lockVersion") not in LOCK_VERSIONS:
        problems.append(f"lockVersion {doc.get('lockVersion')!r} is not one we know (1): read as version 1")
    packages: list[Package] = []
    for entry in dependencies:
        result = _dependency(entry)
        if isinstance(result, Package):
            packages.append(result)
        else:
            problems.append(result)
    return Parsed(packages=tuple(packages), problems=tuple(problems))


class SbtLockAnalyzer(FileAnalyzer):
    name: ClassVar[str] = NAME
    version: ClassVar[int] = 1
    result_type: ClassVar[str] = "sbt"
    files: ClassVar[FileSpec] = spec(names=("build.sbt.lock",))
    description: ClassVar[str] = "sbt build.sbt.lock (sbt-dependency-lock plugin)"

    def matches(self, path: str) -> bool:
        return basename(path) == "build.sbt.lock"

    def parse_file(self, path: str, data: bytes) -> Parsed:
        return parse(data)
