"""Local image sources: docker archives and OCI layouts built by tests/imagebuild.py."""

from __future__ import annotations

import gzip
import io
import json
import shutil
import subprocess
import tarfile
from pathlib import Path

import pytest

from layerscan.errors import DigestMismatchError, ImageError, InputNotFoundError
from layerscan.source.base import SourceOptions
from layerscan.source.open import open_image, parse_input
from imagebuild import (
    BuiltImage,
    canonical_json,
    decompress,
    LayerSpec,
    build_image,
    digest_of,
    entries_from_directory,
    file,
    layer_tar,
    read_layers,
    sample_image,
    sample_index,
)


@pytest.fixture(scope="module")
def image() -> BuiltImage:
    return sample_image()


WRITERS = {
    "oci-dir": lambda img, d: str(img.write_oci_dir(d / "layout", "1.0")),
    "oci-dir-tag": lambda img, d: str(img.write_oci_dir(d / "layout", "1.0")) + ":1.0",
    "oci-tar": lambda img, d: str(img.write_oci_tar(d / "layout.tar", "1.0")),
    "oci-tar-digest": lambda img, d: f"{img.write_oci_tar(d / 'layout.tar')}@{img.manifest_digest}",
    "docker-legacy": lambda img, d: str(img.write_docker_archive(d / "img.tar", "app:1.0")),
    "docker-gzip": lambda img, d: str(img.write_docker_archive(d / "img.tar.gz", "app:1.0", gzip=True)),
    "docker-25": lambda img, d: str(img.write_docker_archive(d / "img25.tar", "app:1.0", layout="oci")),
    "docker-compressed-layers": lambda img, d: str(
        img.write_docker_archive(d / "imgc.tar", "app:1.0", compressed_layers=True)),
}


@pytest.mark.parametrize("kind", sorted(WRITERS))
def test_every_format_yields_the_same_image(kind: str, image: BuiltImage, tmp_path: Path) -> None:
    with open_image(input_path=WRITERS[kind](image, tmp_path)) as src:
        assert src.config().digest == image.config_digest
        layers = src.layers()
        assert [layer.diff_id for layer in layers] == image.diff_ids
        assert [layer.index for layer in layers] == list(range(len(image.layers)))
        # created_by skips the empty_layer history entries
        assert [layer.created_by for layer in layers] == [b.created_by for b in image.layers]
        assert [decompress(blob) for blob in read_layers(src)] == [b.tar for b in image.layers]
        if kind.startswith("docker"):
            assert src.repo_tags == ("app:1.0",)
            if kind != "docker-compressed-layers":
                assert [layer.digest for layer in layers] == image.diff_ids


def test_oci_layer_digests_are_the_blob_digests(image: BuiltImage, tmp_path: Path) -> None:
    with open_image(input_path=str(image.write_oci_dir(tmp_path / "l"))) as src:
        assert [(layer.digest, layer.size, layer.media_type) for layer in src.layers()] == \
            [(b.digest, len(b.blob), b.media_type) for b in image.layers]


def _corrupt(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))


def test_corrupt_oci_layer_is_a_digest_mismatch_naming_the_blob(image: BuiltImage, tmp_path: Path) -> None:
    layout = image.write_oci_dir(tmp_path / "l")
    victim = image.layers[2]  # the uncompressed one: corruption still inflates fine
    _corrupt(layout / "blobs" / "sha256" / victim.digest.split(":")[1])
    with open_image(input_path=str(layout)) as src:
        layer = src.layers()[2]
        with pytest.raises(DigestMismatchError, match=victim.digest):
            with src.open_layer(layer) as fh:
                fh.read()


def test_corrupt_config_is_a_digest_mismatch(image: BuiltImage, tmp_path: Path) -> None:
    layout = image.write_oci_dir(tmp_path / "l")
    _corrupt(layout / "blobs" / "sha256" / image.config_digest.split(":")[1])
    with open_image(input_path=str(layout)) as src, pytest.raises(DigestMismatchError, match="config"):
        src.config()


