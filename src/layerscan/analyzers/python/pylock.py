"""PEP 751 ``pylock.toml`` / ``pylock.<name>.toml`` (TOML), fs mode: ``[[packages]]``.

Packages without ``version`` (VCS, directory sources) are listed with an empty
version and the reason.
"""

from __future__ import annotations

import re
from typing import Any, ClassVar

from layerscan.analyzers.base import FileSpec, spec
from layerscan.analyzers.langbase import FileAnalyzer, Parsed, as_str, basename, lang_package
from layerscan.analyzers.python.tomllock import package_tables
from layerscan.model import Package

ANALYZER = "python-pylock"
_NAME = re.compile(r"^pylock(\.[^./]+)?\.toml$")


def _package(table: dict[str, Any]) -> Package:
    source = next((key for key in ("vcs", "directory", "archive") if key in table), "")
    version = as_str(table.get("version"))
    reason = "" if version else f"{source or 'unversioned'} source without a version"
    return lang_package("pypi", as_str(table.get("name")), version, version_unknown_reason=reason)


def parse(data: bytes) -> Parsed:
    return Parsed(packages=tuple(_package(t) for t in package_tables(data, "packages")))


class PylockAnalyzer(FileAnalyzer):
    name: ClassVar[str] = ANALYZER
    version: ClassVar[int] = 1
    description: ClassVar[str] = "PEP 751 lock files: pylock.toml and pylock.NAME.toml"
    result_type: ClassVar[str] = "pylock"
    files: ClassVar[FileSpec] = spec(extensions=("toml",))  # pylock[.NAME].toml (matches)

    def matches(self, path: str) -> bool:
        return bool(_NAME.match(basename(path)))

    def parse_file(self, path: str, data: bytes) -> Parsed:
        return parse(data)
