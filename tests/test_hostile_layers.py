"""Hostile and broken layers, end to end through the real CLI (issue #16): exact layer
stacking (a path replaced by a file, a directory or a symlink), package databases reached
through a symlink inside the image, every diff_id checked, a warm cache that cannot be lied
to, and partial results for an unreadable layer (truncated, corrupt, xz, bzip2).

Images are generated with tests/imagebuild.py; the sandboxed CLI runner is test_hostile_cli's,
the archive helpers the hostile corpus's (tests/hostile/archives.py).
"""

from __future__ import annotations

import bz2
import gzip
import json
import lzma
from pathlib import Path

import pytest

import imagebuild as ib
from imagebuild import DPKG_STATUS_BASE, OS_RELEASE, LayerSpec, build_image, directory, file, symlink
from hostile.archives import config_for, docker25_archive, docker_archive, member, sha256, tar_of
from test_hostile_cli import (
    Run,
    Sandbox,
    assert_clean_failure,
    assert_partial,
    assert_scanned,
    box,  # noqa: F401 - fixture
    run_cli,
    scan_image,
)

BASE_PACKAGES = {"base-files", "libc6", "zlib1g"}
DPKG = "var/lib/dpkg"


def scan(box: Sandbox, path: Path) -> Run:
    return scan_image(box, path, "--list-all-pkgs")


def names(report: dict) -> set[str]:
    return {p["Name"] for r in report.get("Results", []) for p in r.get("Packages", [])}


def packages(report: dict) -> dict[str, tuple[str, str]]:
    """name -> (version-release, diff_id of the layer it is attributed to)."""
    return {p["Name"]: ("-".join(filter(None, (p["Version"], p.get("Release")))), p["Layer"]["DiffID"])
            for r in report.get("Results", []) for p in r.get("Packages", [])}


def base_layer(*extra: ib.Entry) -> LayerSpec:
    return LayerSpec([directory("etc"), file("etc/os-release", OS_RELEASE), directory("var/lib/dpkg"),
                      file(f"{DPKG}/status", DPKG_STATUS_BASE), *extra])


# ---- layer stacking -------------------------------------------------------------------------


@pytest.mark.parametrize("replacement", [
    [file(DPKG, "not a directory any more\n")],  # dir -> file
    [symlink(DPKG, "/nonexistent")],  # dir -> symlink (dangling)
    [symlink("var/lib", "/srv")],  # an ancestor dir -> symlink
    [directory(f"{DPKG}/status")],  # file -> dir
    [file("var", "x")],  # the top directory -> file
], ids=["dir-to-file", "dir-to-symlink", "parent-to-symlink", "file-to-dir", "top-to-file"])
@pytest.mark.parametrize("layout", ["docker", "oci"])
def test_a_path_replaced_in_a_later_layer_removes_the_lower_database(
        box: Sandbox, tmp_path: Path, replacement: list, layout: str) -> None:
    img = build_image([base_layer(), LayerSpec(replacement)])
    path = (img.write_docker_archive(tmp_path / "img.tar") if layout == "docker"
            else img.write_oci_dir(tmp_path / "oci"))
    report = assert_scanned(scan(box, path))
    assert names(report) == set(), report.get("Results")


def test_replacement_within_one_layer_follows_tar_order(box: Sandbox, tmp_path: Path) -> None:
    """The same layer holds the database and, later, a file where its directory was: gone."""
    tar = tar_of([member("etc/os-release", OS_RELEASE.encode()), member(f"{DPKG}/status", DPKG_STATUS_BASE.encode()),
                  member(DPKG, b"a file now")])
    report = assert_scanned(scan(box, docker_archive(tmp_path / "one.tar", [tar])))
    assert names(report) == set()


def test_a_directory_replaced_by_a_directory_keeps_its_content(box: Sandbox, tmp_path: Path) -> None:
    img = build_image([base_layer(), LayerSpec([directory("var"), directory("var/lib"), directory(DPKG)])])
    report = assert_scanned(scan(box, img.write_docker_archive(tmp_path / "img.tar")))
    assert names(report) == BASE_PACKAGES


# ---- package databases through a symlink inside the image --------------------------------------


@pytest.mark.parametrize("target", ["/opt/dpkg", "../../../opt/dpkg", "../../../../../../../opt/dpkg"],
                         ids=["absolute", "relative", "clamped-at-root"])
@pytest.mark.parametrize("link_below", [False, True], ids=["link-above-files", "link-below-files"])
def test_a_symlinked_database_directory_is_followed_inside_the_image(
        box: Sandbox, tmp_path: Path, target: str, link_below: bool) -> None:
    files = LayerSpec([directory("etc"), file("etc/os-release", OS_RELEASE), directory("opt/dpkg"),
                       file("opt/dpkg/status", DPKG_STATUS_BASE)])
    link = LayerSpec([directory("var/lib"), symlink(DPKG, target)])
    img = build_image([link, files] if link_below else [files, link])
    report = assert_scanned(scan(box, img.write_docker_archive(tmp_path / "img.tar")))
    found = packages(report)
    assert set(found) == BASE_PACKAGES
    files_layer = img.layers[1 if link_below else 0].diff_id
    assert {diff_id for _, diff_id in found.values()} == {files_layer}


