"""scan_image end to end: real analyzers, real sources and an in-memory source double
(for counting layer opens), the layer cache, attribution and metadata."""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path

import pytest

import imagebuild as ib
from layerscan.errors import DigestMismatchError, ImageError, UsageError
from layerscan.scan import ScanOptions, analyze_image_layers, scan_image
from layerscan.source import open_image

from fixtures.walk.walkhelpers import MemoryLayer, MemorySource, memory_layer, tar_bytes

SAMPLE_VERSIONS = {  # from imagebuild.DPKG_STATUS_BASE and its upgrade layer
    "base-files": ("12.4+deb12u5", 0), "libc6": ("2.36-9+deb12u4", 0), "zlib1g": ("1:1.2.13.dfsg-1+b1", 3)}


class RecordingProgress:
    def __init__(self) -> None:
        self.tasks: dict[str, list[int]] = {}

    def task(self, description: str, total: int | None = None):
        progress = self

        class Task:
            def advance(self, n: int = 1) -> None:
                progress.tasks[description].append(n)

            def close(self) -> None:
                pass

        self.tasks[description] = []
        return Task()


def sample_source(name: str = "sample:1", replace_last: MemoryLayer | None = None) -> MemorySource:
    """imagebuild's standard sample image as an in-memory source (same blobs)."""
    img = ib.build_image(ib.sample_layers(), empty_steps={1: ["ENV A=1"], 4: ["CMD [\"sh\"]"]},
                         labels={"org.opencontainers.image.title": "sample"})
    config = json.loads(img.config)
    layers = [MemoryLayer(layer.blob, layer.diff_id, layer.media_type, "") for layer in img.layers]
    if replace_last is not None:
        layers[-1] = replace_last
    return MemorySource(name, layers, history=config["history"], labels=config["config"]["Labels"])


def summary(sbom) -> dict[str, tuple[str, int]]:
    return {p.name: (p.version, p.layer.index) for p in sbom.packages}


def test_sample_image_attribution_and_metadata() -> None:
    src = sample_source()
    progress = RecordingProgress()
    sbom = scan_image(src, ScanOptions(mode="image"), progress)
    assert summary(sbom) == SAMPLE_VERSIONS
    assert sbom.artifact_name == "sample:1" and sbom.artifact_type == "container_image"
    assert sbom.os is not None and sbom.os.family == "debian"
    meta = sbom.image
    descs = src.layers()
    assert meta.image_id == src.config().digest and meta.diff_ids == tuple(d.diff_id for d in descs)
    assert meta.labels == (("org.opencontainers.image.title", "sample"),)
    assert meta.os == "linux" and meta.architecture == "amd64"
    assert [layer.created_by for layer in meta.layers] == [spec.created_by for spec in ib.sample_layers()]
    assert [layer.digest for layer in meta.layers] == [d.digest if d.media_type.endswith(("gzip", "zstd")) else ""
                                                       for d in descs]
    assert [layer.size for layer in meta.layers] == [d.size for d in descs]
    assert json.loads(meta.config_json)["rootfs"]["diff_ids"] == list(meta.diff_ids)
    zlib = next(p for p in sbom.packages if p.name == "zlib1g")
    assert zlib.installed_files == ("usr/lib/x86_64-linux-gnu/libz.so.1",)
    assert "distro=debian" in zlib.purl
    # one progress task per analysed layer, advanced by the stored bytes
    assert sorted(sum(v) for v in progress.tasks.values()) == sorted(d.size for d in descs)


def test_same_sbom_from_oci_dir_oci_tar_and_docker_archive(tmp_path: Path) -> None:
    img = ib.build_image(ib.sample_layers())
    inputs = [str(img.write_oci_dir(tmp_path / "oci", tag="1.0")), str(img.write_oci_tar(tmp_path / "oci.tar", "1.0")),
              str(img.write_docker_archive(tmp_path / "docker.tar", "app:1.0"))]
    results = []
    for path in inputs:
        with open_image(input_path=path) as src:
            sbom = scan_image(src, ScanOptions(mode="image", cache_dir=tmp_path / "cache"))
        results.append([(p.name, p.version, p.purl, p.layer.index, p.layer.diff_id) for p in sbom.packages])
    assert results[0] == results[1] == results[2]
    assert {name: (v, i) for name, v, _, i, _ in results[0]} == SAMPLE_VERSIONS


def analysed(src: MemorySource, options: ScanOptions):
    """The SBOM, and the layers walked (a cache hit only hashes its blob: no "analyzing" task)."""
    progress = RecordingProgress()
    sbom = scan_image(src, options, progress)
    return sbom, sorted(int(d.split()[2]) for d in progress.tasks if d.startswith("analyzing layer "))


