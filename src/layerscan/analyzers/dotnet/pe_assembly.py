""".NET assemblies (``*.dll``/``*.exe``, image and rootfs mode): the CLR metadata (ECMA-335).

Read through the PE headers: the CLI header (data directory 14), the metadata root
(``BSJB``), its ``#~`` table stream and ``#Strings`` heap. The ``Assembly`` table's
row gives the assembly's name and version: reported as a NuGet package (matched,
evidence ``PE CLR metadata``). Its version is the ``ProductVersion`` of the PE
version resource when there is one (the .NET SDK writes the
``AssemblyInformationalVersion`` there, the package version, ``+commit`` suffix
dropped): ``AssemblyVersion`` is often pinned (``13.0.0.0`` for every
Newtonsoft.Json 13.x) and would match advisories the package has fixed. All three
versions are kept in ``extra``. The ``AssemblyRef`` rows (the assemblies it was
compiled against) are listed with their reference version but not matched: a
reference version is an assembly version (``13.0.0.0`` for every Newtonsoft.Json
13.x), not the NuGet package version. A PE file without a CLI header (native code)
yields nothing; a broken one an Unknown. The assemblies of a .NET install's
``shared/``, ``sdk/`` and ``packs/`` directories are not read: each framework there
ships its ``*.deps.json`` (read by ``dotnet-deps-json``), and the runtime itself is
reported from it.

Every read is bounded by the file and by the table row counts' plausibility (no
table may claim more rows than the stream has bytes).
"""

from __future__ import annotations

import re
import struct
from dataclasses import dataclass, replace
from typing import ClassVar

from layerscan.analyzers.base import INSTALLED, FileSpec, MiB, spec
from layerscan.analyzers.binfmt import BinaryFormatError, Executable, open_executable, sniff
from layerscan.analyzers.langbase import FileAnalyzer, Parsed, ParseError, lang_package
from layerscan.model import Package

ANALYZER = "dotnet-pe-assembly"
CLR_DIRECTORY = 14
RESOURCE_DIRECTORY = 2
RT_VERSION = 16
MAX_VERSION_RESOURCE = 64 * 1024
METADATA_SIGNATURE = 0x424A5342  # "BSJB"
MAX_METADATA = 64 * MiB
ASSEMBLY, ASSEMBLY_REF = 0x20, 0x23
EVIDENCE = "PE CLR metadata"
_DOTNET_INSTALL = re.compile(r"(?:^|/)dotnet/(?:shared|sdk|packs|sdk-manifests|templates)/", re.IGNORECASE)

