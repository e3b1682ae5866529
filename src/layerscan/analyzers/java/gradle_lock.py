"""Gradle dependency lockfiles, fs mode.

Files (all written by ``gradle dependencies --write-locks``):
- ``gradle.lockfile``: the project's configurations (Gradle 6+);
- ``buildscript-gradle.lockfile``: the build script's ``classpath`` (plugins and
  their dependencies: they run in the build, so they are listed and matched);
- ``settings-gradle.lockfile``: the settings script's classpath;
- ``gradle/dependency-locks/<configuration>.lockfile``: the per-configuration
  layout of Gradle 4.8-5 (lines without ``=``: the configuration is the file name).

Lines are ``group:artifact:version=conf1,conf2``; a dependency used only by test
configurations (``test*``, ``androidTest*``, ``*UnitTest*``, ``integrationTest*``...)
is ``dev``. Comments, ``empty=`` and lines that are no coordinates are skipped;
a line that looks like coordinates but does not parse is recorded as a problem.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import ClassVar

from layerscan.analyzers.base import FileSpec, spec
from layerscan.analyzers.java.coords import Coordinates, maven_package, valid_id, valid_version
from layerscan.analyzers.langbase import FileAnalyzer, Parsed, basename, decode_text
from layerscan.model import Package

NAME = "gradle-lockfile"
LOCKFILE_NAMES = ("gradle.lockfile", "buildscript-gradle.lockfile", "settings-gradle.lockfile")
LEGACY_DIR = "gradle/dependency-locks/"


def is_test_configuration(name: str) -> bool:
    """A Gradle/sbt configuration that only tests use (``testRuntimeClasspath``,
    ``debugAndroidTestCompileClasspath``, ``releaseUnitTestRuntimeClasspath``, sbt ``test`` and ``it``)."""
    return name.startswith("test") or "Test" in name or name == "it"


def tests_only(configurations: Iterable[str]) -> bool:
    confs = [c for c in configurations if c]
    return bool(confs) and all(is_test_configuration(c) for c in confs)


def is_gradle_lockfile(path: str) -> bool:
    name = basename(path)
    if name in LOCKFILE_NAMES:
        return True
    return name.endswith(".lockfile") and (path.startswith(LEGACY_DIR) or f"/{LEGACY_DIR}" in path)


def _line(line: str, legacy_configuration: str) -> Package | str | None:
    coordinates, equals, configurations = line.partition("=")
    parts = [p.strip() for p in coordinates.split(":")]
    if len(parts) != 3:
        return f"not group:artifact:version: {line[:200]!r}" if len(parts) > 1 else None
    coords = Coordinates(*parts)
    if not (valid_id(coords.group_id) and valid_id(coords.artifact_id) and valid_version(coords.version)):
        return f"invalid coordinates: {line[:200]!r}"
    confs = [c.strip() for c in configurations.split(",")] if equals else [legacy_configuration]
    return maven_package(coords, file_path="", found_by=NAME, evidence="gradle lockfile", dev=tests_only(confs))


def parse(path: str, data: bytes) -> Parsed:
    legacy = basename(path).removesuffix(".lockfile") if basename(path) not in LOCKFILE_NAMES else ""
    packages: list[Package] = []
    problems: list[str] = []
    for number, raw in enumerate(decode_text(data, strict=False).splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#") or line.startswith("empty="):
            continue
        result = _line(line, legacy)
        if isinstance(result, Package):
            packages.append(result)
        elif result:
            problems.append(f"line {number}: {result}")
    return Parsed(packages=tuple(packages), problems=tuple(problems))


class GradleLockAnalyzer(FileAnalyzer):
    name: ClassVar[str] = NAME
    version: ClassVar[int] = 2  # 2: buildscript/settings/legacy lockfiles, test configurations, problems recorded
    result_type: ClassVar[str] = "gradle"
    files: ClassVar[FileSpec] = spec(names=LOCKFILE_NAMES, extensions=("lockfile",))
    description: ClassVar[str] = "Gradle lockfiles (gradle, buildscript, settings, gradle/dependency-locks/*)"

    def matches(self, path: str) -> bool:
        return is_gradle_lockfile(path)

    def parse_file(self, path: str, data: bytes) -> Parsed:
        return parse(path, data)
