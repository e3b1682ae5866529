"""The rpm header blob as rpm stores it in its database (no lead, no intro magic).

Layout (big-endian): ``il`` index entries and ``dl`` data bytes, then ``il``
16-byte entries ``(tag, type, offset, count)``, then the data store. Every
offset and count is checked against the data store before it is read, so a
hostile blob gives :class:`HeaderError`, never an over-read or a huge loop.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping
from dataclasses import dataclass

# Tags we read (rpmtag.h).
NAME, VERSION, RELEASE, EPOCH = 1000, 1001, 1002, 1003
VENDOR, LICENSE, ARCH, SOURCERPM = 1011, 1014, 1022, 1044
OLDFILENAMES, DIRINDEXES, BASENAMES, DIRNAMES = 1027, 1116, 1117, 1118
MODULARITYLABEL = 5096

# Types (rpmtag.h rpmTagType).
INT32, STRING, STRING_ARRAY, I18NSTRING = 4, 6, 8, 9

MAX_INDEX_ENTRIES = 0xFFFF  # rpm's own limit
MAX_DATA_LENGTH = 256 * 1024 * 1024  # rpm's own limit
_ENTRY = struct.Struct(">iIiI")


class HeaderError(ValueError):
    """The blob is not a well-formed rpm header."""


@dataclass(frozen=True)
class _Entry:
    type: int
    offset: int
    count: int


@dataclass(frozen=True)
class Header:
    """Index of one header blob; values are decoded on request."""

    entries: Mapping[int, _Entry]
    store: bytes

    def string(self, tag: int) -> str:
        entry = self.entries.get(tag)
        if entry is None:
            return ""
        if entry.type not in (STRING, STRING_ARRAY, I18NSTRING):
            raise HeaderError(f"tag {tag}: type {entry.type} is not a string")
        return self._strings(tag, entry, 1)[0]

    def strings(self, tag: int) -> list[str]:
        entry = self.entries.get(tag)
        if entry is None:
            return []
        if entry.type not in (STRING_ARRAY, I18NSTRING):
            raise HeaderError(f"tag {tag}: type {entry.type} is not a string array")
        return self._strings(tag, entry, entry.count)

    def ints(self, tag: int) -> list[int]:
        entry = self.entries.get(tag)
        if entry is None:
            return []
        if entry.type != INT32:
            raise HeaderError(f"tag {tag}: type {entry.type} is not int32")
        end = entry.offset + 4 * entry.count
        if end > len(self.store):
            raise HeaderError(f"tag {tag}: {entry.count} int32 values overrun the data store")
        return list(struct.unpack_from(f">{entry.count}i", self.store, entry.offset))

    def _strings(self, tag: int, entry: _Entry, count: int) -> list[str]:
        if count > len(self.store):
            raise HeaderError(f"tag {tag}: count {count} larger than the data store")
        result, pos = [], entry.offset
        for _ in range(count):
            end = self.store.find(b"\x00", pos)
            if end < 0:
                raise HeaderError(f"tag {tag}: unterminated string")
            result.append(self.store[pos:end].decode("utf-8", errors="replace"))
            pos = end + 1
        return result


def parse_header(blob: bytes) -> Header:
    if len(blob) < 8:
        raise HeaderError("header shorter than its 8-byte preamble")
    il, dl = struct.unpack_from(">ii", blob)
    if not 1 <= il <= MAX_INDEX_ENTRIES:
        raise HeaderError(f"index entry count {il} out of range")
    if not 0 <= dl <= MAX_DATA_LENGTH:
        raise HeaderError(f"data length {dl} out of range")
    store_start = 8 + il * _ENTRY.size
    if store_start + dl > len(blob):
        raise HeaderError(f"header truncated: needs {store_start + dl} bytes, has {len(blob)}")
    entries: dict[int, _Entry] = {}
    for i in range(il):
        tag, typ, offset, count = _ENTRY.unpack_from(blob, 8 + i * _ENTRY.size)
        if not 0 <= offset < dl or count > dl:
            if tag < 1000:  # region/signature bookkeeping entries we never read
                continue
            raise HeaderError(f"tag {tag}: offset {offset} / count {count} outside the data store")
        entries[tag] = _Entry(typ, offset, count)
    return Header(entries=entries, store=blob[store_start : store_start + dl])
