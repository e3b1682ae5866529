"""rpm databases, read by our own code.

Why not the ``rpm`` binary: it is not present on the scanning host (nor
trustworthy inside a hostile image), its database backends vary by build
(BerkeleyDB, NDB, SQLite), and running it would execute code paths of the
image's choosing. The three formats are small to read directly:

- SQLite ``rpmdb.sqlite`` (:mod:`.sqlitedb`), BerkeleyDB hash ``Packages``
  (:mod:`.bdb`), NDB ``Packages.db`` (:mod:`.ndb`), under ``var/lib/rpm`` and
  ``usr/lib/sysimage/rpm``; the format is chosen by the file's magic bytes;
- each value is an rpm header blob (:mod:`.header`) -> :class:`Package`
  (:mod:`.package`).

A damaged header becomes an Unknown and the other packages are kept; a damaged
database keeps what was read before the damage and records an Unknown.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import ClassVar

from layerscan.analyzers.base import INSTALLED, FileSpec, MiB, spec
from layerscan.analyzers.langbase import FileAnalyzer, Parsed, ParseError
from layerscan.analyzers.os.records import MAX_UNKNOWNS
from layerscan.analyzers.os.rpm import bdb, ndb, sqlitedb
from layerscan.analyzers.os.rpm.errors import RpmDbError
from layerscan.analyzers.os.rpm.header import HeaderError, parse_header
from layerscan.analyzers.os.rpm.package import ANALYZER, header_package, split_source_rpm
from layerscan.model import Package

DB_DIRS = ("var/lib/rpm/", "usr/lib/sysimage/rpm/")
DB_FILES = frozenset({"Packages", "Packages.db", "rpmdb.sqlite"})

__all__ = ["RpmAnalyzer", "parse", "split_source_rpm"]


def _reader(data: bytes) -> Callable[[bytes], Iterator[bytes]] | None:
    if sqlitedb.is_sqlite(data):
        return sqlitedb.iter_values
    if ndb.is_ndb(data):
        return ndb.iter_values
    if bdb.is_bdb_hash(data):
        return bdb.iter_values
    return None


def parse(data: bytes) -> Parsed:
    """Packages of one rpm database file, whatever its backend."""
    reader = _reader(data)
    if reader is None:
        raise ParseError("not an rpm database (SQLite, NDB or BerkeleyDB hash)")
    packages: list[Package] = []
    problems: list[str] = []

    def note(reason: str) -> None:
        if len(problems) < MAX_UNKNOWNS:
            problems.append(reason)

    try:
        for number, blob in enumerate(reader(data), start=1):
            try:
                pkg = header_package(parse_header(blob), "")
            except HeaderError as exc:
                note(f"header #{number}: {exc}")
                continue
            if pkg is not None:
                packages.append(pkg)
    except RpmDbError as exc:
        note(f"database damaged after {len(packages)} packages: {exc}")
    return Parsed(packages=tuple(packages), problems=tuple(problems))


class RpmAnalyzer(FileAnalyzer):
    name: ClassVar[str] = ANALYZER
    version: ClassVar[int] = 1
    description: ClassVar[str] = "RPM database (Berkeley DB, NDB or SQLite)"
    files: ClassVar[FileSpec] = spec(paths=tuple(d + f for d in DB_DIRS for f in DB_FILES))
    modes: ClassVar[frozenset[str]] = INSTALLED
    max_file_size: ClassVar[int] = 512 * MiB

    def matches(self, path: str) -> bool:
        head, _, base = path.rpartition("/")
        return base in DB_FILES and head + "/" in DB_DIRS

    def parse_file(self, path: str, data: bytes) -> Parsed:
        return parse(data)
