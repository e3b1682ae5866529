"""Build small, real container images in Python (no Docker) for tests.

Usage::

    from imagebuild import LayerSpec, build_image, build_index, file, whiteout, opaque

    img = build_image([
        LayerSpec([file("etc/os-release", b"ID=debian\\n")], created_by="ADD rootfs /"),
        LayerSpec([whiteout("etc/motd")], compression="zstd"),
    ])
    img.write_oci_dir(tmp / "oci", tag="1.0")          # OCI layout directory
    img.write_oci_tar(tmp / "oci.tar", tag="1.0")      # oci-archive
    img.write_docker_archive(tmp / "img.tar", "app:1.0", gzip=False)   # docker save (legacy layout)
    img.push("127.0.0.1:5000", "team/app", "1.0")       # via skopeo

    # a layer from a directory tree, e.g. a corpus fixture laid out as on disk:
    LayerSpec(entries_from_directory(corpus / "fixtures/deb/real-debian9-stretch-image"))

``sample_image()`` is the standard test image: a Debian-like base with a dpkg
status of three packages, a layer removing a file by whiteout, a layer
replacing a directory with an opaque whiteout, and a zstd layer upgrading a
package; the history has empty_layer entries. ``sample_index()`` is an
amd64+arm64 index of it. Everything is deterministic (fixed mtimes, sorted
JSON), so digests are stable across runs.
"""

from __future__ import annotations

import gzip as _gzip
import hashlib
import io
import json
import shutil
import subprocess
import tarfile
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import zstandard

from hostile.pkgdb import DPKG_STATUS_BASE, OS_RELEASE  # the standard Debian base (re-exported)
from layerscan.source.base import ImageSource

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
LAYER_TYPES = {
    "none": "application/vnd.oci.image.layer.v1.tar",
    "gzip": "application/vnd.oci.image.layer.v1.tar+gzip",
    "zstd": "application/vnd.oci.image.layer.v1.tar+zstd",
}
MTIME = 1_700_000_000
CREATED = "2023-11-14T22:13:20Z"


@dataclass(frozen=True)
class Entry:
    """One tar member. kind: file | dir | symlink | hardlink."""

    path: str
    data: bytes = b""
    kind: str = "file"
    mode: int = 0o644
    linkname: str = ""


def file(path: str, data: bytes | str, mode: int = 0o644) -> Entry:
    return Entry(path, data.encode() if isinstance(data, str) else data, "file", mode)


def directory(path: str) -> Entry:
    return Entry(path, kind="dir", mode=0o755)


def symlink(path: str, target: str) -> Entry:
    return Entry(path, kind="symlink", mode=0o777, linkname=target)


def whiteout(path: str) -> Entry:
    """Delete ``path`` from the lower layers (``.wh.NAME``)."""
    head, _, name = path.rstrip("/").rpartition("/")
    return file(f"{head}/.wh.{name}" if head else f".wh.{name}", b"")


def opaque(directory_path: str) -> Entry:
    """Hide everything the lower layers had in ``directory_path`` (``.wh..wh..opq``)."""
    return file(f"{directory_path.rstrip('/')}/.wh..wh..opq", b"")


@dataclass(frozen=True)
class LayerSpec:
    entries: list[Entry]
    created_by: str = ""
    compression: str = "gzip"  # gzip | zstd | none


def entries_from_directory(root: Path, prefix: str = "", skip: tuple[str, ...] = ("expected.json",
                                                                              "PROVENANCE.txt")) -> list[Entry]:
    """Entries for every file/dir/symlink under ``root`` (e.g. a corpus fixture laid out as on disk),
    placed under ``prefix`` inside the layer; top-level names in ``skip`` are left out."""
    out: list[Entry] = []
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root)
        if rel.parts[0] in skip:
            continue
        name = f"{prefix.strip('/')}/{rel.as_posix()}".lstrip("/")
        if path.is_symlink():
            out.append(symlink(name, str(path.readlink())))
        elif path.is_dir():
            out.append(directory(name))
        elif path.is_file():
            out.append(file(name, path.read_bytes(), 0o755 if path.stat().st_mode & 0o111 else 0o644))
    return out


