"""Hostile package databases: dpkg status files that are huge, long-lined or made of millions
of continuation lines, rpm databases that are noise or whose SQLite schema computes (VIEW,
recursive CTE, generated column, trigger, virtual table), apk noise, a METADATA whose Name
follows 200,000 headers; and the standard Debian base the other cases sit on."""

from __future__ import annotations

import sqlite3
import tempfile
from pathlib import Path

from hostile.blobs import MiB, noise

DPKG_STATUS_BASE = """\
Package: base-files
Status: install ok installed
Priority: required
Section: admin
Installed-Size: 340
Maintainer: Santiago Vila <sanvila@debian.org>
Architecture: amd64
Version: 12.4+deb12u5
Description: Debian base system miscellaneous files

Package: libc6
Status: install ok installed
Priority: optional
Section: libs
Installed-Size: 12985
Maintainer: GNU Libc Maintainers <debian-glibc@lists.debian.org>
Architecture: amd64
Multi-Arch: same
Source: glibc
Version: 2.36-9+deb12u4
Description: GNU C Library: Shared libraries

Package: zlib1g
Status: install ok installed
Priority: optional
Section: libs
Installed-Size: 168
Maintainer: Mark Brown <broonie@debian.org>
Architecture: amd64
Multi-Arch: same
Source: zlib
Version: 1:1.2.13.dfsg-1
Description: compression library - runtime
"""

OS_RELEASE = """\
PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"
NAME="Debian GNU/Linux"
VERSION_ID="12"
VERSION="12 (bookworm)"
VERSION_CODENAME=bookworm
ID=debian
"""


FEDORA = "NAME=Fedora Linux\nID=fedora\nVERSION_ID=39\nPRETTY_NAME=\"Fedora Linux 39\"\n"
RPM_SQLITE = "usr/lib/sysimage/rpm/rpmdb.sqlite"

# name -> (schema, what the Unknown's reason says)
RPM_SCHEMAS = {
    # 1,000 rows of 100 MB each, built by SQLite on reading (the file is 4 KB)
    "view-cte": ("CREATE VIEW Packages AS WITH RECURSIVE c(hnum, blob) AS (SELECT 1, zeroblob(100000000) "
                 "UNION ALL SELECT hnum + 1, blob FROM c WHERE hnum < 1000) SELECT hnum, blob FROM c",
                 "it is a view"),
    # every read of a row computes a 900 MB blob
    "generated-column": ("CREATE TABLE Packages (hnum INTEGER PRIMARY KEY, x INTEGER, "
                         "blob BLOB GENERATED ALWAYS AS (zeroblob(900000000)) VIRTUAL);"
                         "INSERT INTO Packages (hnum, x) VALUES (1, 1), (2, 2), (3, 3)",
                         "generated columns"),
    "trigger": ("CREATE TABLE Packages (hnum INTEGER PRIMARY KEY AUTOINCREMENT, blob BLOB NOT NULL);"
                "CREATE TRIGGER t AFTER INSERT ON Packages BEGIN SELECT 1; END;",
                "has triggers"),
    "virtual-table": ("CREATE VIRTUAL TABLE Packages USING fts4(hnum, blob)", "not a plain table"),
}
RPM_TABLE = "CREATE TABLE Packages (hnum INTEGER PRIMARY KEY AUTOINCREMENT, blob BLOB NOT NULL)"


def sqlite_bytes(script: str, path: Path | None = None) -> bytes:
    """The bytes of a SQLite database built by ``script`` (at ``path``, else in a temp dir)."""
    if path is None:
        with tempfile.TemporaryDirectory() as tmp:
            return sqlite_bytes(script, Path(tmp) / "rpmdb.sqlite")
    con = sqlite3.connect(path)
    con.executescript(script)
    con.commit()
    con.close()
    return path.read_bytes()


def rpm_blob_past(limit: int) -> bytes:
    """An rpm sqlite database of one header blob of ``limit + 1`` bytes."""
    return sqlite_bytes(f"{RPM_TABLE};INSERT INTO Packages (blob) VALUES (zeroblob({limit + 1}))")


def rpm_noise() -> dict[str, bytes]:
    """rpm databases of each backend (Berkeley DB, SQLite, ndb) that are noise after the magic."""
    return {"var/lib/rpm/Packages": noise(MiB, 11),
            "var/lib/rpm/rpmdb.sqlite": b"SQLite format 3\x00" + noise(64 * 1024, 12),
            "usr/lib/sysimage/rpm/Packages.db": b"RpmP" + noise(64 * 1024, 13)}


def apk_noise() -> bytes:
    return noise(256 * 1024, 14) + b"\nP:\nV:\n\x00\x00"


DPKG_STANZA = "Package: p{0}\nStatus: install ok installed\nVersion: 1.{0}\nArchitecture: amd64\n\n"


def dpkg_many(count: int = 30_000) -> bytes:
    """``count`` installed packages (10x a big real image)."""
    return "".join(DPKG_STANZA.format(i) for i in range(count)).encode()


def _dpkg_plus_x(field: str) -> bytes:
    return (DPKG_STATUS_BASE + f"\nPackage: x\nStatus: install ok installed\nVersion: 1\n{field}").encode()


def dpkg_long_line(size: int = 50 * MiB) -> bytes:
    """The base, then a package ``x`` whose Description is one line of ``size`` bytes."""
    return _dpkg_plus_x("Description: ") + b"A" * size + b"\n"


def dpkg_continuation(lines: int = 4_000_000) -> bytes:
    """The base, then a package whose Description runs on for ``lines`` continuation lines."""
    return _dpkg_plus_x("Description: d\n") + b" .\n" * lines


def metadata_many_headers(headers: int = 200_000) -> bytes:
    """A METADATA whose Name and Version come after ``headers`` Classifier headers."""
    classifiers = "".join(f"Classifier: Topic :: Generated :: {i}\n" for i in range(headers))
    return f"Metadata-Version: 2.1\n{classifiers}Name: late-name\nVersion: 3.1\n\nbody\n".encode()


def metadata_long_continuation(lines: int = 20_000) -> bytes:
    return (b"Metadata-Version: 2.1\nName: evil\nVersion: 1.0\nDescription: d\n"
            + (b" " + b"a" * 800 + b"\n") * lines)
