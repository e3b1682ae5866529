"""Minimal, bounded readers for executable containers (ELF, PE, Mach-O) over bytes.

Only what language analyzers need: the format, named sections, and mapping a
virtual address to a file offset (Go's pre-1.18 build info stores pointers).
Every structural problem raises :class:`BinaryFormatError`; no reader loops
more than ``MAX_TABLE`` times whatever the headers claim.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

MAX_TABLE = 4096  # sections / segments / load commands considered

ELF_MAGIC = b"\x7fELF"
PE_MAGIC = b"MZ"
MACHO_MAGICS = {b"\xcf\xfa\xed\xfe": ("<", 64), b"\xce\xfa\xed\xfe": ("<", 32),
                b"\xfe\xed\xfa\xcf": (">", 64), b"\xfe\xed\xfa\xce": (">", 32)}


class BinaryFormatError(ValueError):
    pass


@dataclass(frozen=True)
class Section:
    name: str
    addr: int  # virtual address (absolute)
    offset: int  # file offset
    size: int  # bytes present in the file


@dataclass(frozen=True)
class Executable:
    format: str  # "elf", "pe", "macho"
    little_endian: bool
    pointer_size: int
    sections: tuple[Section, ...]
    image_base: int = 0  # PE: the preferred load address RVAs are relative to
    directories: tuple[tuple[int, int], ...] = ()  # PE: data directories as (RVA, size)

    def section(self, *names: str) -> Section | None:
        for sec in self.sections:
            if sec.name in names:
                return sec
        return None

    def read_at(self, data: bytes, addr: int, size: int) -> bytes:
        """Bytes at virtual address ``addr`` (must lie in one section present in the file)."""
        for sec in self.sections:
            if sec.addr <= addr and addr + size <= sec.addr + sec.size and sec.offset >= 0:
                start = sec.offset + addr - sec.addr
                if start + size <= len(data):
                    return data[start : start + size]
        raise BinaryFormatError(f"address {addr:#x} is outside the file's sections")

    def read_rva(self, data: bytes, rva: int, size: int) -> bytes:
        """Bytes at a PE relative virtual address."""
        return self.read_at(data, self.image_base + rva, size)


def sniff(data: bytes) -> str:
    """"elf", "pe", "macho" or "" (cheap magic check)."""
    head = data[:4]
    if head == ELF_MAGIC:
        return "elf"
    if head[:2] == PE_MAGIC:
        return "pe"
    if head in MACHO_MAGICS:
        return "macho"
    return ""


def open_executable(data: bytes) -> Executable:
    kind = sniff(data)
    try:
        if kind == "elf":
            return _elf(data)
        if kind == "pe":
            return _pe(data)
        if kind == "macho":
            return _macho(data)
    except (struct.error, IndexError, UnicodeDecodeError) as exc:
        raise BinaryFormatError(f"truncated or malformed {kind} file: {exc}") from exc
    raise BinaryFormatError("not an ELF, PE or Mach-O executable")


def _cstr(raw: bytes) -> str:
    return raw.split(b"\0", 1)[0].decode("latin-1")


def _elf(data: bytes) -> Executable:
    bits = {1: 32, 2: 64}.get(data[4])
    order = {1: "<", 2: ">"}.get(data[5])
    if bits is None or order is None:
        raise BinaryFormatError("bad ELF class or byte order")
    if bits == 64:
        fields = struct.unpack_from(order + "HHIQQQIHHHHHH", data, 16)
        shdr, shdr_size = order + "IIQQQQIIQQ", 64
    else:
        fields = struct.unpack_from(order + "HHIIIIIHHHHHH", data, 16)
        shdr, shdr_size = order + "IIIIIIIIII", 40
    shoff, shentsize, shnum, shstrndx = fields[5], fields[10], fields[11], fields[12]
    if shnum > MAX_TABLE or (shnum and shentsize < shdr_size):
        raise BinaryFormatError("implausible ELF section table")
    raw = [struct.unpack_from(shdr, data, shoff + i * shentsize) for i in range(shnum)]
    names_at = raw[shstrndx][4] if shstrndx < len(raw) else 0
    sections = []
    for entry in raw:
        name_off, sh_type, _flags, addr, offset, size = entry[:6]
        in_file = 0 if sh_type == 8 else size  # SHT_NOBITS occupies no file bytes
        name = _cstr(data[names_at + name_off : names_at + name_off + 256]) if names_at else ""
        sections.append(Section(name, addr, offset, in_file))
    return Executable("elf", order == "<", bits // 8, tuple(sections))


def _pe(data: bytes) -> Executable:
    (pe_off,) = struct.unpack_from("<I", data, 0x3C)
    if data[pe_off : pe_off + 4] != b"PE\0\0":
        raise BinaryFormatError("missing PE signature")
    nsections, opt_size = struct.unpack_from("<H12xH", data, pe_off + 6)  # COFF header fields
    opt = pe_off + 24
    (magic,) = struct.unpack_from("<H", data, opt)
    if magic == 0x20B:
        (image_base,), ptr, dirs_at = struct.unpack_from("<Q", data, opt + 24), 8, opt + 108
    elif magic == 0x10B:
        (image_base,), ptr, dirs_at = struct.unpack_from("<I", data, opt + 28), 4, opt + 92
    else:
        raise BinaryFormatError("unknown PE optional header")
    if nsections > MAX_TABLE:
        raise BinaryFormatError("implausible PE section count")
    sections = []
    table = opt + opt_size
    for i in range(nsections):
        name, vsize, vaddr, raw_size, raw_ptr = struct.unpack_from("<8sIIII", data, table + 40 * i)
        sections.append(Section(_cstr(name), image_base + vaddr, raw_ptr, min(vsize or raw_size, raw_size)))
    (ndirs,) = struct.unpack_from("<I", data, dirs_at) if dirs_at + 4 <= opt + opt_size else (0,)
    ndirs = min(ndirs, 16, (opt + opt_size - dirs_at - 4) // 8)
    directories = tuple(struct.unpack_from("<II", data, dirs_at + 4 + 8 * i) for i in range(max(ndirs, 0)))
    return Executable("pe", True, ptr, tuple(sections), image_base, directories)


def _macho(data: bytes) -> Executable:
    order, bits = MACHO_MAGICS[data[:4]]
    ncmds = struct.unpack_from(order + "I", data, 16)[0]
    offset = 32 if bits == 64 else 28
    if ncmds > MAX_TABLE:
        raise BinaryFormatError("implausible Mach-O load command count")
    seg_cmd, seg_fmt, sect_fmt = (0x19, "16sQQQQiiII", "16s16sQQI") if bits == 64 else (0x1, "16sIIIIiiII", "16s16sIII")
    seg_size, sect_size = struct.calcsize(order + seg_fmt), (80 if bits == 64 else 68)
    sections = []
    for _ in range(ncmds):
        cmd, cmdsize = struct.unpack_from(order + "II", data, offset)
        if cmdsize < 8:
            raise BinaryFormatError("bad Mach-O load command size")
        if cmd == seg_cmd:
            nsects = struct.unpack_from(order + seg_fmt, data, offset + 8)[7]
            for j in range(min(nsects, MAX_TABLE)):
                at = offset + 8 + seg_size + j * sect_size
                sect, seg, addr, size, foff = struct.unpack_from(order + sect_fmt, data, at)
                sections.append(Section(_cstr(sect), addr, foff, size))
        offset += cmdsize
    return Executable("macho", order == "<", bits // 8, tuple(sections))
