"""What every hostile family shares: digests, seeded noise and deterministic zip archives."""

from __future__ import annotations

import hashlib
import io
import random
import shutil
import zipfile
from collections.abc import Iterable
from pathlib import Path
from typing import BinaryIO

KiB = 1 << 10
MiB = 1 << 20
GiB = 1 << 30
MTIME = 1_700_000_000  # every tar member's mtime (2023-11-14)
ZIP_TIME = (2023, 11, 14, 22, 13, 20)  # every zip member's date_time


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def noise(size: int, seed: int) -> bytes:
    """``size`` incompressible bytes, the same for the same ``seed`` on every run."""
    return random.Random(seed).randbytes(size)


def zip_info(name: str, method: int = zipfile.ZIP_DEFLATED, size: int = 0) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name, ZIP_TIME)
    info.compress_type = method
    info.external_attr = 0o644 << 16
    info.file_size = size
    return info


def write_zip(target: Path | BinaryIO, members: Iterable[tuple[str, bytes | Path]],
              method: int = zipfile.ZIP_DEFLATED) -> None:
    """A zip of ``members`` in the order given; a Path member is streamed from that file."""
    with zipfile.ZipFile(target, "w", method) as zf:
        for name, data in members:
            if isinstance(data, Path):
                size = data.stat().st_size
                with open(data, "rb") as src, zf.open(zip_info(name, method, size), "w",
                                                       force_zip64=size >= 1 << 31) as dst:
                    shutil.copyfileobj(src, dst, MiB)
            else:
                zf.writestr(zip_info(name, method), data)


def zip_bytes(members: dict[str, bytes], method: int = zipfile.ZIP_DEFLATED) -> bytes:
    buf = io.BytesIO()
    write_zip(buf, members.items(), method)
    return buf.getvalue()
