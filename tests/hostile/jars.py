"""Hostile jars and zips: a zip bomb, 50 levels of nested jars, noise after a zip magic,
end records that lie about the member count or the central directory's size, a central
directory of hundreds of thousands of entries, and large jars with a large nested jar."""

from __future__ import annotations

import struct
import zipfile
import zlib
from pathlib import Path

from hostile.blobs import MiB, noise, write_zip, zip_bytes

MANIFEST_MF = b"Manifest-Version: 1.0\n"


def pom_properties(group: str, artifact: str, version: str) -> bytes:
    return f"groupId={group}\nartifactId={artifact}\nversion={version}\n".encode()


def nested_jars(levels: int) -> bytes:
    data = zip_bytes({"META-INF/maven/g/a/pom.properties": pom_properties("g", "a", "1")})
    for i in range(levels):
        data = zip_bytes({f"lib/level{i}.jar": data, "META-INF/MANIFEST.MF": MANIFEST_MF}, zipfile.ZIP_STORED)
    return data


def zip_bomb_jar() -> bytes:
    """200 MiB of zeros as a nested jar and 5 MiB of pom.properties, deflated to ~200 KiB."""
    return zip_bytes({"META-INF/MANIFEST.MF": MANIFEST_MF, "lib/inner.jar": bytes(200 * MiB),
                      "META-INF/maven/g/b/pom.properties": b"A" * (5 * MiB)})


def junk_jar() -> bytes:
    return b"PK\x03\x04" + noise(4096, 21)


def big_jar(path: Path, seed: int, nested_mib: int = 128, data_mib: int = 128) -> Path:
    """A stored jar: its own pom.properties, a nested jar (pom.properties + incompressible
    ``nested_mib``) and ``data_mib`` of incompressible data beside it."""
    inner_path = path.with_suffix(".inner")
    write_zip(inner_path, [("META-INF/maven/org.example/inner/pom.properties",
                            pom_properties("org.example", "inner", f"2.{seed}")),
                           ("blob.bin", noise(nested_mib * MiB, seed))], zipfile.ZIP_STORED)
    write_zip(path, [("META-INF/MANIFEST.MF", MANIFEST_MF),
                     ("META-INF/maven/org.example/outer/pom.properties",
                      pom_properties("org.example", "outer", f"1.{seed}")),
                     (f"BOOT-INF/lib/inner-2.{seed}.jar", inner_path),
                     ("data.bin", noise(data_mib * MiB, seed + 1000))], zipfile.ZIP_STORED)
    inner_path.unlink()
    return path


def lying_end_record(members: int, cd_size: int, zip64: bool = False) -> bytes:
    """A tiny real jar whose end-of-central-directory record claims ``members`` entries and a
    central directory of ``cd_size`` bytes."""
    data = zip_bytes({"META-INF/MANIFEST.MF": MANIFEST_MF})
    at = data.rindex(b"PK\x05\x06")
    cd_offset = struct.unpack_from("<I", data, at + 16)[0]
    if not zip64:
        return data[:at] + struct.pack("<4s4H2IH", b"PK\x05\x06", 0, 0, min(members, 0xFFFF),
                                       min(members, 0xFFFF), min(cd_size, 0xFFFFFFFF), cd_offset, 0)
    record = struct.pack("<4sQ2H2I4Q", b"PK\x06\x06", 44, 45, 45, 0, 0, members, members, cd_size, cd_offset)
    locator = struct.pack("<4sIQI", b"PK\x06\x07", 0, at, 1)
    end = struct.pack("<4s4H2IH", b"PK\x05\x06", 0, 0, 0xFFFF, 0xFFFF, 0xFFFFFFFF, 0xFFFFFFFF, 0)
    return data[:at] + record + locator + end


def member_list_bomb(cd_bytes: int) -> bytes:
    """One real member, then a central directory of ``cd_bytes`` of minimal entries all
    pointing at it, behind an end record claiming a single member (zipfile builds an
    object of ~550 bytes per 50-byte entry)."""
    name, data = b"META-INF/MANIFEST.MF", MANIFEST_MF
    crc = zlib.crc32(data)
    local = struct.pack("<4s5H3I2H", b"PK\x03\x04", 20, 0, 0, 0, 0, crc, len(data), len(data), len(name), 0)
    entries, size, i = [], 0, 0
    while size < cd_bytes:
        n = b"%x" % i
        entries.append(struct.pack("<4s6H3I5H2I", b"PK\x01\x02", 20, 20, 0, 0, 0, 0, crc, len(data), len(data),
                                   len(n), 0, 0, 0, 0, 0, 0) + n)
        size, i = size + len(entries[-1]), i + 1
    directory = b"".join(entries)
    end = struct.pack("<4s4H2IH", b"PK\x05\x06", 0, 0, 1, 1, len(directory), len(local) + len(name) + len(data), 0)
    return local + name + data + directory + end


def fake_go_elf() -> bytes:
    """An ELF header followed by a Go build-info magic with lying lengths."""
    head = b"\x7fELF\x02\x01\x01" + bytes(9) + b"\x02\x00\x3e\x00" + bytes(44)
    return head + noise(2048, 22) + b"\xff Go buildinf:" + b"\x08\x02" + b"\xff" * 64 + noise(2048, 23)