def test_warm_rescan_walks_no_layer_and_shared_layers_are_reused(tmp_path: Path) -> None:
    options = ScanOptions(mode="image", cache_dir=tmp_path)
    first = sample_source()
    cold, walked = analysed(first, options)
    assert walked == [0, 1, 2, 3]
    warm_src = sample_source()
    warm, walked = analysed(warm_src, options)
    assert walked == [] and warm == cold
    assert sorted(warm_src.opened) == [0, 1, 2, 3]  # each blob hashed before its entry is trusted
    # an image sharing the first three layers: only the new one is read
    downgrade = memory_layer(ib.layer_tar([ib.file("var/lib/dpkg/status", ib.DPKG_STATUS_BASE)]), "zstd")
    shared = sample_source("other", replace_last=downgrade)
    sbom, walked = analysed(shared, options)
    assert walked == [3]
    assert summary(sbom)["zlib1g"] == ("1:1.2.13.dfsg-1", 0)


def test_a_warm_cache_cannot_be_lied_to(tmp_path: Path) -> None:
    """Blobs whose descriptors claim a cached digest/diff_id but hold other bytes: the cached
    analysis is not returned (the blob is hashed first)."""
    options = ScanOptions(mode="image", cache_dir=tmp_path)
    scan_image(sample_source(), options)
    for index in (1, 2):  # gzip (digest of the compressed blob) and plain (digest == diff_id)
        src = sample_source()
        src.tampered[index] = memory_layer(ib.layer_tar([ib.file("etc/motd", "other bytes")]), "none").blob
        with pytest.raises(DigestMismatchError, match=src.layers()[index].digest):
            scan_image(src, options)


def test_corrupt_cache_entry_is_ignored_and_rewritten(tmp_path: Path) -> None:
    options = ScanOptions(mode="image", cache_dir=tmp_path)
    expected = scan_image(sample_source(), options)
    entries = sorted((tmp_path / "layers").glob("*.json"))
    assert len(entries) == 4
    for i, entry in enumerate(entries[:3]):
        entry.write_bytes([b"{not json", b'{"format": 1}', b'{"format": 1, "results": [["x", {"packages": 5}]]}'][i])
    sbom, walked = analysed(sample_source(), options)
    assert sbom == expected and len(walked) == 3
    sbom, walked = analysed(sample_source(), options)
    assert sbom == expected and walked == []
    assert not [p for p in (tmp_path / "layers").iterdir() if p.name.endswith(".tmp")]


def test_concurrent_scans_share_the_cache(tmp_path: Path) -> None:
    options = ScanOptions(mode="image", cache_dir=tmp_path, parallel=2)
    results, errors = [], []

    def run() -> None:
        try:
            results.append(scan_image(sample_source(), options))
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == [] and len(results) == 4 and all(r == results[0] for r in results)
    for entry in (tmp_path / "layers").iterdir():
        json.loads(entry.read_text())


