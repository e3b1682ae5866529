"""BerkeleyDB hash database (rpm's classic ``Packages`` file), read page by page.

Only what rpm stores is supported: a hash database whose values are header
blobs, usually on chains of overflow pages. Either byte order is accepted.
Every page number, item offset and chain is bounded by the file: a chain that
loops or leaves the file ends with :class:`RpmDbError` instead of running on.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator

from layerscan.analyzers.os.rpm.errors import RpmDbError

HASH_MAGIC = 0x061561
PAGE_HEADER = 26
# page types (db_page.h)
P_HASH_UNSORTED, P_OVERFLOW, P_HASH = 2, 7, 13
# hash item types
H_KEYDATA, H_OFFPAGE = 1, 3
MIN_VALUE = 24  # smaller values (rpm's instance counter) are not headers


def is_bdb_hash(data: bytes) -> bool:
    return len(data) >= 24 and _byte_order(data) is not None


def _byte_order(data: bytes) -> str | None:
    for order in "<>":
        if struct.unpack_from(f"{order}I", data, 12)[0] == HASH_MAGIC:
            return order
    return None


class _Pages:
    def __init__(self, data: bytes) -> None:
        order = _byte_order(data)
        if order is None or len(data) < 72:
            raise RpmDbError("not a BerkeleyDB hash database")
        self.data, self.order = data, order
        self.page_size = struct.unpack_from(f"{order}I", data, 20)[0]
        if self.page_size < 512 or self.page_size > 65536 or self.page_size & (self.page_size - 1):
            raise RpmDbError(f"bad page size {self.page_size}")
        if data[24] != 0:
            raise RpmDbError("encrypted BerkeleyDB databases are not supported")
        last = struct.unpack_from(f"{order}I", data, 32)[0]
        self.count = min(last + 1, len(data) // self.page_size)
        # Honest databases read each overflow page once; shared or crossing
        # chains in a hostile file must not multiply the work.
        self.overflow_budget = 2 * self.count + 16

    def page(self, number: int) -> bytes:
        if not 0 <= number < self.count:
            raise RpmDbError(f"page {number} outside the file")
        start = number * self.page_size
        return self.data[start : start + self.page_size]

    def header(self, page: bytes) -> tuple[int, int, int, int]:
        """(next page, entries, hf_offset, type)."""
        next_pgno, entries, hf_offset = struct.unpack_from(f"{self.order}IHH", page, 16)
        return next_pgno, entries, hf_offset, page[25]


def iter_values(data: bytes) -> Iterator[bytes]:
    """The values (header blobs) of every hash page, in page order."""
    pages = _Pages(data)
    for number in range(1, pages.count):
        page = pages.page(number)
        _, entries, _, page_type = pages.header(page)
        if page_type not in (P_HASH, P_HASH_UNSORTED):
            continue
        yield from _page_values(pages, page, entries)


def _page_values(pages: _Pages, page: bytes, entries: int) -> Iterator[bytes]:
    limit = min(entries, (len(page) - PAGE_HEADER) // 2)
    offsets = struct.unpack_from(f"{pages.order}{limit}H", page, PAGE_HEADER)
    for index in range(1, limit, 2):  # key/value pairs: values at odd indexes
        offset = offsets[index]
        if not PAGE_HEADER <= offset < len(page):
            raise RpmDbError(f"item offset {offset} outside its page")
        item_type = page[offset]
        if item_type == H_OFFPAGE and offset + 12 <= len(page):
            pgno, total = struct.unpack_from(f"{pages.order}II", page, offset + 4)
            value = _overflow(pages, pgno, total)
        elif item_type == H_KEYDATA:
            end = offsets[index - 1]
            value = page[offset + 1 : end] if offset < end <= len(page) else b""
        else:
            continue
        if len(value) >= MIN_VALUE:
            yield value


def _overflow(pages: _Pages, first: int, total: int) -> bytes:
    if total > len(pages.data):
        raise RpmDbError(f"overflow item of {total} bytes is larger than the file")
    chunks, size, seen, number = [], 0, set(), first
    while number and size < total:
        if number in seen:
            raise RpmDbError(f"overflow chain loops at page {number}")
        seen.add(number)
        pages.overflow_budget -= 1
        if pages.overflow_budget < 0:
            raise RpmDbError("overflow chains revisit pages: database is damaged")
        page = pages.page(number)
        next_pgno, _, used, page_type = pages.header(page)
        if page_type != P_OVERFLOW:
            raise RpmDbError(f"page {number} in an overflow chain is not an overflow page")
        chunk = page[PAGE_HEADER : PAGE_HEADER + min(used, len(page) - PAGE_HEADER)]
        chunks.append(chunk)
        size += len(chunk)
        number = next_pgno
    if size < total:
        raise RpmDbError(f"overflow chain from page {first} ends after {size} of {total} bytes")
    return b"".join(chunks)[:total]