# Coded indexes (ECMA-335 II.24.2.6): tag bits and the tables they may point to.
_CODED: dict[str, tuple[int, tuple[int, ...]]] = {
    "TypeDefOrRef": (2, (0x02, 0x01, 0x1B)),
    "HasConstant": (2, (0x04, 0x08, 0x17)),
    "HasCustomAttribute": (5, (0x06, 0x04, 0x01, 0x02, 0x08, 0x09, 0x0A, 0x00, 0x0E, 0x17, 0x14, 0x11, 0x1A,
                               0x1B, 0x20, 0x23, 0x26, 0x27, 0x28, 0x2A, 0x2C, 0x2B)),
    "HasFieldMarshal": (1, (0x04, 0x08)),
    "HasDeclSecurity": (2, (0x02, 0x06, 0x20)),
    "MemberRefParent": (3, (0x02, 0x01, 0x1A, 0x06, 0x1B)),
    "HasSemantics": (1, (0x14, 0x17)),
    "MethodDefOrRef": (1, (0x06, 0x0A)),
    "MemberForwarded": (1, (0x04, 0x06)),
    "CustomAttributeType": (3, (0x06, 0x0A)),
    "ResolutionScope": (2, (0x00, 0x1A, 0x23, 0x01)),
}
# Columns of tables 0x00..0x23 (II.22): 2/4 fixed bytes, "S"/"G"/"B" heap indexes,
# an int table index, or a coded index name.
_Column = int | str
_TABLES: tuple[tuple[_Column, ...], ...] = (
    (2, "S", "G", "G", "G"),  # 0x00 Module
    ("ResolutionScope", "S", "S"),  # 0x01 TypeRef
    (4, "S", "S", "TypeDefOrRef", -0x04, -0x06),  # 0x02 TypeDef
    (-0x04,), (2, "S", "B"), (-0x06,),  # 0x03 FieldPtr, 0x04 Field, 0x05 MethodPtr
    (4, 2, 2, "S", "B", -0x08),  # 0x06 MethodDef
    (-0x08,), (2, 2, "S"),  # 0x07 ParamPtr, 0x08 Param
    (-0x02, "TypeDefOrRef"), ("MemberRefParent", "S", "B"),  # 0x09 InterfaceImpl, 0x0A MemberRef
    (2, "HasConstant", "B"), ("HasCustomAttribute", "CustomAttributeType", "B"),  # 0x0B, 0x0C
    ("HasFieldMarshal", "B"), (2, "HasDeclSecurity", "B"),  # 0x0D FieldMarshal, 0x0E DeclSecurity
    (2, 4, -0x02), (4, -0x04), ("B",),  # 0x0F ClassLayout, 0x10 FieldLayout, 0x11 StandAloneSig
    (-0x02, -0x14), (-0x14,), (2, "S", "TypeDefOrRef"),  # 0x12 EventMap, 0x13 EventPtr, 0x14 Event
    (-0x02, -0x17), (-0x17,), (2, "S", "B"),  # 0x15 PropertyMap, 0x16 PropertyPtr, 0x17 Property
    (2, -0x06, "HasSemantics"), (-0x02, "MethodDefOrRef", "MethodDefOrRef"),  # 0x18, 0x19
    ("S",), ("B",), (2, "MemberForwarded", "S", -0x1A),  # 0x1A ModuleRef, 0x1B TypeSpec, 0x1C ImplMap
    (4, -0x04), (4, 4), (4,),  # 0x1D FieldRVA, 0x1E EncLog, 0x1F EncMap
    (4, 2, 2, 2, 2, 4, "B", "S", "S"),  # 0x20 Assembly
    (4,), (4, 4, 4),  # 0x21 AssemblyProcessor, 0x22 AssemblyOS
    (2, 2, 2, 2, 4, "B", "S", "S", "B"),  # 0x23 AssemblyRef
)


@dataclass(frozen=True)
class AssemblyName:
    name: str
    version: str


@dataclass(frozen=True)
class Metadata:
    assembly: AssemblyName | None
    references: tuple[AssemblyName, ...]
    version_strings: tuple[tuple[str, str], ...] = ()  # the version resource's StringFileInfo
    version_problem: str = ""  # why the version resource could not be read


def _u(data: bytes, fmt: str, at: int) -> tuple[int, ...]:
    try:
        return struct.unpack_from("<" + fmt, data, at)
    except struct.error:
        raise ParseError(f"CLR metadata truncated at offset {at}") from None


def _streams(meta: bytes) -> dict[str, bytes]:
    (signature,) = _u(meta, "I", 0)
    if signature != METADATA_SIGNATURE:
        raise ParseError("CLR metadata root has no BSJB signature")
    (length,) = _u(meta, "I", 12)
    at = 16 + length
    (count,) = _u(meta, "H", at + 2)
    at += 4
    streams: dict[str, bytes] = {}
    for _ in range(min(count, 16)):
        offset, size = _u(meta, "II", at)
        end = meta.find(b"\0", at + 8, at + 8 + 32)
        if end < 0:
            raise ParseError("CLR metadata stream name unterminated")
        name = meta[at + 8 : end].decode("latin-1")
        at = (end + 4) & ~3
        if offset + size > len(meta):
            raise ParseError(f"CLR metadata stream {name} lies outside the metadata")
        streams[name] = meta[offset : offset + size]
    return streams


def _string(heap: bytes, index: int) -> str:
    if index >= len(heap):
        raise ParseError(f"#Strings index {index} out of range")
    end = heap.find(b"\0", index, index + 1024)
    return heap[index : end if end >= 0 else index + 1024].decode("utf-8", "replace")


