"""Hostile layers and image archives: tar members with lying headers and escaping links,
docker-save archives and OCI layouts with overridable parts, decompression bombs."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import struct
import tarfile
from dataclasses import dataclass
from pathlib import Path

from hostile.blobs import GiB, MTIME, MiB, sha256

Member = tuple[tarfile.TarInfo, bytes]
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
LAYER_TAR = "application/vnd.oci.image.layer.v1.tar"
LAYER_GZIP = LAYER_TAR + "+gzip"


def tar_of(members: list[Member], fmt: int = tarfile.PAX_FORMAT) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=fmt, encoding="utf-8", errors="surrogateescape") as tf:
        for info, data in members:
            tf.addfile(info, io.BytesIO(data) if info.isfile() else None)
    return buf.getvalue()


def member(name: str, data: bytes = b"", kind: bytes = tarfile.REGTYPE, link: str = "") -> Member:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.mtime = MTIME
    info.mode = 0o755 if kind == tarfile.DIRTYPE else 0o644
    info.linkname = link
    info.size = len(data) if kind == tarfile.REGTYPE else 0
    return info, data


def files_tar(files: dict[str, bytes | str]) -> bytes:
    """A layer of regular files, in the order given."""
    return tar_of([member(name, data.encode() if isinstance(data, str) else data) for name, data in files.items()])


def config_for(diff_ids: list[str]) -> bytes:
    return json.dumps({"architecture": "amd64", "os": "linux",
                       "rootfs": {"type": "layers", "diff_ids": diff_ids},
                       "history": [{"created_by": f"layer {i}"} for i in range(len(diff_ids))]}).encode()


def docker_archive(path: Path, layers: list[bytes], *, manifest: object | None = None,
                   config: bytes | None = None, extra: dict[str, bytes] | None = None) -> Path:
    """A ``docker save`` archive of ``layers`` (tars, or compressed blobs whose config then
    claims the blob's own digest as diff_id) with overridable parts."""
    members: dict[str, bytes] = {}
    names = []
    for blob in layers:
        names.append(f"{sha256(blob).split(':')[1]}/layer.tar")
        members[names[-1]] = blob
    cfg = config if config is not None else config_for([sha256(blob) for blob in layers])
    members["config.json"] = cfg
    doc = manifest if manifest is not None else [{"Config": "config.json", "RepoTags": ["evil:1"],
                                                  "Layers": names}]
    members["manifest.json"] = doc if isinstance(doc, bytes) else json.dumps(doc).encode()
    members.update(extra or {})
    path.write_bytes(tar_of([member(n, d) for n, d in members.items()]))
    return path


def layered_archive(path: Path, tars: list[bytes], compress: tuple[bool, ...] = ()) -> Path:
    """A docker archive of the layer ``tars`` (each gzip-compressed where ``compress`` says),
    every diff_id the digest of the tar itself."""
    blobs = [gzip.compress(t, mtime=0) if i < len(compress) and compress[i] else t for i, t in enumerate(tars)]
    return docker_archive(path, blobs, config=config_for([sha256(t) for t in tars]))


def docker25_archive(path: Path, blobs: list[bytes], diff_ids: list[str]) -> Path:
    """A Docker 25+ ``docker save``: layers under ``blobs/sha256/<digest of the stored blob>``."""
    layers = [f"blobs/sha256/{sha256(b).split(':')[1]}" for b in blobs]
    cfg = config_for(diff_ids)
    cfg_name = f"blobs/sha256/{sha256(cfg).split(':')[1]}"
    return docker_archive(path, [], config=cfg, manifest=[{"Config": cfg_name, "RepoTags": ["x:1"], "Layers": layers}],
                          extra={**dict(zip(layers, blobs)), cfg_name: cfg})


def put_blob(root: Path, data: bytes) -> str:
    digest = sha256(data)
    (root / "blobs" / "sha256").mkdir(parents=True, exist_ok=True)
    (root / "blobs" / "sha256" / digest.split(":")[1]).write_bytes(data)
    return digest


def write_index(root: Path, manifest_digests: list[str], media_type: str = OCI_MANIFEST) -> None:
    (root / "oci-layout").write_text('{"imageLayoutVersion": "1.0.0"}')
    (root / "index.json").write_text(json.dumps({"schemaVersion": 2, "manifests": [
        {"mediaType": media_type, "digest": d, "size": 10} for d in manifest_digests]}))


def oci_with_layer(root: Path, blob: bytes, diff_id: str, media_type: str) -> Path:
    """An OCI layout of one image with the single layer ``blob``."""
    config = config_for([diff_id])
    manifest = json.dumps({"schemaVersion": 2, "mediaType": OCI_MANIFEST,
                           "config": {"mediaType": OCI_CONFIG, "digest": sha256(config), "size": len(config)},
                           "layers": [{"mediaType": media_type, "digest": sha256(blob), "size": len(blob)}]})
    for data in (config, blob):
        put_blob(root, data)
    (root / "oci-layout").write_text('{"imageLayoutVersion": "1.0.0"}')
    (root / "index.json").write_text(json.dumps({"schemaVersion": 2, "manifests": [
        {"mediaType": OCI_MANIFEST, "digest": put_blob(root, manifest.encode()), "size": len(manifest)}]}))
    return root


def oci_index_chain(root: Path, depth: int) -> Path:
    """An OCI layout whose index.json points at ``depth`` image indexes, each at the next."""
    prev = put_blob(root, json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": []}).encode())
    for _ in range(depth):
        prev = put_blob(root, json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [
            {"mediaType": OCI_INDEX, "digest": prev, "size": 10,
             "platform": {"os": "linux", "architecture": "amd64"}}]}).encode())
    write_index(root, [prev], OCI_INDEX)
    return root