def test_corrupt_docker_layer_is_a_digest_mismatch(image: BuiltImage, tmp_path: Path) -> None:
    archive = image.write_docker_archive(tmp_path / "img.tar")
    data = bytearray(archive.read_bytes())
    marker = data.find(b"new docs")  # content of the opaque-dir layer
    data[marker] ^= 0x20
    archive.write_bytes(bytes(data))
    with open_image(input_path=str(archive)) as src:
        with pytest.raises(DigestMismatchError, match="layer"):
            read_layers(src)


def test_truncated_archive(image: BuiltImage, tmp_path: Path) -> None:
    archive = image.write_docker_archive(tmp_path / "img.tar")
    archive.write_bytes(archive.read_bytes()[: archive.stat().st_size // 2])
    with pytest.raises(ImageError, match="truncated|missing"):
        with open_image(input_path=str(archive)) as src:
            read_layers(src)


def test_truncated_gzip_archive(image: BuiltImage, tmp_path: Path) -> None:
    archive = image.write_docker_archive(tmp_path / "img.tar.gz", gzip=True)
    archive.write_bytes(archive.read_bytes()[:-100])
    with pytest.raises(ImageError, match="truncated"):
        open_image(input_path=str(archive))


@pytest.mark.parametrize("content", [b"just some text\n" * 100, gzip.compress(b"not a tar" * 100), b""])
def test_non_image_file(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "notes.txt"
    path.write_bytes(content)
    with pytest.raises(ImageError, match="not a docker archive or OCI layout"):
        open_image(input_path=str(path))


def test_tar_that_is_not_an_image(tmp_path: Path) -> None:
    path = tmp_path / "plain.tar"
    path.write_bytes(layer_tar([file("etc/hostname", "box\n")]))
    with pytest.raises(ImageError, match="not a docker archive or OCI layout"):
        open_image(input_path=str(path))


def test_missing_path(tmp_path: Path) -> None:
    with pytest.raises(InputNotFoundError, match="no such file"):
        open_image(input_path=str(tmp_path / "nope.tar"))


def test_missing_tag_lists_available(image: BuiltImage, tmp_path: Path) -> None:
    layout = image.write_oci_dir(tmp_path / "l", "1.0")
    with pytest.raises(ImageError, match=r"tag '2\.0' not found \(available: 1\.0\)"):
        open_image(input_path=f"{layout}:2.0")


def test_path_with_colon_is_taken_as_written(image: BuiltImage, tmp_path: Path) -> None:
    layout = image.write_oci_dir(tmp_path / "dir:with:colons", "v1")
    assert parse_input(str(layout)).path == layout
    assert parse_input(f"{layout}:v1").tag == "v1"
    with open_image(input_path=f"{layout}:v1") as src:
        assert src.config().digest == image.config_digest


def _rewrite_manifest(layout: Path, image: BuiltImage, change) -> None:
    """Replace the manifest blob with change(manifest dict) and repoint index.json."""
    doc = json.loads(image.manifest)
    change(doc)
    raw = canonical_json(doc)
    (layout / "blobs" / "sha256" / digest_of(raw).split(":")[1]).write_bytes(raw)
    index = json.loads((layout / "index.json").read_bytes())
    index["manifests"][0].update(digest=digest_of(raw), size=len(raw))
    index["manifests"][0].pop("mediaType")
    (layout / "index.json").write_bytes(canonical_json(index))


def test_manifest_without_media_type_is_accepted(image: BuiltImage, tmp_path: Path) -> None:
    layout = image.write_oci_dir(tmp_path / "l")
    _rewrite_manifest(layout, image, lambda d: d.pop("mediaType"))  # as umoci writes it
    with open_image(input_path=str(layout)) as src:
        assert [layer.diff_id for layer in src.layers()] == image.diff_ids


def test_unsupported_layer_media_type(image: BuiltImage, tmp_path: Path) -> None:
    layout = image.write_oci_dir(tmp_path / "l")
    _rewrite_manifest(layout, image,
                      lambda d: d["layers"][1].update(mediaType="application/vnd.example.layer.v1+squashfs"))
    with pytest.raises(ImageError, match="unsupported layer media type.*squashfs"):
        open_image(input_path=str(layout))


def test_schema1_manifest_is_named(image: BuiltImage, tmp_path: Path) -> None:
    layout = image.write_oci_dir(tmp_path / "l")
    _rewrite_manifest(layout, image, lambda d: d.update(
        mediaType="application/vnd.docker.distribution.manifest.v1+prettyjws"))
    with pytest.raises(ImageError, match="schema 1"):
        open_image(input_path=str(layout))


@pytest.mark.parametrize("platform", ["linux/amd64", "linux/arm64", "linux/arm64/v8"])
def test_index_platform_selection(tmp_path: Path, platform: str) -> None:
    index = sample_index()
    layout = index.write_oci_dir(tmp_path / "multi", "multi")
    arch = platform.split("/")[1]
    wanted = next(img for img in index.images if img.architecture == arch)
    with open_image(input_path=f"{layout}:multi", options=SourceOptions(platform=platform)) as src:
        assert src.config().digest == wanted.config_digest
        assert src.config().parsed()["architecture"] == arch
        assert [decompress(b) for b in read_layers(src)] == [layer.tar for layer in wanted.layers]


def test_index_without_matching_platform_lists_available(tmp_path: Path) -> None:
    layout = sample_index().write_oci_dir(tmp_path / "multi")
    with pytest.raises(ImageError, match=r"linux/s390x.*available: linux/amd64, linux/arm64"):
        open_image(input_path=str(layout), options=SourceOptions(platform="linux/s390x"))


def test_docker_archive_rejects_escaping_layer_paths(image: BuiltImage, tmp_path: Path) -> None:
    archive = image.write_docker_archive(tmp_path / "img.tar")
    with tarfile.open(archive) as tf:
        members = {m.name: tf.extractfile(m).read() for m in tf.getmembers() if m.isfile()}
    doc = json.loads(members["manifest.json"])
    doc[0]["Layers"][0] = "../../../etc/passwd"
    members["manifest.json"] = json.dumps(doc).encode()
    archive.write_bytes(layer_tar([file(n, d) for n, d in members.items()]))
    with pytest.raises(ImageError, match="missing"):
        with open_image(input_path=str(archive)) as src:
            src.layers()


@pytest.mark.skipif(shutil.which("umoci") is None, reason="umoci not installed")
def test_umoci_layout(tmp_path: Path) -> None:
    """A layout written by a third-party tool (umoci omits the manifest mediaType)."""
    layout = tmp_path / "umoci"
    rootfs = tmp_path / "rootfs"
    (rootfs / "etc").mkdir(parents=True)
    (rootfs / "etc" / "hostname").write_text("umoci\n")
    subprocess.run(["umoci", "init", "--layout", str(layout)], check=True, capture_output=True)
    subprocess.run(["umoci", "new", "--image", f"{layout}:t"], check=True, capture_output=True)
    subprocess.run(["umoci", "insert", "--rootless", "--image", f"{layout}:t", str(rootfs / "etc"), "/etc"],
                   check=True, capture_output=True)
    with open_image(input_path=f"{layout}:t") as src:
        layers = src.layers()
        assert len(layers) == 1
        assert b"umoci\n" in decompress(read_layers(src)[0])


def test_image_from_corpus_fixture(corpus: Path, tmp_path: Path) -> None:
    """A real dpkg database (corpus) survives every source format byte for byte."""
    case = corpus / "fixtures" / "deb" / "real-debian9-stretch-image"
    status = (case / "var/lib/dpkg/status").read_bytes()
    image = build_image([LayerSpec(entries_from_directory(case), compression="gzip"),
                         LayerSpec(entries_from_directory(case), compression="zstd")])
    for kind in ("oci-tar", "docker-gzip"):
        (tmp_path / kind).mkdir()
        with open_image(input_path=WRITERS[kind](image, tmp_path / kind)) as src:
            for blob in read_layers(src):
                with tarfile.open(fileobj=io.BytesIO(decompress(blob))) as tf:
                    member = tf.extractfile("var/lib/dpkg/status")
                    assert member is not None and member.read() == status


@pytest.mark.parametrize("index", [b"{not json", b"[]", b'{"manifests": [{"digest": "sha256:../../etc"}]}'])
def test_bad_index_json(image: BuiltImage, tmp_path: Path, index: bytes) -> None:
    layout = image.write_oci_dir(tmp_path / "l")
    (layout / "index.json").write_bytes(index)
    with pytest.raises(ImageError, match="index.json|invalid digest"):
        open_image(input_path=str(layout))