def _rows(tables: bytes, strings: bytes) -> Metadata:
    heap_sizes = tables[6] if len(tables) > 6 else 0
    (valid,) = _u(tables, "Q", 8)
    at = 24
    counts = [0] * 64
    for table in range(64):
        if valid >> table & 1:
            (counts[table],) = _u(tables, "I", at)
            at += 4
            if counts[table] > len(tables):
                raise ParseError(f"metadata table {table:#x} claims {counts[table]} rows")
    if heap_sizes & 0x40:
        at += 4  # extra data (uncompressed #- streams)
    heap = {"S": 4 if heap_sizes & 1 else 2, "G": 4 if heap_sizes & 2 else 2, "B": 4 if heap_sizes & 4 else 2}

    def width(column: _Column) -> int:
        if isinstance(column, int):
            return column if column > 0 else (2 if counts[-column] < 1 << 16 else 4)
        if column in heap:
            return heap[column]
        bits, targets = _CODED[column]
        return 2 if max(counts[t] for t in targets) < 1 << (16 - bits) else 4

    def read(table: int) -> list[list[int]]:
        widths = [width(c) for c in _TABLES[table]]
        start = at + sum(counts[t] * sum(width(c) for c in _TABLES[t]) for t in range(table))
        rows = []
        for row in range(min(counts[table], 65536)):
            pos, values = start + row * sum(widths), []
            for w in widths:
                (value,) = _u(tables, "H" if w == 2 else "I", pos)
                values.append(value)
                pos += w
            rows.append(values)
        return rows

    assembly = None
    for values in read(ASSEMBLY)[:1]:
        assembly = AssemblyName(_string(strings, values[7]), ".".join(str(v) for v in values[1:5]))
    references = tuple(AssemblyName(_string(strings, v[6]), ".".join(str(x) for x in v[0:4]))
                       for v in read(ASSEMBLY_REF))
    return Metadata(assembly, references)


def _resource_entry(rsrc: bytes, at: int, want_id: int | None) -> int:
    """OffsetToData of the entry ``want_id`` (or the first) of the resource directory at ``at``
    (-1 when there is none)."""
    named, ids = _u(rsrc, "HH", at + 12)
    for i in range(min(named + ids, 256)):
        name, target = _u(rsrc, "II", at + 16 + 8 * i)
        if want_id is None or name == want_id:
            return int(target)
    return -1


def _version_resource(data: bytes, exe: Executable) -> bytes:
    """The raw VS_VERSIONINFO (b"" when the file has none)."""
    if len(exe.directories) <= RESOURCE_DIRECTORY or not exe.directories[RESOURCE_DIRECTORY][0]:
        return b""
    rva, size = exe.directories[RESOURCE_DIRECTORY]
    rsrc = exe.read_rva(data, rva, min(size, MAX_METADATA))
    version_type = _resource_entry(rsrc, 0, RT_VERSION)  # type -> name -> language -> data
    if version_type < 0:
        return b""
    names = _subdirectory(version_type)
    languages = _subdirectory(_resource_entry(rsrc, names, None))
    leaf = _resource_entry(rsrc, languages, None)
    if leaf < 0 or leaf & 0x80000000:
        raise ParseError("resource tree without a data entry at the language level")
    blob_rva, blob_size = _u(rsrc, "II", leaf)
    return exe.read_rva(data, blob_rva, min(blob_size, MAX_VERSION_RESOURCE))


def _subdirectory(target: int) -> int:
    if target < 0 or not target & 0x80000000:
        raise ParseError("resource directory entry missing or not a directory")
    return target & 0x7FFFFFFF


def _version_strings(blob: bytes) -> dict[str, str]:
    """The String entries of VS_VERSIONINFO > StringFileInfo > StringTable (depths 0..3)."""
    out: dict[str, str] = {}
    if not blob:
        return out

    def node(at: int, end: int, depth: int) -> None:
        length, value_length, kind = _u(blob, "HHH", at)
        stop = min(at + length, end)
        key_end = at + 6
        while key_end + 1 < stop and blob[key_end : key_end + 2] != b"\0\0":
            key_end += 2
        key = blob[at + 6 : key_end].decode("utf-16-le", "replace")
        pos = (key_end + 2 + 3) & ~3
        if depth == 3:
            if kind == 1 and value_length:
                out[key] = blob[pos:stop].decode("utf-16-le", "replace").split("\0", 1)[0]
            return
        pos = (pos + (value_length * 2 if kind == 1 else value_length) + 3) & ~3
        while pos + 6 <= stop:
            (child,) = _u(blob, "H", pos)
            if not child:
                break
            node(pos, stop, depth + 1)
            pos = (pos + child + 3) & ~3

    node(0, len(blob), 0)
    return out