def test_a_symlinked_database_keeps_its_history(box: Sandbox, tmp_path: Path) -> None:
    """Upgraded at its real location in a later layer: attributed like any database."""
    upgraded = DPKG_STATUS_BASE.replace("Version: 1:1.2.13.dfsg-1", "Version: 1:1.2.13.dfsg-1+b1")
    img = build_image([
        LayerSpec([file("etc/os-release", OS_RELEASE), file("opt/dpkg/status", DPKG_STATUS_BASE),
                   symlink(DPKG, "/opt/dpkg")]),
        LayerSpec([file("opt/dpkg/status", upgraded)], compression="zstd"),
        LayerSpec([file("etc/motd", "hi\n")], compression="none"),
    ])
    layout = img.write_oci_dir(tmp_path / "oci")
    found = packages(assert_scanned(scan(box, layout)))
    assert found["zlib1g"] == ("1.2.13.dfsg-1+b1", img.layers[1].diff_id)
    assert found["libc6"][1] == img.layers[0].diff_id
    assert packages(assert_scanned(scan(box, layout))) == found  # warm: the redirected walks are cached too


def test_a_removed_symlink_or_database_is_not_followed(box: Sandbox, tmp_path: Path) -> None:
    img = build_image([
        LayerSpec([file("etc/os-release", OS_RELEASE), file("opt/dpkg/status", DPKG_STATUS_BASE),
                   file("opt/other/status", DPKG_STATUS_BASE.replace("libc6", "evil")), symlink(DPKG, "/opt/dpkg")]),
        LayerSpec([ib.whiteout("opt/dpkg")]),
    ])
    assert names(assert_scanned(scan(box, img.write_docker_archive(tmp_path / "img.tar")))) == set()
    img = build_image([
        LayerSpec([file("etc/os-release", OS_RELEASE), file("opt/dpkg/status", DPKG_STATUS_BASE),
                   symlink(DPKG, "/opt/dpkg")]),
        LayerSpec([ib.whiteout(DPKG)]),
    ])
    assert names(assert_scanned(scan(box, img.write_docker_archive(tmp_path / "img2.tar")))) == set()


@pytest.mark.parametrize("links", [
    [symlink(DPKG, "/var/lib/dpkg")],  # itself
    [symlink(DPKG, "/a"), symlink("a", "/b"), symlink("b", "/var/lib/dpkg")],  # a cycle
    [symlink(DPKG, "/proc/self/root/etc")],  # a runtime path: nothing there in the image
], ids=["self", "cycle", "proc"])
def test_symlink_loops_and_dead_ends_are_harmless(box: Sandbox, tmp_path: Path, links: list) -> None:
    img = build_image([LayerSpec([file("etc/os-release", OS_RELEASE), *links])])
    assert names(assert_scanned(scan(box, img.write_docker_archive(tmp_path / "img.tar")))) == set()


# ---- diff_ids and the layer cache ---------------------------------------------------------------


def test_gzip_layer_under_its_compressed_digest_has_its_diff_id_checked(box: Sandbox, tmp_path: Path) -> None:
    real = ib.layer_tar(base_layer().entries)
    other = ib.layer_tar([file("etc/os-release", OS_RELEASE)])
    good = docker25_archive(tmp_path / "good.tar", [gzip.compress(real, mtime=0)], [sha256(real)])
    assert names(assert_scanned(scan(box, good))) == BASE_PACKAGES
    lying = docker25_archive(tmp_path / "lying.tar", [gzip.compress(real, mtime=0)], [sha256(other)])
    assert_clean_failure(scan(box, lying), "digest mismatch", "diff_id", sha256(other))


def test_gzip_layer_without_a_digest_name_has_its_diff_id_checked(box: Sandbox, tmp_path: Path) -> None:
    real = ib.layer_tar(base_layer().entries)
    members = {"l.tar.gz": gzip.compress(real, mtime=0), "config.json": config_for([sha256(b"other")]),
               "manifest.json": json.dumps([{"Config": "config.json", "Layers": ["l.tar.gz"]}]).encode()}
    path = tmp_path / "noname.tar"
    path.write_bytes(tar_of([member(n, d) for n, d in members.items()]))
    assert_clean_failure(scan(box, path), "digest mismatch", "diff_id")