def layer_tar(entries: list[Entry]) -> bytes:
    """Deterministic uncompressed tar of ``entries`` (parent dirs are not added implicitly)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tf:
        for entry in entries:
            info = tarfile.TarInfo(entry.path)
            info.mtime, info.mode, info.uid, info.gid = MTIME, entry.mode, 0, 0
            info.uname = info.gname = "root"
            if entry.kind == "dir":
                info.type = tarfile.DIRTYPE
            elif entry.kind == "symlink":
                info.type, info.linkname = tarfile.SYMTYPE, entry.linkname
            elif entry.kind == "hardlink":
                info.type, info.linkname = tarfile.LNKTYPE, entry.linkname
            else:
                info.size = len(entry.data)
            tf.addfile(info, io.BytesIO(entry.data) if entry.kind == "file" else None)
    return buf.getvalue()


def compress(data: bytes, compression: str) -> bytes:
    if compression == "gzip":
        return _gzip.compress(data, mtime=0)
    if compression == "zstd":
        return zstandard.ZstdCompressor().compress(data)
    if compression == "none":
        return data
    raise ValueError(f"unknown compression {compression!r}")


def decompress(blob: bytes) -> bytes:
    """The tar inside a layer blob, whatever ``compress`` did to it (sniffed by magic bytes)."""
    if blob[:2] == b"\x1f\x8b":
        return _gzip.decompress(blob)
    if blob[:4] == b"\x28\xb5\x2f\xfd":
        return zstandard.ZstdDecompressor().decompressobj().decompress(blob)
    return blob


def read_layers(src: ImageSource) -> list[bytes]:
    """Every layer blob of an open image source, in order."""
    out = []
    for layer in src.layers():
        with src.open_layer(layer) as fh:
            out.append(fh.read())
    return out


def digest_of(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def canonical_json(obj: object) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()


@dataclass(frozen=True)
class BuiltLayer:
    tar: bytes  # uncompressed
    blob: bytes  # as stored in OCI layouts / registries
    media_type: str
    created_by: str

    @property
    def diff_id(self) -> str:
        return digest_of(self.tar)

    @property
    def digest(self) -> str:
        return digest_of(self.blob)


@dataclass(frozen=True)
class BuiltImage:
    layers: list[BuiltLayer]
    config: bytes
    manifest: bytes
    architecture: str = "amd64"

    @property
    def config_digest(self) -> str:
        return digest_of(self.config)

    @property
    def manifest_digest(self) -> str:
        return digest_of(self.manifest)

    @property
    def diff_ids(self) -> list[str]:
        return [layer.diff_id for layer in self.layers]

    def blobs(self) -> dict[str, bytes]:
        out = {self.config_digest: self.config, self.manifest_digest: self.manifest}
        out.update({layer.digest: layer.blob for layer in self.layers})
        return out

    def descriptor(self) -> dict:
        return {"mediaType": OCI_MANIFEST, "digest": self.manifest_digest, "size": len(self.manifest),
                "platform": {"os": "linux", "architecture": self.architecture}}

    def write_oci_dir(self, path: Path, tag: str = "latest") -> Path:
        return _write_oci_dir(path, self.blobs(), self.descriptor(), tag)

    def write_oci_tar(self, path: Path, tag: str = "latest") -> Path:
        return _tar_dir(self.write_oci_dir, path, tag)

    def write_docker_archive(self, path: Path, repo_tag: str = "layerscan/test:latest", *,
                             gzip: bool = False, layout: str = "legacy",
                             compressed_layers: bool = False) -> Path:
        """``docker save`` format. layout: "legacy" (<id>/layer.tar, Docker < 25) or "oci"
        (blobs/sha256/..., Docker 25+). compressed_layers stores the gzip blobs instead of tars."""
        members: dict[str, bytes] = {}
        layer_paths = []
        for layer in self.layers:
            blob = compress(layer.tar, "gzip") if compressed_layers else layer.tar
            hexpart = digest_of(blob).split(":")[1]
            name = f"blobs/sha256/{hexpart}" if layout == "oci" else f"{hexpart}/layer.tar"
            members[name] = blob
            layer_paths.append(name)
        config_hex = self.config_digest.split(":")[1]
        config_name = f"blobs/sha256/{config_hex}" if layout == "oci" else f"{config_hex}.json"
        members[config_name] = self.config
        members["manifest.json"] = canonical_json(
            [{"Config": config_name, "RepoTags": [repo_tag], "Layers": layer_paths}])
        if layout == "oci":
            members["oci-layout"] = b'{"imageLayoutVersion":"1.0.0"}'
            members["index.json"] = canonical_json({"schemaVersion": 2, "mediaType": OCI_INDEX,
                                                    "manifests": []})
        data = _tar_members(members)
        path.write_bytes(_gzip.compress(data, mtime=0) if gzip else data)
        return path

    def push(self, registry: str, repo: str, tag: str, creds: str = "") -> str:
        """Push with skopeo to an insecure (HTTP) registry; returns the reference pushed."""
        return _skopeo_push(self.write_oci_dir, registry, repo, tag, creds, all_images=False)


@dataclass(frozen=True)
class BuiltIndex:
    images: list[BuiltImage]
    index: bytes = field(default=b"")
    extra: dict[str, bytes] = field(default_factory=dict)  # more blobs (attestation manifests, statements)

    @property
    def digest(self) -> str:
        return digest_of(self.index)

    def blobs(self) -> dict[str, bytes]:
        out: dict[str, bytes] = {self.digest: self.index}
        for image in self.images:
            out.update(image.blobs())
        out.update(self.extra)
        return out

    def write_oci_dir(self, path: Path, tag: str = "latest") -> Path:
        desc = {"mediaType": OCI_INDEX, "digest": self.digest, "size": len(self.index)}
        return _write_oci_dir(path, self.blobs(), desc, tag)

    def write_oci_tar(self, path: Path, tag: str = "latest") -> Path:
        return _tar_dir(self.write_oci_dir, path, tag)

    def push(self, registry: str, repo: str, tag: str, creds: str = "") -> str:
        return _skopeo_push(self.write_oci_dir, registry, repo, tag, creds, all_images=True)


def build_image(layers: list[LayerSpec], *, architecture: str = "amd64",
                empty_steps: dict[int, list[str]] | None = None,
                labels: dict[str, str] | None = None, env: list[str] | None = None,
                annotations: dict[str, str] | None = None) -> BuiltImage:
    """Assemble an image. ``empty_steps[i]`` are empty_layer history entries placed before layer i
    (``i == len(layers)`` puts them after the last layer); ``env`` is added to the config's Env,
    ``annotations`` to the manifest's."""
    built = [BuiltLayer(tar, compress(tar, spec.compression), LAYER_TYPES[spec.compression],
                        spec.created_by or f"layer {i}")
             for i, spec in enumerate(layers) for tar in [layer_tar(spec.entries)]]
    config_doc = _config(built, architecture, empty_steps or {}, labels or {})
    config_doc["config"]["Env"] += list(env or [])
    config = canonical_json(config_doc)
    manifest_doc = {
        "schemaVersion": 2, "mediaType": OCI_MANIFEST,
        "config": {"mediaType": OCI_CONFIG, "digest": digest_of(config), "size": len(config)},
        "layers": [{"mediaType": b.media_type, "digest": b.digest, "size": len(b.blob)} for b in built],
    }
    if annotations:
        manifest_doc["annotations"] = dict(annotations)
    return BuiltImage(built, config, canonical_json(manifest_doc), architecture)


