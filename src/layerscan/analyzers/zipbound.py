"""A zip archive's size announcements, read before ``zipfile`` trusts them.

``zipfile.ZipFile`` builds one object per member of the central directory as it
opens an archive, so a hostile archive's member list must be sized first: the
end of central directory record (and its zip64 form) says how many members and
how many bytes of list follow. Only the archive's tail is read.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import BinaryIO

EOCD = b"PK\x05\x06"  # end of central directory record: 22 bytes + comment
EOCD64_LOCATOR = b"PK\x06\x07"  # 20 bytes, right before the EOCD of a zip64 archive
EOCD64 = b"PK\x06\x06"  # 56 bytes, right before its locator
TAIL = 22 + 0xFFFF  # the EOCD lies within this many bytes of the end (longest comment)


@dataclass(frozen=True)
class CentralDirectory:
    members: int
    size: int  # bytes of the member list


def _le(data: bytes, start: int, size: int) -> int:
    return int.from_bytes(data[start:start + size], "little")


def central_directory(stream: BinaryIO) -> CentralDirectory | None:
    """What the end records announce; None when there is no end record (zipfile then says why)."""
    end = stream.seek(0, io.SEEK_END)
    tail_start = max(0, end - TAIL)
    stream.seek(tail_start)
    tail = stream.read(end - tail_start)
    at = tail.rfind(EOCD)
    if at < 0 or len(tail) < at + 22:
        return None
    found = CentralDirectory(_le(tail, at + 10, 2), _le(tail, at + 12, 4))
    eocd = tail_start + at
    if at >= 20 and tail[at - 20:at - 16] == EOCD64_LOCATOR and eocd >= 20 + 56:
        stream.seek(eocd - 20 - 56)
        record = stream.read(56)
        if record[:4] == EOCD64:  # the 32-bit fields then say 0xFFFF...
            found = CentralDirectory(_le(record, 32, 8), _le(record, 40, 8))
    return found
