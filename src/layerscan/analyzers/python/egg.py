"""Zipped Python eggs (``*.egg`` files): the ``EGG-INFO/PKG-INFO`` member inside.

The zip is hostile input: only the central directory is read, one member of
bounded size is inflated (its declared size is checked and the read is capped,
so a lying header cannot grow memory), and nothing is written to disk.
"""

from __future__ import annotations

import io
import zipfile
from typing import ClassVar

from layerscan.analyzers.base import FileSpec, INSTALLED, MiB, spec
from layerscan.analyzers.langbase import FileAnalyzer, Parsed, ParseError
from layerscan.analyzers.python import metadata

ANALYZER = "python-egg"
MEMBER = "EGG-INFO/PKG-INFO"
MAX_MEMBER = 4 * MiB
MAX_MEMBERS = 100_000


def read_member(data: bytes, member: str, limit: int = MAX_MEMBER) -> bytes:
    """One member of a zip held in memory, at most ``limit`` bytes inflated."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            infos = archive.infolist()
            if len(infos) > MAX_MEMBERS:
                raise ParseError(f"zip has {len(infos)} members, over the {MAX_MEMBERS} limit")
            info = next((i for i in infos if i.filename == member), None)
            if info is None:
                raise ParseError(f"no {member} in the egg")
            if info.file_size > limit:
                raise ParseError(f"{member} declares {info.file_size} bytes, over the {limit} byte limit")
            with archive.open(info) as stream:
                content = stream.read(limit + 1)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, NotImplementedError, EOFError, OSError) as exc:
        raise ParseError(f"unreadable zip: {exc}") from None
    if len(content) > limit:
        raise ParseError(f"{member} inflates beyond the {limit} byte limit")
    return content


def parse(data: bytes) -> Parsed:
    return metadata.parse(read_member(data, MEMBER))


class PythonEggAnalyzer(FileAnalyzer):
    name: ClassVar[str] = ANALYZER
    version: ClassVar[int] = 1
    files: ClassVar[FileSpec] = spec(extensions=("egg",))
    modes: ClassVar[frozenset[str]] = INSTALLED
    max_file_size: ClassVar[int] = 64 * MiB

    def matches(self, path: str) -> bool:
        return path.lower().endswith(".egg")

    def parse_file(self, path: str, data: bytes) -> Parsed:
        return parse(data)
