"""Gradle dependency lockfiles (``gradle.lockfile``, fs mode).

Lines are ``group:artifact:version=conf1,conf2``; a dependency used only by
``test*`` configurations is ``dev``. Comments, ``empty=`` and malformed lines
are skipped.
"""

from __future__ import annotations

from layerscan.analyzers.base import AnalysisResult, Analyzer, LOCKFILE, spec
from layerscan.analyzers.java.coords import Coordinates, maven_package, valid_id, valid_version

NAME = "gradle-lockfile"


def parse(path: str, data: bytes) -> AnalysisResult:
    packages = []
    for raw in data.decode("utf-8", "replace").splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        coordinates, _, configurations = line.partition("=")
        parts = coordinates.split(":")
        if len(parts) != 3:
            continue
        coords = Coordinates(*(p.strip() for p in parts))
        if not (valid_id(coords.group_id) and valid_id(coords.artifact_id) and valid_version(coords.version)):
            continue
        confs = [c.strip() for c in configurations.split(",") if c.strip()]
        dev = bool(confs) and all(c.startswith("test") for c in confs)
        packages.append(maven_package(coords, file_path=path, found_by=NAME, evidence="gradle.lockfile", dev=dev))
    return AnalysisResult(packages=tuple(packages))


class GradleLockAnalyzer(Analyzer):
    name = NAME
    version = 1
    files = spec(names=("gradle.lockfile",))
    modes = LOCKFILE

    def wants(self, path: str, mode: int, size: int) -> bool:
        return path.rsplit("/", 1)[-1] == "gradle.lockfile"

    def analyze(self, path: str, data: bytes) -> AnalysisResult:
        return parse(path, data)
