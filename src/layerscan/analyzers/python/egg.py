"""Zipped Python eggs (``*.egg`` files): the ``EGG-INFO/PKG-INFO`` member inside.

The zip is read bounded by :mod:`layerscan.analyzers.python.zipdist` (central
directory only, one member of bounded size, nothing written to disk).
"""

from __future__ import annotations

from typing import ClassVar

from layerscan.analyzers.base import FileSpec, INSTALLED, MiB, spec
from layerscan.analyzers.langbase import FileAnalyzer, Parsed
from layerscan.analyzers.python import metadata
from layerscan.analyzers.python.zipdist import MAX_MEMBER, read_member

ANALYZER = "python-egg"
MEMBER = "EGG-INFO/PKG-INFO"
__all__ = ["MAX_MEMBER", "PythonEggAnalyzer", "parse"]


def parse(data: bytes) -> Parsed:
    _, content = read_member(data, lambda names: MEMBER if MEMBER in names else None, MEMBER)
    return metadata.parse(content)


class PythonEggAnalyzer(FileAnalyzer):
    name: ClassVar[str] = ANALYZER
    version: ClassVar[int] = 2  # 2: the zip is read by zipdist (end record checked first)
    description: ClassVar[str] = "Python .egg archives: the PKG-INFO inside"
    result_type: ClassVar[str] = "python-pkg"
    files: ClassVar[FileSpec] = spec(extensions=("egg",))
    modes: ClassVar[frozenset[str]] = INSTALLED
    max_file_size: ClassVar[int] = 64 * MiB

    def matches(self, path: str) -> bool:
        return path.lower().endswith(".egg")

    def parse_file(self, path: str, data: bytes) -> Parsed:
        return parse(data)
