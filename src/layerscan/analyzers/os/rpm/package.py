"""An rpm header -> :class:`Package` (name, full version, source rpm, files)."""

from __future__ import annotations

from layerscan.analyzers.os.purl import os_purl
from layerscan.analyzers.os.rpm import header as tags
from layerscan.analyzers.os.rpm.header import Header, HeaderError
from layerscan.model import Package

ANALYZER = "rpm"
PSEUDO_PACKAGES = frozenset({"gpg-pubkey", "gpg-pubkey-release"})
_NONE = "(none)"


def split_source_rpm(source_rpm: str) -> tuple[str, str, str] | None:
    """'openssl-1.1.1k-5.el8.src.rpm' -> ('openssl', '1.1.1k', '5.el8')."""
    stem = source_rpm.removesuffix(".rpm")
    for suffix in (".src", ".nosrc"):
        stem = stem.removesuffix(suffix)
    parts = stem.rsplit("-", 2)
    if stem == source_rpm or len(parts) != 3 or not all(parts):
        return None
    return parts[0], parts[1], parts[2]


def _value(hdr: Header, tag: int) -> str:
    value = hdr.string(tag)
    return "" if value == _NONE else value


def installed_files(hdr: Header) -> tuple[str, ...]:
    """Paths without the leading '/': DIRNAMES[DIRINDEXES[i]] + BASENAMES[i] (or OLDFILENAMES)."""
    basenames = hdr.strings(tags.BASENAMES)
    if not basenames:
        return tuple(p.lstrip("/") for p in hdr.strings(tags.OLDFILENAMES))
    dirnames = hdr.strings(tags.DIRNAMES)
    indexes = hdr.ints(tags.DIRINDEXES)
    if len(indexes) != len(basenames):
        raise HeaderError("DIRINDEXES and BASENAMES differ in length")
    files = []
    for base, index in zip(basenames, indexes):
        if not 0 <= index < len(dirnames):
            raise HeaderError(f"directory index {index} out of range")
        files.append((dirnames[index] + base).lstrip("/"))
    return tuple(files)


def header_package(hdr: Header, path: str) -> Package | None:
    """The package of one header; None for gpg-pubkey pseudo-packages. Raises HeaderError."""
    name = _value(hdr, tags.NAME)
    if name in PSEUDO_PACKAGES:
        return None
    version, release = _value(hdr, tags.VERSION), _value(hdr, tags.RELEASE)
    if not name or not version:
        raise HeaderError("header without NAME or VERSION")
    epochs = hdr.ints(tags.EPOCH)
    epoch = str(epochs[0]) if epochs else ""
    evr = f"{version}-{release}" if release else version
    full = f"{epoch}:{evr}" if epoch else evr
    arch = _value(hdr, tags.ARCH)
    source = split_source_rpm(_value(hdr, tags.SOURCERPM))
    src_name, src_evr = (source[0], f"{source[1]}-{source[2]}") if source else (name, evr)
    extra = tuple(
        (key, value)
        for key, value in (
            ("source_rpm", _value(hdr, tags.SOURCERPM)),
            ("vendor", _value(hdr, tags.VENDOR)),
            ("modularitylabel", _value(hdr, tags.MODULARITYLABEL)),
        )
        if value
    )
    license_text = _value(hdr, tags.LICENSE)
    return Package(
        name=name,
        version=full,
        type="rpm",
        purl=os_purl("rpm", name, evr, arch, epoch),
        arch=arch,
        src_name=src_name,
        src_version=f"{epoch}:{src_evr}" if epoch else src_evr,
        file_path=path,
        installed_files=installed_files(hdr),
        licenses=(license_text,) if license_text else (),
        found_by=ANALYZER,
        extra=extra,
    )