def oci_many_layers(root: Path, count: int) -> Path:
    """An OCI layout whose manifest lists the same small layer ``count`` times."""
    tar = files_tar({"etc/x": b"x"})
    layer = put_blob(root, tar)
    config = config_for([layer] * count)
    manifest = {"schemaVersion": 2, "mediaType": OCI_MANIFEST,
                "config": {"mediaType": OCI_CONFIG, "digest": put_blob(root, config), "size": len(config)},
                "layers": [{"mediaType": LAYER_TAR, "digest": layer, "size": len(tar)}] * count}
    write_index(root, [put_blob(root, json.dumps(manifest).encode())])
    return root


# ---- tar members --------------------------------------------------------------------------------

def hostile_entries(os_release: bytes, dpkg_status: bytes) -> list[Member]:
    """Absolute and ``..`` paths, link loops, links out of the image, bad UTF-8, a 10,000-byte
    name, a NUL in a name, devices: around a real os-release and dpkg status."""
    return [
        member("/etc/os-release", os_release),
        member("../../../../escape-abs", b"x"),
        member("var/../../../escape-dotdot", b"x"),
        member("var/lib/dpkg/status", dpkg_status),
        member("loop-a", kind=tarfile.SYMTYPE, link="loop-b"),
        member("loop-b", kind=tarfile.SYMTYPE, link="loop-a"),
        member("etc/passwd-link", kind=tarfile.SYMTYPE, link="/etc/passwd"),
        member("usr/lib/os-release", kind=tarfile.SYMTYPE, link="../../../../../../etc/shadow"),
        member("hard-out", kind=tarfile.LNKTYPE, link="../../../../etc/passwd"),
        member("var/lib/dpkg/status-hard", kind=tarfile.LNKTYPE, link="/etc/shadow"),
        member("bad-\udcff\udcfe-utf8/package.json", b'{"name": "x", "version": "1.0.0"}'),
        member("a" * 10_000 + "/METADATA", b"Name: x\nVersion: 1\n"),
        member("nul\x00hidden/var/lib/dpkg/status", b"garbage"),
        member("dev-null", kind=tarfile.CHRTYPE),
        member("fifo", kind=tarfile.FIFOTYPE),
    ]


