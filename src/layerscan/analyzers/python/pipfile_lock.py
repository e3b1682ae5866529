"""Pipenv ``Pipfile.lock`` (JSON), fs mode: ``default`` and ``develop`` (dev=True) sections.

Versions are written ``==1.2.3``; entries without one (VCS, path, editable)
are listed with an empty version and the reason.
"""

from __future__ import annotations

from typing import Any, ClassVar

from layerscan.analyzers.base import FileSpec, spec
from layerscan.analyzers.langbase import (FileAnalyzer, Parsed, as_dict, as_str, basename, lang_package,
                                          load_json_object)
from layerscan.model import Package

ANALYZER = "python-pipfile-lock"


def _entry(name: str, info: Any, dev: bool) -> Package:
    info = as_dict(info)
    version = as_str(info.get("version")).removeprefix("===").removeprefix("==")
    source = next((key for key in ("git", "path", "file", "editable") if key in info), "")
    reason = "" if version else (f"{source} dependency without a version" if source else "no version in the entry")
    return lang_package("pypi", name, version, dev=dev, version_unknown_reason=reason)


def parse(data: bytes) -> Parsed:
    doc = load_json_object(data)
    found: dict[tuple[str, str], Package] = {}
    for section, dev in (("default", False), ("develop", True)):
        for name, info in as_dict(doc.get(section)).items():
            package = _entry(name, info, dev)
            key = (name.lower(), package.version)
            if key not in found or not dev:  # listed in both: a runtime dependency
                found[key] = package
    return Parsed(packages=tuple(found.values()))


class PipfileLockAnalyzer(FileAnalyzer):
    name: ClassVar[str] = ANALYZER
    version: ClassVar[int] = 1
    description: ClassVar[str] = "Pipenv Pipfile.lock"
    result_type: ClassVar[str] = "pipenv"
    files: ClassVar[FileSpec] = spec(names=("Pipfile.lock",))

    def matches(self, path: str) -> bool:
        return basename(path) == "Pipfile.lock"

    def parse_file(self, path: str, data: bytes) -> Parsed:
        return parse(data)