def read_metadata(data: bytes) -> Metadata | None:
    """The assembly and its references; None for a PE file without CLR metadata."""
    try:
        exe: Executable = open_executable(data)
        if exe.format != "pe" or len(exe.directories) <= CLR_DIRECTORY or not exe.directories[CLR_DIRECTORY][0]:
            return None
        clr_rva, _ = exe.directories[CLR_DIRECTORY]
        meta_rva, meta_size = struct.unpack_from("<II", exe.read_rva(data, clr_rva, 72), 8)
        if meta_size > MAX_METADATA:
            raise ParseError(f"CLR metadata size {meta_size} over the limit")
        streams = _streams(exe.read_rva(data, meta_rva, meta_size))
    except BinaryFormatError as exc:
        raise ParseError(f"PE file unreadable: {exc}") from None
    tables = streams.get("#~", streams.get("#-"))
    if tables is None or "#Strings" not in streams:
        raise ParseError("CLR metadata without #~ or #Strings stream")
    meta = _rows(tables, streams["#Strings"])
    try:
        strings = _version_strings(_version_resource(data, exe))
    except (ParseError, BinaryFormatError) as exc:  # optional: the Assembly table still names it
        return replace(meta, version_problem=f"version resource unreadable: {exc}")
    return replace(meta, version_strings=tuple(sorted(strings.items())))


def package_version(assembly_version: str, strings: dict[str, str]) -> tuple[str, str]:
    """(version, where from): ProductVersion without ``+build`` when it is a version."""
    product = strings.get("ProductVersion", "").split("+", 1)[0].strip()
    if product[:1].isdigit() and " " not in product:
        return product, "version resource ProductVersion"
    return assembly_version, "Assembly table"


def parse(data: bytes) -> Parsed:
    meta = read_metadata(data)
    if meta is None:
        return Parsed()
    packages: list[Package] = []
    problems: list[str] = []
    if meta.version_problem:
        problems.append(meta.version_problem)
    if meta.assembly and meta.assembly.name:
        strings = dict(meta.version_strings)
        version, source = package_version(meta.assembly.version, strings)
        extra = (("assembly_version", meta.assembly.version), ("file_version", strings.get("FileVersion", "")),
                 ("product_version", strings.get("ProductVersion", "")))
        packages.append(lang_package("nuget", meta.assembly.name, version, evidence=f"{EVIDENCE}: {source}",
                                     extra=tuple((k, v) for k, v in extra if v)))
    else:
        problems.append("CLR metadata has no Assembly row (a module, not an assembly): name unknown")
    for ref in meta.references:
        if ref.name:
            packages.append(lang_package(
                "nuget", ref.name, ref.version, indirect=True, evidence=f"{EVIDENCE}: AssemblyRef table",
                version_unknown_reason="assembly reference: the assembly version, not the NuGet package version"))
    return Parsed(packages=tuple(packages), problems=tuple(problems))


class PEAssemblyAnalyzer(FileAnalyzer):
    name: ClassVar[str] = ANALYZER
    version: ClassVar[int] = 1
    description: ClassVar[str] = ".NET assemblies (*.dll, *.exe): name and version from the CLR metadata"
    result_type: ClassVar[str] = "dotnet-core"
    files: ClassVar[FileSpec] = spec(extensions=("dll", "exe"))
    modes: ClassVar[frozenset[str]] = INSTALLED
    max_file_size: ClassVar[int] = 128 * MiB

    def matches(self, path: str) -> bool:
        return path.lower().endswith((".dll", ".exe")) and not _DOTNET_INSTALL.search(path)

    def parse_file(self, path: str, data: bytes) -> Parsed:
        return parse(data) if sniff(data) == "pe" else Parsed()
