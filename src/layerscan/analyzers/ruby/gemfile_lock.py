"""Bundler ``Gemfile.lock`` / ``gems.locked``, fs mode.

Gems are the four-space-indented ``name (version)`` lines under ``specs:`` of
the GEM, GIT and PATH sections (six-space lines are their dependencies).
A platform suffix (``nokogiri (1.13.0-x86_64-linux)``) is kept in ``extra`` and
removed from the version. Direct gems are those listed under DEPENDENCIES;
PATH gems are the application's own (listed, not matched).
"""

from __future__ import annotations

import re
from typing import ClassVar

from layerscan.analyzers.base import FileSpec, spec
from layerscan.analyzers.langbase import FileAnalyzer, Parsed, basename, decode_text, lang_package
from layerscan.model import Package

ANALYZER = "ruby-gemfile-lock"
SOURCE_SECTIONS = ("GEM", "GIT", "PATH", "PLUGIN SOURCE")
_SPEC = re.compile(r"^    (\S+) \(([^)]+)\)$")
_DEPENDENCY = re.compile(r"^  (\S+?)(?:!)?(?: \(.*\))?$")
_PLATFORM = re.compile(r"^(.+?)-((?:x86|x64|arm|aarch|universal|java|mingw|mswin|darwin|linux|ruby)[\w.-]*)$")


def _split_platform(version: str) -> tuple[str, str]:
    match = _PLATFORM.match(version)
    return (match[1], match[2]) if match else (version, "")


def parse(data: bytes) -> Parsed:
    section = ""
    found: list[tuple[str, str, str]] = []
    direct: set[str] = set()
    for line in decode_text(data).splitlines():
        if line and not line[0].isspace():
            section = line.strip()
            continue
        if section in SOURCE_SECTIONS and (spec := _SPEC.match(line)):
            found.append((spec[1], spec[2], section))
        elif section == "DEPENDENCIES" and (dep := _DEPENDENCY.match(line)):
            direct.add(dep[1])
    packages: list[Package] = []
    for name, raw_version, source in found:
        version, platform = _split_platform(raw_version)
        packages.append(lang_package(
            "gem", name, version, is_application=source == "PATH",
            indirect=bool(direct) and name not in direct,
            extra=(("platform", platform),) if platform else (),
        ))
    return Parsed(packages=tuple(packages))


class GemfileLockAnalyzer(FileAnalyzer):
    name: ClassVar[str] = ANALYZER
    version: ClassVar[int] = 1
    description: ClassVar[str] = "Bundler Gemfile.lock and gems.locked"
    result_type: ClassVar[str] = "bundler"
    files: ClassVar[FileSpec] = spec(names=("Gemfile.lock", "gems.locked"))

    def matches(self, path: str) -> bool:
        return basename(path) in ("Gemfile.lock", "gems.locked")

    def parse_file(self, path: str, data: bytes) -> Parsed:
        return parse(data)