def build_index(images: list[BuiltImage]) -> BuiltIndex:
    index = canonical_json({"schemaVersion": 2, "mediaType": OCI_INDEX,
                            "manifests": [image.descriptor() for image in images]})
    return BuiltIndex(images, index)


IN_TOTO = "application/vnd.in-toto+json"


def build_attested_index(image: BuiltImage, statements: list[bytes], *,
                         predicate_type: str = "https://slsa.dev/provenance/v0.2") -> BuiltIndex:
    """An index of ``image`` and its attestation manifest as BuildKit stores it (docs.docker.com
    "Image attestation storage"): an OCI image manifest, platform unknown/unknown, annotated
    ``vnd.docker.reference.type: attestation-manifest`` and ``vnd.docker.reference.digest``,
    whose layers are the ``statements`` (in-toto JSON, ``in-toto.io/predicate-type``)."""
    config = canonical_json({"architecture": "unknown", "os": "unknown", "config": {},
                             "rootfs": {"type": "layers", "diff_ids": [digest_of(s) for s in statements]}})
    manifest = canonical_json({
        "schemaVersion": 2, "mediaType": OCI_MANIFEST,
        "config": {"mediaType": OCI_CONFIG, "digest": digest_of(config), "size": len(config)},
        "layers": [{"mediaType": IN_TOTO, "digest": digest_of(s), "size": len(s),
                    "annotations": {"in-toto.io/predicate-type": predicate_type}} for s in statements]})
    entry = {"mediaType": OCI_MANIFEST, "digest": digest_of(manifest), "size": len(manifest),
             "platform": {"os": "unknown", "architecture": "unknown"},
             "annotations": {"vnd.docker.reference.type": "attestation-manifest",
                             "vnd.docker.reference.digest": image.manifest_digest}}
    index = canonical_json({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [image.descriptor(), entry]})
    extra = {digest_of(config): config, digest_of(manifest): manifest}
    extra.update({digest_of(s): s for s in statements})
    return BuiltIndex([image], index, extra)


def _config(built: list[BuiltLayer], arch: str, empty: dict[int, list[str]], labels: dict[str, str]) -> dict:
    history: list[dict] = []
    for i in range(len(built) + 1):
        history += [{"created": CREATED, "created_by": step, "empty_layer": True} for step in empty.get(i, [])]
        if i < len(built):
            history.append({"created": CREATED, "created_by": built[i].created_by})
    return {"architecture": arch, "os": "linux", "created": CREATED,
            "config": {"Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
                       "Labels": labels},
            "rootfs": {"type": "layers", "diff_ids": [b.diff_id for b in built]},
            "history": history}


