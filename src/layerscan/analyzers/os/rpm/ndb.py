"""rpm's NDB backend (``Packages.db``, SUSE since 15 SP3), little-endian.

A 32-byte file header (``RpmP``), slot pages of 16-byte slots (``Slot``,
package index, block offset, block count), and blobs (``BlbS`` header of 16
bytes, then the rpm header) at ``block offset * 16``.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator

from layerscan.analyzers.os.rpm.errors import RpmDbError

FILE_MAGIC = b"RpmP"
SLOT_MAGIC = b"Slot"
BLOB_MAGIC = b"BlbS"
PAGE_SIZE = 4096
SLOT_SIZE = 16
BLOCK_SIZE = 16
HEADER_SIZE = 32
_SLOT = struct.Struct("<4sIII")
_BLOB = struct.Struct("<4sIII")


def is_ndb(data: bytes) -> bool:
    return data[:4] == FILE_MAGIC


def iter_values(data: bytes) -> Iterator[bytes]:
    """Header blobs of every used slot, in slot order."""
    if len(data) < HEADER_SIZE or not is_ndb(data):
        raise RpmDbError("not an rpm NDB database")
    version, _, slot_pages = struct.unpack_from("<III", data, 4)
    if version != 0:
        raise RpmDbError(f"unsupported NDB version {version}")
    slots_end = slot_pages * PAGE_SIZE
    if slot_pages == 0 or slots_end > len(data):
        raise RpmDbError(f"slot area of {slot_pages} pages does not fit the file")
    for offset in range(HEADER_SIZE, slots_end, SLOT_SIZE):
        magic, pkg_index, block, blocks = _SLOT.unpack_from(data, offset)
        if magic != SLOT_MAGIC or pkg_index == 0:
            continue
        yield _blob(data, pkg_index, block, blocks)


def _blob(data: bytes, pkg_index: int, block: int, blocks: int) -> bytes:
    start = block * BLOCK_SIZE
    end = start + blocks * BLOCK_SIZE
    if end > len(data) or blocks * BLOCK_SIZE < _BLOB.size:
        raise RpmDbError(f"package {pkg_index}: blob outside the file")
    magic, index, _, length = _BLOB.unpack_from(data, start)
    if magic != BLOB_MAGIC or index != pkg_index:
        raise RpmDbError(f"package {pkg_index}: bad blob header")
    if _BLOB.size + length > end - start:
        raise RpmDbError(f"package {pkg_index}: blob length {length} exceeds its blocks")
    return data[start + _BLOB.size : start + _BLOB.size + length]
