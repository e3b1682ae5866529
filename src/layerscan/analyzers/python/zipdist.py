"""One metadata member out of a zipped Python distribution (egg, wheel), bounded.

The zip is hostile input: its end records are checked before ``zipfile`` builds an
object per member (member count and central-directory bytes, see ``zipbound``), one member of
bounded declared size is inflated with the read capped (a lying header cannot
grow memory), and nothing is written to disk. The archive may be bytes or a
seekable stream (a large wheel reaches the analyzer as a stream).
"""

from __future__ import annotations

import io
import zipfile
import zlib
from collections.abc import Callable
from typing import BinaryIO

from layerscan.analyzers.base import MiB
from layerscan.analyzers.langbase import ParseError
from layerscan.analyzers.zipbound import central_directory

MAX_MEMBER = 4 * MiB  # one METADATA / PKG-INFO
MAX_MEMBERS = 200_000
MAX_CENTRAL_DIRECTORY = 12 * MiB  # as for jars: ~150 MiB of zipfile objects at the limit


def check_end_record(stream: BinaryIO) -> None:
    """Refuse archives whose end record announces too many members or too large a member list."""
    announced = central_directory(stream)
    if announced is None:
        return
    if announced.members > MAX_MEMBERS:
        raise ParseError(f"zip has {announced.members} members, over the {MAX_MEMBERS} limit")
    if announced.size > MAX_CENTRAL_DIRECTORY:
        raise ParseError(f"zip member list is {announced.size} bytes, over the {MAX_CENTRAL_DIRECTORY} byte limit")


def read_member(source: bytes | BinaryIO, choose: Callable[[list[str]], str | None], what: str,
                limit: int = MAX_MEMBER) -> tuple[str, bytes]:
    """(name, content) of the member ``choose`` picks from the member names, at most
    ``limit`` bytes inflated. ParseError (with the reason) when it cannot be read."""
    stream: BinaryIO = io.BytesIO(source) if isinstance(source, bytes) else source
    try:
        check_end_record(stream)
        stream.seek(0)
        with zipfile.ZipFile(stream) as archive:
            infos = archive.infolist()
            if len(infos) > MAX_MEMBERS:
                raise ParseError(f"zip has {len(infos)} members, over the {MAX_MEMBERS} limit")
            chosen = choose([i.filename for i in infos])
            info = next((i for i in infos if i.filename == chosen), None)
            if info is None:
                raise ParseError(f"no {what} in the archive")
            if info.file_size > limit:
                raise ParseError(f"{info.filename} declares {info.file_size} bytes, over the {limit} byte limit")
            with archive.open(info) as member:
                content = member.read(limit + 1)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, zlib.error, NotImplementedError, RuntimeError, EOFError, OSError,
            ValueError) as exc:
        raise ParseError(f"unreadable zip: {exc}") from None
    if len(content) > limit:
        raise ParseError(f"{info.filename} inflates beyond the {limit} byte limit")
    return info.filename, content