def test_unwritable_cache_dir_does_not_fail_the_scan(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    sbom = scan_image(sample_source(), ScanOptions(mode="image", cache_dir=blocker))
    assert summary(sbom) == SAMPLE_VERSIONS


def test_digest_mismatch_of_a_layer_is_an_error(tmp_path: Path) -> None:
    src = sample_source()
    good = src.stored[1].blob
    src.tampered[1] = good[:-4] + bytes(4)  # gzip trailer damaged
    with pytest.raises(ImageError, match=src.layers()[1].digest):
        scan_image(src, ScanOptions(mode="image", cache_dir=tmp_path))
    src = sample_source()
    plain = src.stored[2].blob  # stored uncompressed: the tar stays readable after tampering
    src.tampered[2] = plain.replace(b"new docs", b"NEW DOCS")
    with pytest.raises(DigestMismatchError):
        scan_image(src, ScanOptions(mode="image", cache_dir=tmp_path / "other"))
    assert len(list((tmp_path / "layers").glob("*.json"))) < 4  # failed layers are not cached
    assert len(list((tmp_path / "other" / "layers").glob("*.json"))) < 4


def test_layers_are_read_to_eof_even_after_the_end_marker() -> None:
    tar = tar_bytes([("etc/hostname", b"x", "file")]) + b"\0" * 8192
    src = MemorySource("eof", [memory_layer(tar, "none")])
    src.tampered[0] = tar[:-1] + b"\1"  # damage after the end-of-archive marker
    with pytest.raises(DigestMismatchError):
        scan_image(src, ScanOptions(mode="image"))


def test_parallel_and_serial_agree() -> None:
    serial = scan_image(sample_source(), ScanOptions(mode="image", parallel=1))
    parallel = scan_image(sample_source(), ScanOptions(mode="image", parallel=4))
    assert serial == parallel
    descs, analyses = analyze_image_layers(sample_source(), ScanOptions(mode="image"))
    assert [a.compression for a in analyses] == ["gzip", "gzip", "none", "zstd"]
    assert [d.index for d in descs] == [0, 1, 2, 3]


def test_repeated_and_empty_layers() -> None:
    empty = memory_layer(b"\0" * 1024, "gzip", "WORKDIR /app")
    db = memory_layer(tar_bytes([("var/lib/dpkg/status", ib.DPKG_STATUS_BASE.encode(), "file")]), "zstd")
    src = MemorySource("repeat", [empty, db, empty, MemoryLayer(b"", "sha256:" + "0" * 64, "application/x-tar")])
    src.stored[3].diff_id = src.layers()[3].digest  # a zero-byte uncompressed blob
    src = MemorySource("repeat", src.stored)
    sbom = scan_image(src, ScanOptions(mode="image", parallel=3))
    assert sorted(src.opened) == [0, 1, 3]
    assert {p.layer.index for p in sbom.packages} == {1}
    assert [layer.index for layer in sbom.image.layers] == [0, 1, 2, 3]
    assert sbom.image.layers[3].digest == ""
    nothing = scan_image(MemorySource("scratch", []), ScanOptions(mode="image"))
    assert nothing.packages == () and nothing.image.layers == () and nothing.os is None


def test_wrong_mode_is_a_usage_error() -> None:
    with pytest.raises(UsageError):
        scan_image(sample_source(), ScanOptions(mode="fs"))


def test_real_os_databases_as_layers(corpus: Path, tmp_path: Path) -> None:
    """apk and rpm (NDB) databases from the corpus, each in its own layer over an os-release layer."""
    fixtures = corpus / "fixtures"
    cases = [fixtures / "apk/trivy-apk-happy-path", fixtures / "rpm/rpmdb-sle15-bci-ndb"]
    for case in cases:
        expected = json.loads((case / "expected.json").read_text())
        layers = [memory_layer(ib.layer_tar([ib.file("etc/hostname", "box\n")]), "gzip"),
                  memory_layer(ib.layer_tar(ib.entries_from_directory(case)), "zstd")]
        sbom = scan_image(MemorySource(case.name, layers), ScanOptions(mode="image", cache_dir=tmp_path))
        got = sorted((p.name, p.version, p.layer.index) for p in sbom.packages)
        assert got == sorted((p["name"], p["version"], 1) for p in expected["packages"]), case.name
        assert all(p.layer.diff_id == layers[1].diff_id for p in sbom.packages)
    assert os.listdir(tmp_path / "layers")


@pytest.mark.registry
def test_registry_pull_gives_the_same_sbom_and_warm_rescan_skips_downloads(registry, tmp_path: Path) -> None:
    from layerscan.source import SourceOptions

    img = ib.build_image(ib.sample_layers())
    ref = img.push(registry.host, "walk/sample", "1.0")
    with open_image(input_path=str(img.write_oci_dir(tmp_path / "oci", tag="1.0"))) as src:
        local = scan_image(src, ScanOptions(mode="image"))
    options = ScanOptions(mode="image", cache_dir=tmp_path / "cache")
    with open_image(ref, options=SourceOptions(insecure=True)) as src:
        pulled = scan_image(src, options)
    assert pulled.packages == local.packages and pulled.image.layers == local.image.layers

    cold_progress, warm_progress = RecordingProgress(), RecordingProgress()
    with open_image(ref, options=SourceOptions(insecure=True), progress=cold_progress) as src:
        scan_image(src, ScanOptions(mode="image", cache_dir=tmp_path / "cold"), cold_progress)
    with open_image(ref, options=SourceOptions(insecure=True), progress=warm_progress) as src:
        assert scan_image(src, options, warm_progress) == pulled
    layer_hexes = [layer.diff_id[7:19] for layer in pulled.image.layers] + [layer.digest[7:19] for layer in
                                                                           pulled.image.layers if layer.digest]
    mentions = lambda tasks: [d for d in tasks if any(h in d for h in layer_hexes)]  # noqa: E731
    assert len(mentions(cold_progress.tasks)) >= 4 and mentions(warm_progress.tasks) == []
