"""dpkg (Debian, Ubuntu, distroless) and opkg package databases.

Files read:

- ``var/lib/dpkg/status``: every stanza whose ``Status:`` state is installed
  (the *want* word does not matter: "deinstall reinstreq installed" is still
  on disk; "config-files", "unpacked", "half-installed" are not).
- ``var/lib/dpkg/status.d/<pkg>`` (distroless): one stanza per file, usually
  without ``Status:``, which then counts as installed.
- ``var/lib/opkg/status``, ``usr/lib/opkg/status`` (OpenWrt): same format,
  package type ``opkg``.
- ``<db>/info/<pkg>[:<arch>].list`` and ``*.md5sums`` (also distroless
  ``status.d/<pkg>.md5sums``): files owned by the package, reported as
  ``owned_files`` keyed ``"deb:<pkg>"``; directories are dropped.

``Source: name (version)`` gives ``src_name``/``src_version``; without it the
source is the binary package itself (as Trivy reports it).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import ClassVar

from layerscan.analyzers.base import INSTALLED, FileSpec, MiB, spec
from layerscan.analyzers.langbase import FileAnalyzer, Parsed
from layerscan.analyzers.os.control import Stanza, iter_stanzas
from layerscan.analyzers.os.purl import os_purl
from layerscan.analyzers.os.records import database_result
from layerscan.model import Package

ANALYZER = "dpkg"

# database directory -> package type
DB_DIRS = {"var/lib/dpkg": "deb", "var/lib/opkg": "opkg", "usr/lib/opkg": "opkg"}
STATUS_D = "var/lib/dpkg/status.d/"
INSTALLED_STATES = frozenset({"installed", "triggers-awaited", "triggers-pending"})

# [epoch:]upstream[-revision]; upstream starts with a digit (dpkg refuses anything else).
_VERSION = re.compile(r"^(?:[0-9]+:)?[0-9][A-Za-z0-9.+~:_-]*$")
_SOURCE = re.compile(r"^(?P<name>[^\s(]+)(?:\s*\((?P<version>[^\s)]+)\))?")


def package_type(path: str) -> str:
    db_dir = path.rsplit("/", 2)[0] if path.startswith(STATUS_D) else path.rsplit("/", 1)[0]
    return DB_DIRS.get(db_dir.removesuffix("/info"), "deb")


def _is_installed(stanza: Stanza, status_d: bool) -> bool:
    status = stanza.get("Status").split()
    if not status:
        return status_d  # distroless status.d entries have no Status field
    return len(status) == 3 and status[2] in INSTALLED_STATES


def _valid_token(value: str) -> bool:
    return bool(value) and not any(c.isspace() for c in value) and "/" not in value


def _source(stanza: Stanza, name: str, version: str) -> tuple[str, str]:
    match = _SOURCE.match(stanza.get("Source"))
    if match is None:
        return name, version
    return match["name"], match["version"] or version


def stanza_package(stanza: Stanza, path: str, pkg_type: str) -> Package | str:
    """The package of one installed stanza, or why it cannot be one."""
    name, version = stanza.get("Package"), stanza.get("Version")
    if not _valid_token(name):
        return "installed stanza without a valid Package field"
    if not version:
        return f"package {name!r} has no Version field"
    if not _VERSION.match(version):
        return f"package {name!r} has an invalid Version {version[:64]!r}"
    arch = stanza.get("Architecture").split()[0] if stanza.get("Architecture") else ""
    src_name, src_version = _source(stanza, name, version)
    license_text = stanza.get("License")
    return Package(
        name=name,
        version=version,
        type=pkg_type,
        purl=os_purl(pkg_type, name, version, arch),
        arch=arch,
        src_name=src_name,
        src_version=src_version,
        file_path=path,
        licenses=(license_text,) if license_text else (),
        found_by=ANALYZER,
    )


def parse(data: bytes, path: str = "var/lib/dpkg/status") -> Parsed:
    """Installed packages of one status file (``path`` picks status vs status.d and the type)."""
    status_d = path.startswith(STATUS_D)
    pkg_type = package_type(path)
    records = ((s.line, stanza_package(s, path, pkg_type) if _is_installed(s, status_d) else None, s.problems)
               for s in iter_stanzas(data))
    return database_result(records, "stanza")


def owner_key(path: str) -> str:
    """'var/lib/dpkg/info/libc6:amd64.list' -> 'deb:libc6'."""
    base = path.rsplit("/", 1)[-1]
    stem = base.removesuffix(".list").removesuffix(".md5sums")
    return f"{package_type(path)}:{stem.split(':', 1)[0]}"


def drop_directories(paths: Iterable[str]) -> tuple[str, ...]:
    """Keep files only: an entry that is the parent of another entry is a directory."""
    unique = list(dict.fromkeys(paths))
    parents = {p.rsplit("/", i)[0] for p in unique for i in range(1, p.count("/") + 1)}
    return tuple(p for p in unique if p not in parents)


def parse_file_list(data: bytes, md5sums: bool = False) -> tuple[str, ...]:
    """Paths (no leading '/') from a ``.list`` file or an ``.md5sums`` file."""
    paths = []
    for raw in data.split(b"\n"):
        line = raw.rstrip(b"\r").decode("utf-8", errors="replace")
        if md5sums:
            parts = line.split(None, 1)
            line = parts[1] if len(parts) == 2 else ""
        line = line.strip().lstrip("/")
        if line and line != "." and "\x00" not in line:
            paths.append(line)
    return drop_directories(paths)


def _is_db_file(path: str) -> bool:
    head, _, base = path.rpartition("/")
    if head in DB_DIRS:
        return base == "status"
    if head.endswith("/info") and head.removesuffix("/info") in DB_DIRS:
        return base.endswith((".list", ".md5sums"))
    return head == STATUS_D.rstrip("/") and bool(base) and not base.startswith(".")


class DpkgAnalyzer(FileAnalyzer):
    name: ClassVar[str] = ANALYZER
    version: ClassVar[int] = 1
    description: ClassVar[str] = "dpkg status database and info/*.list (Debian, Ubuntu, distroless status.d; opkg)"
    files: ClassVar[FileSpec] = spec(paths=tuple(f"{d}/status" for d in DB_DIRS),
                                     dirs=(*(f"{d}/info" for d in DB_DIRS), STATUS_D.rstrip("/")))
    modes: ClassVar[frozenset[str]] = INSTALLED
    max_file_size: ClassVar[int] = 128 * MiB

    def matches(self, path: str) -> bool:
        return _is_db_file(path)

    def parse_file(self, path: str, data: bytes) -> Parsed:
        if path.endswith((".list", ".md5sums")):
            files = parse_file_list(data, md5sums=path.endswith(".md5sums"))
            return Parsed(owned_files=((owner_key(path), files),)) if files else Parsed()
        return parse(data, path)
