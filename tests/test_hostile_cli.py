"""Hostile input, end to end: the real CLI on generated malicious or broken inputs.

Every case runs ``python -m layerscan.cli.main`` in a sandbox (fresh cwd, HOME
and TMPDIR under the test's tmp dir, ``--cache-dir`` inside it, a timeout) and
asserts the hostile-input standard (DESIGN.md §6): exit code 0 or 3 (2 for a
usage error), no traceback and no "unexpected" error, at most a few lines on
stderr naming the problem, peak RSS of the child bounded, nothing left in the
cwd, HOME or TMPDIR, and nothing written next to the sandbox (``..`` escapes).

Inputs come from the hostile corpus's generators (tests/hostile), built once per session.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
import zstandard

from hostile import jars, lockfiles, pkgdb, sboms
from hostile.archives import (
    LAYER_GZIP,
    LAYER_TAR,
    LYING_PAX,
    Bomb,
    config_for,
    docker_archive,
    gnu_long_names,
    gzip_bomb,
    hostile_entries,
    lying_pax_tar,
    many_entries_tar,
    member,
    oci_index_chain,
    oci_many_layers,
    oci_with_layer,
    put_blob,
    sha256,
    tar_of,
    zstd_giant_window,
)
from hostile.blobs import GiB, MiB, noise
from imagebuild import DPKG_STATUS_BASE, OS_RELEASE, Entry, LayerSpec, build_image, file, sample_image

TIMEOUT = 60.0
MAX_RSS_KB = 500 * 1024
MAX_STDERR_LINES = 4


# ---- running the CLI in a sandbox -------------------------------------------------------------

@dataclass(frozen=True)
class Run:
    rc: int
    stdout: str
    stderr: str
    max_rss_kb: int
    wall_s: float = 0.0
    timed_out: bool = False

    def report(self) -> dict:
        return json.loads(self.stdout)

    def unknown_reasons(self) -> list[str]:
        return [u.get("Reason", "") + " @ " + u.get("Path", "")
                for r in self.report().get("Results", []) for u in r.get("Unknowns", [])]


@dataclass(frozen=True)
class Sandbox:
    root: Path

    @property
    def cwd(self) -> Path:
        return self.root / "cwd"

    @property
    def home(self) -> Path:
        return self.root / "home"

    @property
    def tmp(self) -> Path:
        return self.root / "tmp"

    @property
    def cache(self) -> Path:
        return self.root / "cache"

    @classmethod
    def make(cls, root: Path) -> "Sandbox":
        box = cls(root)
        for d in (box.cwd, box.home, box.tmp):
            d.mkdir(parents=True)
        return box

    def env(self, extra: dict[str, str]) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("LAYERSCAN_")}
        env.update(HOME=str(self.home), TMPDIR=str(self.tmp), XDG_CACHE_HOME=str(self.home / ".cache"),
                   XDG_CONFIG_HOME=str(self.home / ".config"), LAYERSCAN_SKIP_DB_UPDATE="true",
                   PYTHONDONTWRITEBYTECODE="1", COLUMNS="120")
        env.update(extra)
        return env


TIME = Path("/usr/bin/time")


def _peak_rss_kb(rss_file: Path, usage_kb: int) -> int:
    """GNU time's %M for the scanner alone; else wait4's figure (which also counts what the
    forked pytest process held before exec)."""
    if TIME.exists():
        lines = [ln for ln in rss_file.read_text().splitlines() if ln.strip().isdigit()]
        return int(lines[-1]) if lines else usage_kb
    return usage_kb


def spawn(box: Sandbox, *args: str, env: dict[str, str] | None = None, stdin: bytes = b"",
          timeout: float = TIMEOUT) -> Run:
    """Run the CLI in ``box``, killed at ``timeout`` (then ``timed_out``); no assertions."""
    out_path, err_path, rss_path = box.root / "stdout", box.root / "stderr", box.root / "rss"
    wrapper = [str(TIME), "-f", "%M", "-o", str(rss_path)] if TIME.exists() else []
    cmd = [*wrapper, sys.executable, "-m", "layerscan.cli.main", *args, "--cache-dir", str(box.cache)]
    timed_out = False
    start = time.monotonic()
    with open(out_path, "wb") as out, open(err_path, "wb") as err:
        proc = subprocess.Popen(cmd, cwd=box.cwd, env=box.env(env or {}), stdout=out, stderr=err,
                                stdin=subprocess.PIPE if stdin else subprocess.DEVNULL, start_new_session=True)
        if stdin:
            assert proc.stdin is not None
            proc.stdin.write(stdin)
            proc.stdin.close()
        deadline = start + timeout
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                proc.returncode = os.waitstatus_to_exitcode(status)
                break
            if time.monotonic() > deadline:
                os.killpg(proc.pid, signal.SIGKILL)
                _, status, usage = os.wait4(proc.pid, 0)
                proc.returncode, timed_out = os.waitstatus_to_exitcode(status), True
                break
            time.sleep(0.02)
    return Run(proc.returncode, out_path.read_text("utf-8", "replace"), err_path.read_text("utf-8", "replace"),
               _peak_rss_kb(rss_path, usage.ru_maxrss), time.monotonic() - start, timed_out)


def run_cli(box: Sandbox, *args: str, env: dict[str, str] | None = None, stdin: bytes = b"",
            timeout: float = TIMEOUT, max_rss_kb: int = MAX_RSS_KB) -> Run:
    """Run the CLI in ``box`` (killed at ``timeout``) and check the sandbox stays clean."""
    before_cwd = sorted(p.name for p in box.cwd.iterdir())
    outside_before = sorted(p.name for p in box.root.parent.iterdir())
    run = spawn(box, *args, env=env, stdin=stdin, timeout=timeout)
    if run.timed_out:
        pytest.fail(f"layerscan did not finish within {timeout} s")
    assert_sandbox_clean(box, before_cwd, outside_before)
    assert run.max_rss_kb < max_rss_kb, f"peak RSS {run.max_rss_kb} KiB"
    return run


def assert_sandbox_clean(box: Sandbox, cwd_before: list[str], outside_before: list[str]) -> None:
    assert sorted(p.name for p in box.cwd.iterdir()) == cwd_before, "files written to the cwd"
    assert list(box.home.iterdir()) == [], "files written to HOME"
    assert list(box.tmp.iterdir()) == [], "temp files left behind"
    assert sorted(p.name for p in box.root.parent.iterdir()) == outside_before, "write outside the sandbox"


def assert_clean_failure(run: Run, *mentions: str, codes: tuple[int, ...] = (3,)) -> None:
    """A clear, short error: expected exit code, no traceback, names the problem."""
    assert run.rc in codes, (run.rc, run.stderr)
    assert "Traceback" not in run.stderr, run.stderr
    assert "unexpected" not in run.stderr, run.stderr
    lines = [ln for ln in run.stderr.splitlines() if ln.strip()]
    assert 1 <= len(lines) <= MAX_STDERR_LINES, run.stderr
    assert "layerscan: error:" in run.stderr, run.stderr
    for word in mentions:
        assert word.lower() in run.stderr.lower(), (word, run.stderr)


def assert_partial(run: Run, *mentions: str) -> dict:
    """Scan finished without an unreadable layer: exit 4, a warning naming it, the report of the rest."""
    assert run.rc == 4, (run.rc, run.stderr)
    assert "Traceback" not in run.stderr and "layerscan: error" not in run.stderr, run.stderr
    assert len(run.stderr.splitlines()) <= MAX_STDERR_LINES, run.stderr
    assert "layerscan: warning: layer " in run.stderr and "left out" in run.stderr, run.stderr
    for word in mentions:
        assert word.lower() in run.stderr.lower(), (word, run.stderr)
    return run.report()


def assert_scanned(run: Run) -> dict:
    """Scan completed (exit 0): report parses, stderr holds warnings only."""
    assert run.rc == 0, run.stderr
    assert "Traceback" not in run.stderr and "error" not in run.stderr, run.stderr
    assert len(run.stderr.splitlines()) <= MAX_STDERR_LINES, run.stderr
    return run.report()


@pytest.fixture()
def box(tmp_path: Path) -> Sandbox:
    return Sandbox.make(tmp_path / "box")


def scan_image(box: Sandbox, path: Path, *extra: str, env: dict[str, str] | None = None) -> Run:
    return run_cli(box, "image", "--input", str(path), "--sbom-only", "-f", "json", "--no-progress",
                   *extra, env=env)


# ---- building hostile archives ---------------------------------------------------------------

def image_with(path: Path, entries: list, compression: str = "gzip") -> Path:
    """A docker archive: a small Debian base layer plus one layer holding ``entries``."""
    img = build_image([LayerSpec([file("etc/os-release", OS_RELEASE),
                                  file("var/lib/dpkg/status", DPKG_STATUS_BASE)]),
                       LayerSpec(entries, compression=compression)])
    return img.write_docker_archive(path)


def raw_layer_image(path: Path, tar: bytes) -> Path:
    """A docker archive whose only layer is the raw ``tar`` bytes given."""
    return docker_archive(path, [tar])


@pytest.fixture(scope="session")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("hostile-inputs")


# ---- docker archives --------------------------------------------------------------------------

def test_manifest_missing(box: Sandbox, inputs: Path) -> None:
    path = inputs / "no-manifest.tar"
    path.write_bytes(tar_of([member("config.json", b"{}")]))
    assert_clean_failure(scan_image(box, path), "not a docker archive")


@pytest.mark.parametrize("doc, words", [
    (b"{not json", ("manifest.json", "JSON")),
    (b"\xff\xfe\x00garbage", ("manifest.json",)),
    (b"{}", ("manifest.json",)),
    (b"[]", ("manifest.json",)),
    (b'[{"Config": 5, "Layers": []}]', ("Config",)),
    (b'[{"Config": "config.json", "Layers": "abc"}]', ("Layers",)),
    (b'[{"Config": "config.json", "Layers": [1, 2]}]', ("Layers",)),
    (b'[{"Config": "config.json", "Layers": [], "RepoTags": {"a": 1}}]', ("RepoTags",)),
    (b'[{"Config": "../../etc/passwd", "Layers": []}]', ("missing",)),
    (b'[{"Config": "/etc/passwd", "Layers": []}]', ("missing",)),
    (b"[" * 200_000 + b"]" * 200_000, ("manifest.json",)),
], ids=lambda v: hashlib.sha256(v).hexdigest()[:8] if isinstance(v, bytes) else "")
def test_manifest_invalid(box: Sandbox, inputs: Path, doc: bytes, words: tuple[str, ...]) -> None:
    name = hashlib.sha256(doc).hexdigest()[:12]
    path = docker_archive(inputs / f"manifest-{name}.tar", [], manifest=doc)
    assert_clean_failure(scan_image(box, path), *words)


@pytest.mark.parametrize("layer", ["../../../../etc/passwd", "/etc/passwd", "a/../../x/layer.tar"])
def test_manifest_layer_outside_archive(box: Sandbox, inputs: Path, layer: str) -> None:
    doc = [{"Config": "config.json", "Layers": [layer]}]
    path = docker_archive(inputs / f"layer-outside-{hashlib.sha256(layer.encode()).hexdigest()[:8]}.tar", [],
                          manifest=doc, config=config_for([sha256(b"x")]))
    assert_clean_failure(scan_image(box, path), "missing layer")


def test_manifest_huge(box: Sandbox, inputs: Path) -> None:
    doc = json.dumps([{"Config": "config.json", "Layers": [], "RepoTags": ["x" * 100] * 60_000}]).encode()
    path = docker_archive(inputs / "manifest-huge.tar", [], manifest=doc)
    assert_clean_failure(scan_image(box, path), "too large")


@pytest.mark.parametrize("cfg, words", [
    (b"not json at all", ("config",)),
    (b"[1, 2, 3]", ("config",)),
    (b'{"rootfs": {"diff_ids": "nope"}}', ("diff_ids",)),
    (b'{"rootfs": {"diff_ids": ["sha256:../../etc"]}}', ("digest",)),
    (b'{"rootfs": 5, "history": "x"}', ("diff_ids",)),
])
def test_config_invalid(box: Sandbox, inputs: Path, cfg: bytes, words: tuple[str, ...]) -> None:
    tar = tar_of([member("etc/hostname", b"evil\n")])
    path = docker_archive(inputs / f"config-{hashlib.sha256(cfg).hexdigest()[:12]}.tar", [tar], config=cfg)
    assert_clean_failure(scan_image(box, path), *words)


def test_config_history_wrong_types(box: Sandbox, inputs: Path) -> None:
    tar = tar_of([member("etc/hostname", b"evil\n")])
    cfg = json.dumps({"rootfs": {"diff_ids": [sha256(tar)]}, "history": [5, "x", {"created_by": 7}],
                      "config": {"Labels": [1, 2]}, "os": 3, "architecture": None}).encode()
    path = docker_archive(inputs / "config-types.tar", [tar], config=cfg)
    assert_scanned(scan_image(box, path))


def test_diff_ids_count_mismatch(box: Sandbox, inputs: Path) -> None:
    tar = tar_of([member("etc/hostname", b"evil\n")])
    path = docker_archive(inputs / "diffid-count.tar", [tar], config=config_for([sha256(tar)] * 2))
    assert_clean_failure(scan_image(box, path), "diff_ids")


def test_layer_digest_mismatch(box: Sandbox, inputs: Path) -> None:
    tar = tar_of([member("etc/hostname", b"evil\n")])
    path = docker_archive(inputs / "diffid-wrong.tar", [tar], config=config_for([sha256(b"other")]))
    assert_clean_failure(scan_image(box, path), "digest")


def test_layer_not_a_tar(box: Sandbox, inputs: Path) -> None:
    junk = noise(4096, 1)
    path = docker_archive(inputs / "layer-junk.tar", [junk])
    assert_partial(scan_image(box, path), "layer 0", "corrupt tar archive")


def test_truncated_gzip_layer(box: Sandbox, inputs: Path) -> None:
    tar = tar_of([member("etc/hostname", b"x" * 100_000), member("etc/other", noise(50_000, 2))])
    blob = gzip.compress(tar, mtime=0)[:-2000]
    members = {"l.tar.gz": blob, "config.json": config_for([sha256(tar)]),
               "manifest.json": json.dumps([{"Config": "config.json", "Layers": ["l.tar.gz"]}]).encode()}
    path = inputs / "layer-truncated-gzip.tar"
    path.write_bytes(tar_of([member(n, d) for n, d in members.items()]))
    assert_partial(scan_image(box, path), "layer 0", "corrupt layer data")


def test_zstd_giant_window(box: Sandbox, inputs: Path) -> None:
    tar = tar_of([member("etc/hostname", b"evil\n")])
    blob = zstd_giant_window(tar)
    assert zstandard.get_frame_parameters(blob).window_size == 2 * GiB
    path = docker_archive(inputs / "layer-zstd-window.tar", [blob])
    assert_partial(scan_image(box, path), "layer 0", "memory")  # refused by the window bound, never allocated


@pytest.fixture(scope="session")
def bomb() -> Bomb:
    """One tar member of 1 GiB of zeros, gzip-compressed to ~1 MiB."""
    blob = gzip_bomb()
    assert len(blob.blob) < 2 * MiB
    return blob


@pytest.fixture(scope="session")
def bomb_layout(bomb: Bomb, inputs: Path) -> Path:
    return oci_with_layer(inputs / "bomb-oci", bomb.blob, bomb.diff_id, LAYER_GZIP)


def test_gzip_bomb_layer_hits_the_layer_limit(box: Sandbox, bomb_layout: Path) -> None:
    run = scan_image(box, bomb_layout, env={"LAYERSCAN_MAX_LAYER_BYTES": str(256 * MiB)})
    assert_clean_failure(run, "larger than 268435456 bytes")


def test_gzip_bomb_layer_under_default_limits_is_walked_in_bounded_memory(box: Sandbox, bomb_layout: Path) -> None:
    assert_scanned(scan_image(box, bomb_layout))


def test_gzip_bomb_layer_stored_without_digest_name(box: Sandbox, bomb: Bomb, inputs: Path) -> None:
    """docker save with a compressed layer named without its digest: hashed up front, bounded too."""
    members = {"bomb.tar.gz": bomb.blob, "config.json": config_for([bomb.diff_id]),
               "manifest.json": json.dumps([{"Config": "config.json", "Layers": ["bomb.tar.gz"]}]).encode()}
    path = inputs / "layer-gzip-bomb.tar"
    path.write_bytes(tar_of([member(n, d) for n, d in members.items()]))
    run = scan_image(box, path, env={"LAYERSCAN_MAX_LAYER_BYTES": str(256 * MiB)})
    assert_clean_failure(run, "larger than 268435456 bytes")


def test_gzip_compressed_archive_bomb_hits_the_spool_limit(box: Sandbox, bomb: Bomb, inputs: Path) -> None:
    path = inputs / "archive-bomb.tar.gz"
    path.write_bytes(bomb.blob)  # a gzip stream of a tar: a 1 GiB "docker save | gzip"
    run = scan_image(box, path, env={"LAYERSCAN_MAX_SPOOL_BYTES": str(128 * MiB)})
    assert_clean_failure(run, "more than 134217728 bytes")


# ---- tar entries inside a layer ---------------------------------------------------------------

def test_tar_entry_paths_and_links(box: Sandbox, inputs: Path) -> None:
    path = raw_layer_image(inputs / "entries.tar", tar_of(hostile_entries(OS_RELEASE.encode(), DPKG_STATUS_BASE.encode())))
    doc = assert_scanned(scan_image(box, path, "--list-all-pkgs"))
    names = {p["Name"] for r in doc["Results"] for p in r.get("Packages", [])}
    assert {"libc6", "zlib1g", "base-files"} <= names


def test_tar_entries_gnu_long_names(box: Sandbox, inputs: Path) -> None:
    assert_scanned(scan_image(box, raw_layer_image(inputs / "gnu-long.tar", gnu_long_names())))


@pytest.mark.parametrize("name", sorted(LYING_PAX))
def test_pax_headers_lying(box: Sandbox, inputs: Path, name: str) -> None:
    records, declared, words = LYING_PAX[name]
    tar = lying_pax_tar(records, declared)
    path = raw_layer_image(inputs / f"pax-{hashlib.sha256(tar).hexdigest()[:8]}.tar", tar)
    assert_partial(scan_image(box, path), *words)  # a corrupt layer is left out, with a warning


ENTRIES = 200_000


@pytest.fixture(scope="session")
def many_entries(inputs: Path) -> Path:
    """A layer of 200,000 empty members (100 MB of headers)."""
    tar = many_entries_tar(ENTRIES)
    return oci_with_layer(inputs / "many-oci", tar, sha256(tar), LAYER_TAR)


def test_many_tiny_entries(box: Sandbox, many_entries: Path) -> None:
    assert_scanned(scan_image(box, many_entries))


def test_tar_entries_limit(box: Sandbox, many_entries: Path) -> None:
    run = scan_image(box, many_entries, env={"LAYERSCAN_MAX_LAYER_ENTRIES": "50000"})
    assert_clean_failure(run, "more than 50000 entries")


# ---- OCI layouts -------------------------------------------------------------------------------

def oci_dir(root: Path) -> Path:
    sample_image().write_oci_dir(root, tag="1.0")
    return root


def _rewrite_index(root: Path, doc: dict) -> None:
    (root / "index.json").write_text(json.dumps(doc))


def test_oci_index_points_to_itself(box: Sandbox, tmp_path: Path) -> None:
    # an index blob listing its own digest is impossible; a chain of 8 index blobs is not
    root = oci_index_chain(oci_dir(tmp_path / "self"), 8)
    assert_clean_failure(scan_image(box, root), "nested deeper")


def test_oci_index_json_recursion(box: Sandbox, tmp_path: Path) -> None:
    root = oci_dir(tmp_path / "deep")
    (root / "index.json").write_text('{"manifests": ' + "[" * 100_000 + "]" * 100_000 + "}")
    assert_clean_failure(scan_image(box, root), "index.json")


def test_oci_blob_digest_mismatch(box: Sandbox, tmp_path: Path) -> None:
    root = oci_dir(tmp_path / "mismatch")
    layer = sample_image().layers[2]  # stored uncompressed: a flipped content byte still walks
    assert layer.blob == layer.tar
    blob = bytearray(layer.blob)
    at = blob.index(b"new docs")
    blob[at] ^= 0x20
    (root / "blobs" / "sha256" / layer.digest.split(":")[1]).write_bytes(bytes(blob))
    assert_clean_failure(scan_image(box, root), "digest mismatch")


def test_oci_blob_longer_than_declared(box: Sandbox, tmp_path: Path) -> None:
    root = oci_dir(tmp_path / "longer")
    layer = sample_image().layers[2]
    (root / "blobs" / "sha256" / layer.digest.split(":")[1]).write_bytes(layer.blob + bytes(4096))
    assert_clean_failure(scan_image(box, root), "declares")


def test_oci_manifest_digest_mismatch(box: Sandbox, tmp_path: Path) -> None:
    root = oci_dir(tmp_path / "manifest-mismatch")
    img = sample_image()
    (root / "blobs" / "sha256" / img.manifest_digest.split(":")[1]).write_bytes(b"{}")
    assert_clean_failure(scan_image(box, root), "digest")


@pytest.mark.parametrize("where", ["manifest", "layer", "config"])
def test_oci_unknown_media_types(box: Sandbox, tmp_path: Path, where: str) -> None:
    root = oci_dir(tmp_path / f"mt-{where}")
    img = sample_image()
    manifest = json.loads(img.manifest)
    if where == "layer":
        manifest["layers"][0]["mediaType"] = "application/x-evil"
    elif where == "config":
        manifest["config"]["mediaType"] = "application/vnd.evil.artifact+json"
    else:
        manifest["mediaType"] = "application/x-evil"
    digest = put_blob(root, json.dumps(manifest).encode())
    _rewrite_index(root, {"schemaVersion": 2, "manifests": [
        {"mediaType": "application/vnd.oci.image.manifest.v1+json" if where != "manifest" else "",
         "digest": digest, "size": 10}]})
    assert_clean_failure(scan_image(box, root), "unsupported")


def test_oci_manifest_with_10000_layers(box: Sandbox, tmp_path: Path) -> None:
    root = oci_many_layers(oci_dir(tmp_path / "many"), 10_000)
    assert_scanned(scan_image(box, root))


def test_oci_blob_symlink_out_of_layout(box: Sandbox, tmp_path: Path) -> None:
    root = oci_dir(tmp_path / "symlinked")
    img = sample_image()
    blob = root / "blobs" / "sha256" / img.config_digest.split(":")[1]
    secret = tmp_path / "secret.json"
    secret.write_bytes(img.config)
    blob.unlink()
    blob.symlink_to(secret)
    assert_clean_failure(scan_image(box, root), "missing")


# ---- layer content: package databases and metadata -------------------------------------------

CONTENT_CASES = {
    "apk-garbage": [file("lib/apk/db/installed", pkgdb.apk_noise())],
    **{f"rpm-{path.rsplit('/', 1)[1]}-random": [file(path, data)] for path, data in pkgdb.rpm_noise().items()},
    "jar-bomb": [file("app/bomb.jar", jars.zip_bomb_jar())],
    "jar-nested-50": [file("app/deep.jar", jars.nested_jars(50))],
    "jar-junk": [file("app/junk.jar", jars.junk_jar())],
    "package-json-binary": [file("usr/lib/node_modules/x/package.json", noise(8192, 3))],
    "package-json-deep": [file("usr/lib/node_modules/y/package.json",
                               b'{"name": "y", "version": "1.0.0", "a": ' + b"[" * 100_000 + b"]" * 100_000 + b"}")],
    "metadata-binary": [file("usr/lib/python3/dist-packages/x-1.0.dist-info/METADATA", noise(8192, 4))],
    "go-fake-elf": [Entry("usr/local/bin/kubectl", jars.fake_go_elf(), "file", 0o755)],
    "os-release-binary": [file("etc/os-release", noise(4096, 5))],
    "gemspec-junk": [file("usr/lib/ruby/gems/3.1.0/specifications/x-1.0.gemspec", noise(4096, 6))],
    "composer-deep": [file("app/vendor/composer/installed.json", b"[" * 50_000)],
    "conda-junk": [file("opt/conda/conda-meta/x-1.0-0.json", b"{" + noise(1000, 7))],
}


@pytest.fixture(scope="session")
def content_image(inputs: Path) -> Path:
    """One image, one layer per hostile file (attribution keeps them apart)."""
    layers = [LayerSpec([file("etc/os-release", OS_RELEASE), file("var/lib/dpkg/status", DPKG_STATUS_BASE)])]
    layers += [LayerSpec(entries, created_by=name) for name, entries in CONTENT_CASES.items()]
    return build_image(layers).write_oci_dir(inputs / "content-oci")


def test_hostile_layer_content_becomes_unknowns(box: Sandbox, content_image: Path) -> None:
    run = scan_image(box, content_image, "--list-all-pkgs")
    doc = assert_scanned(run)
    names = {p["Name"] for r in doc["Results"] for p in r.get("Packages", [])}
    assert {"libc6", "zlib1g", "base-files"} <= names  # the good base is still inventoried
    reasons = "\n".join(run.unknown_reasons())
    for needle in ("var/lib/rpm/Packages", "app/bomb.jar", "app/junk.jar", "node_modules/y/package.json",
                   "nesting deeper"):
        assert needle in reasons, (needle, reasons)


def _dpkg_image(root: Path, status: bytes) -> Path:
    if not root.exists():
        build_image([LayerSpec([file("etc/os-release", OS_RELEASE), file("var/lib/dpkg/status", status)])]
                    ).write_oci_dir(root)
    return root


def test_dpkg_status_with_many_stanzas(box: Sandbox, inputs: Path) -> None:
    """30,000 installed packages (10x a big real image): linear, well inside the timeout.
    (1,000,000 also completes, in about 80 s: package-URL normalisation dominates.)"""
    run = scan_image(box, _dpkg_image(inputs / "dpkg-many", pkgdb.dpkg_many(30_000)), "--list-all-pkgs")
    doc = assert_scanned(run)
    assert sum(len(r.get("Packages", [])) for r in doc["Results"]) == 30_000


def test_dpkg_status_with_one_50mb_line(box: Sandbox, inputs: Path) -> None:
    run = scan_image(box, _dpkg_image(inputs / "dpkg-line", pkgdb.dpkg_long_line(50 * MiB)), "--list-all-pkgs")
    doc = assert_scanned(run)
    assert {"libc6", "x"} <= {p["Name"] for r in doc["Results"] for p in r.get("Packages", [])}


def test_dpkg_field_with_millions_of_continuation_lines(box: Sandbox, inputs: Path) -> None:
    """Was quadratic (each continuation line re-copied the whole value): hours for 12 MB."""
    run = scan_image(box, _dpkg_image(inputs / "dpkg-continuation", pkgdb.dpkg_continuation(4_000_000)))
    assert_scanned(run)


def test_python_metadata_with_long_continuation_block(box: Sandbox, inputs: Path) -> None:
    text = pkgdb.metadata_long_continuation(20_000)
    root = inputs / "python-continuation"
    build_image([LayerSpec([file("usr/lib/python3/dist-packages/evil-1.0.dist-info/METADATA", text)])]
                ).write_oci_dir(root)
    doc = assert_scanned(scan_image(box, root, "--list-all-pkgs"))
    assert "evil" in {p["Name"] for r in doc["Results"] for p in r.get("Packages", [])}


# ---- fs mode: lockfiles -----------------------------------------------------------------------

def test_fs_hostile_lockfiles(box: Sandbox, tmp_path: Path) -> None:
    project = tmp_path / "project"
    project.mkdir()
    for name, data in lockfiles.LOCKFILES.items():
        (project / name).write_bytes(data)
    (project / "loop").symlink_to(project)  # a directory symlink loop
    (project / "outside").symlink_to("/etc")
    run = run_cli(box, "fs", str(project), "--sbom-only", "-f", "json", "--no-progress")
    assert_scanned(run)
    reasons = "\n".join(run.unknown_reasons())
    for name in lockfiles.LOCKFILE_UNKNOWNS:
        assert name in reasons, (name, reasons)


# ---- SBOM input ---------------------------------------------------------------------------------

@pytest.mark.parametrize("name", sorted(sboms.SBOMS))
def test_sbom_input_hostile(box: Sandbox, tmp_path: Path, name: str) -> None:
    data, words = sboms.SBOMS[name]
    path = tmp_path / name
    path.write_bytes(data)
    run = run_cli(box, "sbom", str(path), "-f", "json", "--no-progress")
    if run.rc == 0:
        assert_scanned(run)
    else:
        assert_clean_failure(run, *words)


def test_sbom_input_100mb(box: Sandbox, tmp_path: Path) -> None:
    path = sboms.big_components(tmp_path / "big.json", 100 * MiB)
    # refused by size before parsing (json.loads would hold ~10x the file)
    run = run_cli(box, "sbom", str(path), "-f", "json", "--no-progress", max_rss_kb=300 * 1024)
    assert_clean_failure(run, "larger than 64 MiB")


def test_sbom_input_is_a_directory_or_fifo(box: Sandbox, tmp_path: Path) -> None:
    assert_clean_failure(run_cli(box, "sbom", str(tmp_path), "--no-progress"), "directory", codes=(2, 3))
    fifo = tmp_path / "fifo.json"
    os.mkfifo(fifo)
    assert_clean_failure(run_cli(box, "sbom", str(fifo), "--no-progress", timeout=20), "SBOM")


def test_sbom_from_stdin_pipe_still_works(box: Sandbox) -> None:
    doc = {"bomFormat": "CycloneDX", "specVersion": "1.5",
           "components": [{"type": "library", "name": "lodash", "version": "4.17.20",
                           "purl": "pkg:npm/lodash@4.17.20"}]}
    run = run_cli(box, "sbom", "/dev/stdin", "-f", "json", "--list-all-pkgs", "--no-progress", "--scanners", "none",
                  stdin=json.dumps(doc).encode())
    report = assert_scanned(run)
    assert "lodash" in {p["Name"] for r in report["Results"] for p in r.get("Packages", [])}


# ---- ignore file / VEX / config file --------------------------------------------------------------

@pytest.mark.parametrize("case", sorted(lockfiles.POLICY_FILES))
def test_policy_and_config_files_hostile(box: Sandbox, tmp_path: Path, inputs: Path, case: str) -> None:
    flag, name, data, code, words = lockfiles.POLICY_FILES[case]
    path = tmp_path / name
    path.write_bytes(data)
    archive = inputs / "sample.tar"
    if not archive.exists():
        sample_image().write_docker_archive(archive)
    run = run_cli(box, "image", "--input", str(archive), flag, str(path), "--no-progress", "--scanners", "none")
    if run.rc == 0:  # a lenient reader may skip bad entries, with a warning at most
        assert "Traceback" not in run.stderr and len(run.stderr.splitlines()) <= MAX_STDERR_LINES, run.stderr
    else:
        assert_clean_failure(run, *words, codes=(code,))


@pytest.mark.parametrize("fmt", ["table", "json", "sarif", "cyclonedx", "spdx-json", "spdx", "html", "junit",
                                 "gitlab", "github"])
def test_lone_surrogates_in_a_lockfile_never_crash_a_writer(tmp_path: Path, fmt: str):
    """JSON may escape half a UTF-16 pair ("\\ud800"); Python then holds a string UTF-8 cannot
    encode. Every writer, to a file and to stdout, must still produce a valid UTF-8 report."""
    from test_cli_main import run_cli as cli

    project = tmp_path / "p"
    project.mkdir()
    (project / "package-lock.json").write_text(lockfiles.LONE_SURROGATES)
    out = tmp_path / f"out.{fmt}"
    to_file = cli("fs", str(project), "--scanners", "none", "-f", fmt, "-o", str(out), cwd=tmp_path)
    assert to_file.returncode == 0, to_file.stderr
    out.read_bytes().decode("utf-8")  # strict: valid UTF-8
    to_stdout = cli("fs", str(project), "--scanners", "none", "-f", fmt, cwd=tmp_path)
    assert to_stdout.returncode == 0 and "Traceback" not in to_stdout.stderr, to_stdout.stderr
    assert to_stdout.stdout.strip()