def _write_oci_dir(path: Path, blobs: dict[str, bytes], top: dict, tag: str) -> Path:
    (path / "blobs" / "sha256").mkdir(parents=True, exist_ok=True)
    for digest, data in blobs.items():
        (path / "blobs" / "sha256" / digest.split(":")[1]).write_bytes(data)
    (path / "oci-layout").write_bytes(b'{"imageLayoutVersion":"1.0.0"}')
    entry = dict(top, annotations={"org.opencontainers.image.ref.name": tag})
    (path / "index.json").write_bytes(canonical_json({"schemaVersion": 2, "mediaType": OCI_INDEX,
                                                      "manifests": [entry]}))
    return path


def _tar_dir(writer, path: Path, tag: str) -> Path:  # writer: write_oci_dir bound method
    with tempfile.TemporaryDirectory() as tmp:
        root = writer(Path(tmp) / "layout", tag)
        members = {p.relative_to(root).as_posix(): p.read_bytes()
                   for p in sorted(root.rglob("*")) if p.is_file()}
    path.write_bytes(_tar_members(members))
    return path


def _tar_members(members: dict[str, bytes]) -> bytes:
    return layer_tar([file(name, data) for name, data in members.items()])


def _skopeo_push(writer, registry: str, repo: str, tag: str, creds: str, all_images: bool) -> str:
    if shutil.which("skopeo") is None:
        raise RuntimeError("skopeo is not installed")
    with tempfile.TemporaryDirectory() as tmp:
        layout = writer(Path(tmp) / "layout", tag)
        return skopeo_copy(f"oci:{layout}:{tag}", registry, repo, tag, creds, all_images)


def skopeo_copy(source: str, registry: str, repo: str, tag: str, creds: str = "", all_images: bool = False) -> str:
    """Copy a skopeo source (``oci:DIR:TAG``, ``docker-archive:FILE``) to an insecure (HTTP)
    registry as ``repo:tag``; returns the reference pushed."""
    if shutil.which("skopeo") is None:
        raise RuntimeError("skopeo is not installed")
    dest = f"{registry}/{repo}:{tag}"
    cmd = ["skopeo", "--insecure-policy", "copy", "--quiet", "--dest-tls-verify=false", "--preserve-digests"]
    if all_images:
        cmd.append("--all")
    if creds:
        cmd += ["--dest-creds", creds]
    cmd += [source, f"docker://{dest}"]
    subprocess.run(cmd, check=True, capture_output=True, timeout=120)
    return dest


def sample_layers(architecture: str = "amd64") -> list[LayerSpec]:
    status = DPKG_STATUS_BASE.replace("Architecture: amd64", f"Architecture: {architecture}")
    upgraded = status.replace("Version: 1:1.2.13.dfsg-1", "Version: 1:1.2.13.dfsg-1+b1")
    return [
        LayerSpec([directory("etc"), file("etc/os-release", OS_RELEASE), file("etc/debian_version", "12.4\n"),
                   file("etc/motd", "hello\n"), directory("usr/share/doc/legacy"),
                   file("usr/share/doc/legacy/README", "old docs\n"),
                   directory("var/lib/dpkg"), file("var/lib/dpkg/status", status),
                   file("var/lib/dpkg/info/zlib1g:amd64.list", "/usr/lib/x86_64-linux-gnu/libz.so.1\n")],
                  created_by="/bin/sh -c #(nop) ADD file:rootfs.tar in / "),
        LayerSpec([whiteout("etc/motd"), file("etc/arch", architecture + "\n")],
                  created_by="RUN rm /etc/motd"),
        LayerSpec([opaque("usr/share/doc/legacy"), file("usr/share/doc/legacy/NEW", "new docs\n")],
                  created_by="RUN rm -rf /usr/share/doc/legacy/* && echo new", compression="none"),
        LayerSpec([file("var/lib/dpkg/status", upgraded)], created_by="RUN apt-get install --only-upgrade zlib1g",
                  compression="zstd"),
    ]


def sample_image(architecture: str = "amd64") -> BuiltImage:
    return build_image(sample_layers(architecture), architecture=architecture,
                       empty_steps={1: ['/bin/sh -c #(nop)  CMD ["bash"]'], 4: ["ENV APP=1"]},
                       labels={"org.opencontainers.image.title": "layerscan-sample"})


def sample_index() -> BuiltIndex:
    return build_index([sample_image("amd64"), sample_image("arm64")])