def gnu_long_names() -> bytes:
    return tar_of([member("b" * 20_000 + "/x", b"1"), member("c", kind=tarfile.SYMTYPE, link="d" * 20_000)],
                  fmt=tarfile.GNU_FORMAT)


def pax_header(records: dict[str, str], declared: int | None = None) -> bytes:
    """A raw PAX 'x' header block with ``records`` (its size field may lie)."""
    body = b""
    for key, value in records.items():
        rec = f" {key}={value}\n".encode()
        n = len(rec) + len(str(len(rec)))
        n = len(rec) + len(str(n))
        body += str(n).encode() + rec
    info = tarfile.TarInfo("././@PaxHeader")
    info.type = tarfile.XHDTYPE
    info.size = len(body) if declared is None else declared
    head = info.tobuf(tarfile.USTAR_FORMAT)
    return head + body + bytes(-len(body) % 512)


# name -> (PAX records, declared header size or None for the true one, words the warning names)
LYING_PAX: dict[str, tuple[dict[str, str], int | None, tuple[str, ...]]] = {
    "huge-size": ({"size": str(1 << 60)}, None, ("layer",)),
    "negative-size": ({"size": "-5"}, None, ("PAX",)),
    "junk-size": ({"size": "abc"}, None, ("PAX",)),
    "huge-header": ({"path": "x"}, 1 << 32, ("extended header",)),
    "short-header": ({"path": "x"}, 5, ("PAX",)),
}


def lying_pax_tar(records: dict[str, str], declared: int | None = None) -> bytes:
    """One small file behind a PAX header that lies."""
    info, data = member("file", b"hello")
    return pax_header(records, declared) + info.tobuf(tarfile.USTAR_FORMAT) + data + bytes(507) + bytes(1024)


def many_entries_tar(count: int) -> bytes:
    """``count`` empty members (512 bytes of header each)."""
    info = tarfile.TarInfo("x")
    info.mtime = MTIME
    blocks = []
    for i in range(count):
        info.name = f"d/{i}"
        blocks.append(info.tobuf(tarfile.USTAR_FORMAT))
    return b"".join(blocks) + bytes(1024)


# ---- compression ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Bomb:
    blob: bytes  # gzip, ~1 MiB
    diff_id: str  # of the tar inside


def gzip_bomb(size: int = GiB) -> Bomb:
    """One tar member of ``size`` zeros, gzip-compressed to ~1/1000 (concatenated gzip members
    keep generation fast)."""
    info, _ = member("bomb.bin")
    info.size = size
    header = info.tobuf(tarfile.PAX_FORMAT)
    chunk = bytes(16 * MiB)
    tail = bytes(1024)
    digest = hashlib.sha256(header)
    for _ in range(size // len(chunk)):
        digest.update(chunk)
    digest.update(tail)
    z = gzip.compress(chunk, compresslevel=9, mtime=0)
    blob = gzip.compress(header, mtime=0) + z * (size // len(chunk)) + gzip.compress(tail, mtime=0)
    return Bomb(blob, "sha256:" + digest.hexdigest())


def zstd_giant_window(data: bytes, window_log: int = 31) -> bytes:
    """A zstd frame (RFC 8878 §3.1.1) that holds ``data`` as one raw block but declares a
    window of 2**``window_log`` bytes and no content size: a decoder that trusts it allocates it."""
    if len(data) >= 1 << 17:
        raise ValueError("one raw block holds less than 128 KiB")
    exponent = window_log - 10  # Window_Descriptor: Exponent (5 bits), Mantissa (3 bits) = 0
    block_header = (len(data) << 3 | 0 << 1 | 1).to_bytes(3, "little")  # raw block, the last one
    return struct.pack("<IBB", 0xFD2FB528, 0, exponent << 3) + block_header + data