@pytest.mark.parametrize("same_path", [False, True], ids=["other-file", "rewritten-in-place"])
@pytest.mark.parametrize("compressed", [False, True], ids=["plain", "gzip"])
def test_a_warm_cache_cannot_be_lied_to(box: Sandbox, tmp_path: Path, compressed: bool, same_path: bool) -> None:
    """The second archive's config claims the cached layer's diff_id (and its blob the cached
    name) but holds other bytes: no cached answer, a digest mismatch. Also when the first
    archive's file itself is rewritten (its stat identity changes, so it is hashed again)."""
    real = ib.layer_tar(base_layer().entries)
    fake = ib.layer_tar([file("etc/os-release", OS_RELEASE)])
    store = (lambda t: gzip.compress(t, mtime=0)) if compressed else (lambda t: t)
    layer_name = f"blobs/sha256/{sha256(store(real)).split(':')[1]}"
    cfg = config_for([sha256(real)])
    doc = [{"Config": "config.json", "RepoTags": ["x:1"], "Layers": [layer_name]}]
    first = docker_archive(tmp_path / "real.tar", [], config=cfg, manifest=doc, extra={layer_name: store(real)})
    assert names(assert_scanned(scan(box, first))) == BASE_PACKAGES
    assert list(box.cache.rglob("*.json"))  # the layer cache is warm
    lie = docker_archive(first if same_path else tmp_path / "lie.tar", [], config=cfg, manifest=doc,
                         extra={layer_name: store(fake)})
    assert_clean_failure(scan(box, lie), "digest mismatch")


def test_an_unchanged_archive_is_hashed_once_across_warm_rescans(box: Sandbox, tmp_path: Path) -> None:
    img = build_image([base_layer(), LayerSpec([file("etc/motd", "hi\n")], compression="none")])
    path = img.write_docker_archive(tmp_path / "img.tar")
    copy = tmp_path / "copy.tar"
    copy.write_bytes(path.read_bytes())
    hashing = "hashing the stored blob before trusting its cache entry"
    runs = [run_cli(box, "image", "--input", str(p), "--sbom-only", "-f", "json", "--no-progress", "--list-all-pkgs",
                    "--debug")
            for p in (path, path, copy)]
    assert [r.rc for r in runs] == [0, 0, 0]
    assert [r.stderr.count(hashing) for r in runs] == [0, 0, 2]  # walked, then trusted, then a new file: hashed
    assert packages(runs[0].report()) == packages(runs[1].report()) == packages(runs[2].report())
    assert set(packages(runs[2].report())) == BASE_PACKAGES


# ---- partial results ------------------------------------------------------------------------------


def two_layer_image() -> ib.BuiltImage:
    return build_image([base_layer(), LayerSpec([file("usr/lib/python3/dist-packages/x-1.0.dist-info/METADATA",
                                                      "Metadata-Version: 2.1\nName: x\nVersion: 1.0\n")])])


def test_a_truncated_layer_blob_gives_the_other_layers(box: Sandbox, tmp_path: Path) -> None:
    img = two_layer_image()
    layout = img.write_oci_dir(tmp_path / "oci")
    blob = layout / "blobs" / "sha256" / img.layers[1].digest.split(":")[1]
    blob.write_bytes(blob.read_bytes()[: len(img.layers[1].blob) // 2])
    report = assert_partial(scan(box, layout), "layer 1", "truncated")
    assert names(report) == BASE_PACKAGES
    unknowns = [u for r in report["Results"] for u in r.get("Unknowns", [])]
    assert any("truncated" in u["Reason"] and u["Layer"]["DiffID"] == img.layers[1].diff_id for u in unknowns)


def test_a_layer_with_truncated_content_gives_the_other_layers(box: Sandbox, tmp_path: Path) -> None:
    """docker save of a gzip layer whose stream is cut (the stored blob is what it is)."""
    base, extra = ib.layer_tar(base_layer().entries), ib.layer_tar([file("etc/hostname", "x" * 100_000)])
    cut = gzip.compress(extra, mtime=0)[:-200]
    path = docker_archive(tmp_path / "cut.tar", [base, cut], config=config_for([sha256(base), sha256(extra)]))
    assert names(assert_partial(scan(box, path), "layer 1", "corrupt layer data")) == BASE_PACKAGES


@pytest.mark.parametrize("kind, packer", [("xz", lzma.compress), ("bzip2", bz2.compress)])
@pytest.mark.parametrize("layout", ["docker-legacy", "docker-25"])
def test_xz_and_bzip2_layers_are_unsupported_compression(box: Sandbox, tmp_path: Path, kind: str, packer,
                                                         layout: str) -> None:
    base, extra = ib.layer_tar(base_layer().entries), ib.layer_tar([file("etc/hostname", "box\n")])
    blobs, diff_ids = [base, packer(extra)], [sha256(base), sha256(extra)]
    path = (docker_archive(tmp_path / "c.tar", blobs, config=config_for(diff_ids)) if layout == "docker-legacy"
            else docker25_archive(tmp_path / "c.tar", blobs, diff_ids))
    run = scan(box, path)
    assert "digest mismatch" not in run.stderr
    assert names(assert_partial(run, "layer 1", f"unsupported compression ({kind})")) == BASE_PACKAGES


def test_a_tampered_unreadable_layer_is_still_a_digest_mismatch(box: Sandbox, tmp_path: Path) -> None:
    """Left out only when its bytes are what the descriptor says: else the scan fails."""
    img = two_layer_image()
    layout = img.write_oci_dir(tmp_path / "oci")
    blob = layout / "blobs" / "sha256" / img.layers[1].digest.split(":")[1]
    data = bytearray(blob.read_bytes())
    data[len(data) // 2] ^= 0xFF  # same size, corrupt deflate stream
    blob.write_bytes(bytes(data))
    assert_clean_failure(scan(box, layout), "digest mismatch")
