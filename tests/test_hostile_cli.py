"""Hostile input, end to end: the real CLI on generated malicious or broken inputs.

Every case runs ``python -m layerscan.cli.main`` in a sandbox (fresh cwd, HOME
and TMPDIR under the test's tmp dir, ``--cache-dir`` inside it, a timeout) and
asserts the hostile-input standard (DESIGN.md §6): exit code 0 or 3 (2 for a
usage error), no traceback and no "unexpected" error, at most a few lines on
stderr naming the problem, peak RSS of the child bounded, nothing left in the
cwd, HOME or TMPDIR, and nothing written next to the sandbox (``..`` escapes).

Inputs are generated in the test (tarfile/zipfile/json), once per session.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import signal
import subprocess
import sys
import tarfile
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pytest
import zstandard

from imagebuild import DPKG_STATUS_BASE, OS_RELEASE, Entry, LayerSpec, build_image, file, sample_image

TIMEOUT = 60.0
MAX_RSS_KB = 500 * 1024
MAX_STDERR_LINES = 4
GiB = 1 << 30
MiB = 1 << 20


# ---- running the CLI in a sandbox -------------------------------------------------------------

@dataclass(frozen=True)
class Run:
    rc: int
    stdout: str
    stderr: str
    max_rss_kb: int

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


def run_cli(box: Sandbox, *args: str, env: dict[str, str] | None = None, stdin: bytes = b"",
            timeout: float = TIMEOUT, max_rss_kb: int = MAX_RSS_KB) -> Run:
    """Run the CLI in ``box`` (killed at ``timeout``) and check the sandbox stays clean."""
    before_cwd = sorted(p.name for p in box.cwd.iterdir())
    outside_before = sorted(p.name for p in box.root.parent.iterdir())
    out_path, err_path, rss_path = box.root / "stdout", box.root / "stderr", box.root / "rss"
    wrapper = [str(TIME), "-f", "%M", "-o", str(rss_path)] if TIME.exists() else []
    cmd = [*wrapper, sys.executable, "-m", "layerscan.cli.main", *args, "--cache-dir", str(box.cache)]
    with open(out_path, "wb") as out, open(err_path, "wb") as err:
        proc = subprocess.Popen(cmd, cwd=box.cwd, env=box.env(env or {}), stdout=out, stderr=err,
                                stdin=subprocess.PIPE if stdin else subprocess.DEVNULL, start_new_session=True)
        if stdin:
            assert proc.stdin is not None
            proc.stdin.write(stdin)
            proc.stdin.close()
        deadline = time.monotonic() + timeout
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                proc.returncode = os.waitstatus_to_exitcode(status)
                break
            if time.monotonic() > deadline:
                os.killpg(proc.pid, signal.SIGKILL)
                os.wait4(proc.pid, 0)
                pytest.fail(f"layerscan did not finish within {timeout} s")
            time.sleep(0.02)
    run = Run(proc.returncode, out_path.read_text("utf-8", "replace"), err_path.read_text("utf-8", "replace"),
              _peak_rss_kb(rss_path, usage.ru_maxrss))
    assert sorted(p.name for p in box.cwd.iterdir()) == before_cwd, "files written to the cwd"
    assert list(box.home.iterdir()) == [], "files written to HOME"
    assert list(box.tmp.iterdir()) == [], "temp files left behind"
    assert sorted(p.name for p in box.root.parent.iterdir()) == outside_before, "write outside the sandbox"
    assert run.max_rss_kb < max_rss_kb, f"peak RSS {run.max_rss_kb} KiB"
    return run


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

def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def tar_of(members: list[tuple[tarfile.TarInfo, bytes]], fmt: int = tarfile.PAX_FORMAT) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=fmt, encoding="utf-8", errors="surrogateescape") as tf:
        for info, data in members:
            tf.addfile(info, io.BytesIO(data) if info.isfile() else None)
    return buf.getvalue()


def member(name: str, data: bytes = b"", kind: bytes = tarfile.REGTYPE, link: str = "") -> tuple[tarfile.TarInfo, bytes]:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.mtime = 1_700_000_000
    info.mode = 0o755 if kind == tarfile.DIRTYPE else 0o644
    info.linkname = link
    info.size = len(data) if kind == tarfile.REGTYPE else 0
    return info, data


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
    junk = os.urandom(4096)
    path = docker_archive(inputs / "layer-junk.tar", [junk])
    assert_partial(scan_image(box, path), "layer 0", "corrupt tar archive")


def test_truncated_gzip_layer(box: Sandbox, inputs: Path) -> None:
    tar = tar_of([member("etc/hostname", b"x" * 100_000), member("etc/other", os.urandom(50_000))])
    blob = gzip.compress(tar)[:-2000]
    members = {"l.tar.gz": blob, "config.json": config_for([sha256(tar)]),
               "manifest.json": json.dumps([{"Config": "config.json", "Layers": ["l.tar.gz"]}]).encode()}
    path = inputs / "layer-truncated-gzip.tar"
    path.write_bytes(tar_of([member(n, d) for n, d in members.items()]))
    assert_partial(scan_image(box, path), "layer 0", "corrupt layer data")


def test_zstd_giant_window(box: Sandbox, inputs: Path) -> None:
    tar = tar_of([member("etc/hostname", b"evil\n")])
    params = zstandard.ZstdCompressionParameters.from_level(3, window_log=31, write_content_size=False)
    stream = zstandard.ZstdCompressor(compression_params=params).compressobj()
    blob = stream.compress(tar) + stream.flush()
    assert zstandard.get_frame_parameters(blob).window_size == 2 * GiB
    path = docker_archive(inputs / "layer-zstd-window.tar", [blob])
    assert_partial(scan_image(box, path), "layer 0", "memory")  # refused by the window bound, never allocated


@dataclass(frozen=True)
class Bomb:
    blob: bytes  # gzip, ~1 MiB
    diff_id: str  # of the 1 GiB tar inside


@pytest.fixture(scope="session")
def bomb() -> Bomb:
    """One tar member of 1 GiB of zeros, gzip-compressed to ~1 MiB (concatenated gzip members
    keep generation fast)."""
    info, _ = member("bomb.bin")
    info.size = GiB
    header = info.tobuf(tarfile.PAX_FORMAT)
    chunk = bytes(16 * MiB)
    tail = bytes(1024)
    digest = hashlib.sha256(header)
    for _ in range(GiB // len(chunk)):
        digest.update(chunk)
    digest.update(tail)
    z = gzip.compress(chunk, compresslevel=9, mtime=0)
    blob = gzip.compress(header, mtime=0) + z * (GiB // len(chunk)) + gzip.compress(tail, mtime=0)
    assert len(blob) < 2 * MiB
    return Bomb(blob, "sha256:" + digest.hexdigest())


def oci_with_layer(root: Path, blob: bytes, diff_id: str, media_type: str) -> Path:
    """An OCI layout of one image with the single layer ``blob``."""
    config = config_for([diff_id])
    manifest = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                           "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                                      "digest": sha256(config), "size": len(config)},
                           "layers": [{"mediaType": media_type, "digest": sha256(blob), "size": len(blob)}]})
    (root / "blobs" / "sha256").mkdir(parents=True)
    for data in (config, blob, manifest.encode()):
        (root / "blobs" / "sha256" / sha256(data).split(":")[1]).write_bytes(data)
    (root / "oci-layout").write_text('{"imageLayoutVersion": "1.0.0"}')
    (root / "index.json").write_text(json.dumps({"schemaVersion": 2, "manifests": [
        {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": sha256(manifest.encode()),
         "size": len(manifest)}]}))
    return root


@pytest.fixture(scope="session")
def bomb_layout(bomb: Bomb, inputs: Path) -> Path:
    return oci_with_layer(inputs / "bomb-oci", bomb.blob, bomb.diff_id, "application/vnd.oci.image.layer.v1.tar+gzip")


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

def _hostile_entries() -> list[tuple[tarfile.TarInfo, bytes]]:
    status = DPKG_STATUS_BASE.encode()
    entries = [
        member("/etc/os-release", OS_RELEASE.encode()),
        member("../../../../escape-abs", b"x"),
        member("var/../../../escape-dotdot", b"x"),
        member("var/lib/dpkg/status", status),
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
    return entries


def test_tar_entry_paths_and_links(box: Sandbox, inputs: Path) -> None:
    path = raw_layer_image(inputs / "entries.tar", tar_of(_hostile_entries()))
    doc = assert_scanned(scan_image(box, path, "--list-all-pkgs"))
    names = {p["Name"] for r in doc["Results"] for p in r.get("Packages", [])}
    assert {"libc6", "zlib1g", "base-files"} <= names


def test_tar_entries_gnu_long_names(box: Sandbox, inputs: Path) -> None:
    tar = tar_of([member("b" * 20_000 + "/x", b"1"), member("c", kind=tarfile.SYMTYPE, link="d" * 20_000)],
                 fmt=tarfile.GNU_FORMAT)
    assert_scanned(scan_image(box, raw_layer_image(inputs / "gnu-long.tar", tar)))


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


@pytest.mark.parametrize("records, declared, words", [
    ({"size": str(1 << 60)}, None, ("layer",)),
    ({"size": "-5"}, None, ("PAX",)),
    ({"size": "abc"}, None, ("PAX",)),
    ({"path": "x"}, 1 << 32, ("extended header",)),
    ({"path": "x"}, 5, ("PAX",)),
], ids=["huge-size", "negative-size", "junk-size", "huge-header", "short-header"])
def test_pax_headers_lying(box: Sandbox, inputs: Path, records: dict, declared: int | None,
                           words: tuple[str, ...]) -> None:
    info, data = member("file", b"hello")
    tar = pax_header(records, declared) + info.tobuf(tarfile.USTAR_FORMAT) + data + bytes(507) + bytes(1024)
    path = raw_layer_image(inputs / f"pax-{hashlib.sha256(tar).hexdigest()[:8]}.tar", tar)
    assert_partial(scan_image(box, path), *words)  # a corrupt layer is left out, with a warning


ENTRIES = 200_000


@pytest.fixture(scope="session")
def many_entries(inputs: Path) -> Path:
    """A layer of 200,000 empty members (100 MB of headers)."""
    info = tarfile.TarInfo("x")
    info.mtime = 1_700_000_000
    blocks = []
    for i in range(ENTRIES):
        info.name = f"d/{i}"
        blocks.append(info.tobuf(tarfile.USTAR_FORMAT))
    tar = b"".join(blocks) + bytes(1024)
    return oci_with_layer(inputs / "many-oci", tar, sha256(tar), "application/vnd.oci.image.layer.v1.tar")


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


def _put_blob(root: Path, data: bytes) -> str:
    digest = sha256(data)
    (root / "blobs" / "sha256" / digest.split(":")[1]).write_bytes(data)
    return digest


def test_oci_index_points_to_itself(box: Sandbox, tmp_path: Path) -> None:
    root = oci_dir(tmp_path / "self")
    # an index blob listing its own digest is impossible; a 2-cycle through two index blobs is not
    a_doc = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": []}
    first = _put_blob(root, json.dumps(a_doc).encode())
    cycle = []
    prev = first
    for _ in range(8):
        doc = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": [
            {"mediaType": "application/vnd.oci.image.index.v1+json", "digest": prev, "size": 10,
             "platform": {"os": "linux", "architecture": "amd64"}}]}
        prev = _put_blob(root, json.dumps(doc).encode())
        cycle.append(prev)
    _rewrite_index(root, {"schemaVersion": 2, "manifests": [
        {"mediaType": "application/vnd.oci.image.index.v1+json", "digest": prev, "size": 10}]})
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
    digest = _put_blob(root, json.dumps(manifest).encode())
    _rewrite_index(root, {"schemaVersion": 2, "manifests": [
        {"mediaType": "application/vnd.oci.image.manifest.v1+json" if where != "manifest" else "",
         "digest": digest, "size": 10}]})
    assert_clean_failure(scan_image(box, root), "unsupported")


def test_oci_manifest_with_10000_layers(box: Sandbox, tmp_path: Path) -> None:
    root = oci_dir(tmp_path / "many")
    tar = tar_of([member("etc/x", b"x")])
    layer_digest = _put_blob(root, tar)
    config = config_for([layer_digest] * 10_000)
    config_digest = _put_blob(root, config)
    manifest = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config_digest,
                           "size": len(config)},
                "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": layer_digest,
                            "size": len(tar)}] * 10_000}
    digest = _put_blob(root, json.dumps(manifest).encode())
    _rewrite_index(root, {"schemaVersion": 2, "manifests": [
        {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": digest, "size": 10}]})
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

def _jar(entries: dict[str, bytes], method: int = zipfile.ZIP_DEFLATED) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", method) as zf:
        for name, data in entries.items():
            zf.writestr(name, data)
    return buf.getvalue()


def _nested_jars(levels: int) -> bytes:
    data = _jar({"META-INF/maven/g/a/pom.properties": b"groupId=g\nartifactId=a\nversion=1\n"})
    for i in range(levels):
        data = _jar({f"lib/level{i}.jar": data, "META-INF/MANIFEST.MF": b"Manifest-Version: 1.0\n"},
                    zipfile.ZIP_STORED)
    return data


def _zip_bomb_jar() -> bytes:
    return _jar({"META-INF/MANIFEST.MF": b"Manifest-Version: 1.0\n", "lib/inner.jar": bytes(200 * MiB),
                 "META-INF/maven/g/b/pom.properties": b"A" * (5 * MiB)})


def _fake_go_elf() -> bytes:
    """An ELF header followed by a Go build-info magic with lying lengths."""
    head = b"\x7fELF\x02\x01\x01" + bytes(9) + b"\x02\x00\x3e\x00" + bytes(44)
    return head + os.urandom(2048) + b"\xff Go buildinf:" + b"\x08\x02" + b"\xff" * 64 + os.urandom(2048)


CONTENT_CASES = {
    "apk-garbage": [file("lib/apk/db/installed", os.urandom(256 * 1024) + b"\nP:\nV:\n\x00\x00")],
    "rpm-bdb-random": [file("var/lib/rpm/Packages", os.urandom(1 * MiB))],
    "rpm-sqlite-random": [file("var/lib/rpm/rpmdb.sqlite", b"SQLite format 3\x00" + os.urandom(64 * 1024))],
    "rpm-ndb-random": [file("usr/lib/sysimage/rpm/Packages.db", b"RpmP" + os.urandom(64 * 1024))],
    "jar-bomb": [file("app/bomb.jar", _zip_bomb_jar())],
    "jar-nested-50": [file("app/deep.jar", _nested_jars(50))],
    "jar-junk": [file("app/junk.jar", b"PK\x03\x04" + os.urandom(4096))],
    "package-json-binary": [file("usr/lib/node_modules/x/package.json", os.urandom(8192))],
    "package-json-deep": [file("usr/lib/node_modules/y/package.json",
                               b'{"name": "y", "version": "1.0.0", "a": ' + b"[" * 100_000 + b"]" * 100_000 + b"}")],
    "metadata-binary": [file("usr/lib/python3/dist-packages/x-1.0.dist-info/METADATA", os.urandom(8192))],
    "go-fake-elf": [Entry("usr/local/bin/kubectl", _fake_go_elf(), "file", 0o755)],
    "os-release-binary": [file("etc/os-release", os.urandom(4096))],
    "gemspec-junk": [file("usr/lib/ruby/gems/3.1.0/specifications/x-1.0.gemspec", os.urandom(4096))],
    "composer-deep": [file("app/vendor/composer/installed.json", b"[" * 50_000)],
    "conda-junk": [file("opt/conda/conda-meta/x-1.0-0.json", b"{" + os.urandom(1000))],
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
    stanza = "Package: p{0}\nStatus: install ok installed\nVersion: 1.{0}\nArchitecture: amd64\n\n"
    status = "".join(stanza.format(i) for i in range(30_000)).encode()
    run = scan_image(box, _dpkg_image(inputs / "dpkg-many", status), "--list-all-pkgs")
    doc = assert_scanned(run)
    assert sum(len(r.get("Packages", [])) for r in doc["Results"]) == 30_000


def test_dpkg_status_with_one_50mb_line(box: Sandbox, inputs: Path) -> None:
    status = (DPKG_STATUS_BASE + "\nPackage: x\nStatus: install ok installed\nVersion: 1\nDescription: ").encode()
    run = scan_image(box, _dpkg_image(inputs / "dpkg-line", status + b"A" * (50 * MiB) + b"\n"), "--list-all-pkgs")
    doc = assert_scanned(run)
    assert {"libc6", "x"} <= {p["Name"] for r in doc["Results"] for p in r.get("Packages", [])}


def test_dpkg_field_with_millions_of_continuation_lines(box: Sandbox, inputs: Path) -> None:
    """Was quadratic (each continuation line re-copied the whole value): hours for 12 MB."""
    status = (DPKG_STATUS_BASE + "\nPackage: x\nStatus: install ok installed\nVersion: 1\nDescription: d\n").encode()
    run = scan_image(box, _dpkg_image(inputs / "dpkg-continuation", status + b" .\n" * 4_000_000))
    assert_scanned(run)


def test_python_metadata_with_long_continuation_block(box: Sandbox, inputs: Path) -> None:
    text = b"Metadata-Version: 2.1\nName: evil\nVersion: 1.0\nDescription: d\n" + (b" " + b"a" * 800 + b"\n") * 20_000
    root = inputs / "python-continuation"
    build_image([LayerSpec([file("usr/lib/python3/dist-packages/evil-1.0.dist-info/METADATA", text)])]
                ).write_oci_dir(root)
    doc = assert_scanned(scan_image(box, root, "--list-all-pkgs"))
    assert "evil" in {p["Name"] for r in doc["Results"] for p in r.get("Packages", [])}


# ---- fs mode: lockfiles -----------------------------------------------------------------------

YAML_LAUGHS = "\n".join([
    "lockfileVersion: '6.0'",
    'a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]',
    *(f"{n}: &{n} [{', '.join(['*' + p] * 9)}]" for p, n in zip("abcdefgh", "bcdefghi")),
    "packages: *i",
]) + "\n"

LOCKFILES = {
    "package-lock.json": b'{"lockfileVersion": 3, "packages": {"": ' + b"[" * 100_000,
    "yarn.lock": b"\x00\xff" * 1000 + b'\n"a@1":\n  version ' + b"\x00" * 10,
    "pnpm-lock.yaml": YAML_LAUGHS.encode(),
    "poetry.lock": b"[[package]]\nname = 'x'\nversion = " + b"[" * 50_000,
    "Cargo.lock": b"[[package]]\nname = \"x\"\nversion = \"1\"\n[[package]\n",
    "Pipfile.lock": b'{"default": {"x": {"version": 5}}, "develop": []}',
    "composer.lock": b'{"packages": "nope", "packages-dev": {"a": 1}}',
    "go.sum": os.urandom(2048),
    "go.mod": b"module x\nrequire (\n" + b"\tgithub.com/a/b v1\n" * 10 + b"\xff\xfe",
    "Gemfile.lock": b"GEM\n  specs:\n" + b"    x (" * 1000,
    "requirements.txt": b"-r requirements.txt\n-r ./requirements.txt\n" + os.urandom(512),
    "packages.lock.json": b'{"version": 1, "dependencies": {"net8.0": {"x": {"resolved": [1, 2]}}}}',
    "environment.yml": b"dependencies:\n  - &x [" + b"[" * 10_000,
    "gradle.lockfile": os.urandom(1024),
    "pom.xml": b'<?xml version="1.0"?><!DOCTYPE p [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;&a;&a;">]><project>&b;</project>',
    "uv.lock": b"version = 1\n[[package]]\nname = 1\nversion = []\n",
    "pyproject.toml": b"[project]\ndependencies = " + b"[" * 100_000,
    "build.sbt.lock": b'{"lockVersion": 1, "dependencies": ' + b"[" * 100_000,
    "buildscript-gradle.lockfile": b"a:b:1=classpath\n" + b"x:" * 100_000 + b"\n" + os.urandom(512),
}


def test_fs_hostile_lockfiles(box: Sandbox, tmp_path: Path) -> None:
    project = tmp_path / "project"
    project.mkdir()
    for name, data in LOCKFILES.items():
        (project / name).write_bytes(data)
    (project / "loop").symlink_to(project)  # a directory symlink loop
    (project / "outside").symlink_to("/etc")
    run = run_cli(box, "fs", str(project), "--sbom-only", "-f", "json", "--no-progress")
    assert_scanned(run)
    reasons = "\n".join(run.unknown_reasons())
    for name in ("package-lock.json", "pnpm-lock.yaml", "poetry.lock", "Cargo.lock", "pyproject.toml", "build.sbt.lock",
                 "buildscript-gradle.lockfile"):
        assert name in reasons, (name, reasons)


# ---- SBOM input ---------------------------------------------------------------------------------

SBOMS = {
    "deep.json": (b'{"bomFormat": "CycloneDX", "specVersion": "1.5", "components": ' + b"[" * 200_000
                  + b"]" * 200_000 + b"}", ("nested",)),
    "deep-components.json": (json.dumps({"bomFormat": "CycloneDX", "specVersion": "1.5", "components": [
        {"name": "a", "components": [{"name": "b", "components": [{"name": "c"}] * 2}] * 2}] * 2}).encode()
        .replace(b'"c"}', b'"c", "components": ' + b'[{"name": "d", "components": ' * 60 + b"[]" + b"}]" * 60 + b"}"),
        ("nested",)),
    "types.json": (json.dumps({"bomFormat": "CycloneDX", "specVersion": 1.5, "components": {"a": 1},
                               "metadata": [1], "dependencies": "x"}).encode(), ()),
    "types2.json": (json.dumps({"bomFormat": "CycloneDX", "specVersion": "1.5",
                                "components": [5, None, "x", {"name": 7, "version": [], "purl": {"a": 1},
                                                              "properties": "p", "hashes": 3}]}).encode(), ()),
    "spdx-types.json": (json.dumps({"spdxVersion": "SPDX-2.3", "packages": [
        {"name": None, "versionInfo": {}, "externalRefs": "x"}, 3],
        "relationships": {"a": 1}}).encode(), ()),
    "binary.json": (os.urandom(10_000), ("SBOM",)),
    "empty.json": (b"", ("SBOM",)),
    "list.json": (b"[1, 2, 3]", ("SBOM",)),
    "nan.json": (b'{"bomFormat": "CycloneDX", "specVersion": NaN, "components": [{"name": "a", "version": Infinity}]}', ()),
}


@pytest.mark.parametrize("name", sorted(SBOMS))
def test_sbom_input_hostile(box: Sandbox, tmp_path: Path, name: str) -> None:
    data, words = SBOMS[name]
    path = tmp_path / name
    path.write_bytes(data)
    run = run_cli(box, "sbom", str(path), "-f", "json", "--no-progress")
    if run.rc == 0:
        assert_scanned(run)
    else:
        assert_clean_failure(run, *words)


def test_sbom_input_100mb(box: Sandbox, tmp_path: Path) -> None:
    path = tmp_path / "big.json"
    with open(path, "wb") as fh:
        fh.write(b'{"bomFormat": "CycloneDX", "specVersion": "1.5", "components": [')
        fh.write(b'{"type": "library", "name": "x", "version": "1"},' * (100 * MiB // 48))
        fh.write(b'{"name": "y"}]}')
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

POLICY_FILES = {
    "ignore-yaml-invalid": ("--ignorefile", "ignore.yaml", b"ignore:\n  - id: [unclosed\n", 2, ("ignore",)),
    "ignore-yaml-types": ("--ignorefile", "ignore.yaml", b"ignore:\n  - id: {a: 1}\n    expires: 5\n  - 7\n", 2,
                          ("ignore",)),
    "ignore-yaml-laughs": ("--ignorefile", "ignore.yaml", YAML_LAUGHS.replace("packages: *i", "ignore: *i").encode(),
                           2, ("ignore",)),
    "ignore-deep": ("--ignorefile", "ignore.yaml", b"ignore: " + b"[" * 100_000, 2, ("ignore",)),
    "ignore-deep-flow": ("--ignorefile", "ignore.yaml", b"[" * 100_000, 2, ("ignore",)),
    "ignore-binary": ("--ignorefile", ".trivyignore", os.urandom(4096), 2, ("ignore",)),
    "vex-invalid": ("--vex", "vex.json", b"{nope", 2, ("VEX",)),
    "vex-deep": ("--vex", "vex.json", b"[" * 100_000 + b"]" * 100_000, 2, ("VEX",)),
    "vex-types": ("--vex", "vex.json", json.dumps({"statements": [5, {"vulnerability": [1], "products": "x",
                                                                     "status": {}}]}).encode(), 2, ("VEX",)),
    "vex-cdx-types": ("--vex", "vex.json", json.dumps({"bomFormat": "CycloneDX", "vulnerabilities": [
        {"id": 5, "analysis": "x", "affects": {"ref": 1}}]}).encode(), 2, ("VEX",)),
    "config-invalid": ("--config", "layerscan.yaml", b"severity: [unclosed\n", 2, ("config",)),
    "config-types": ("--config", "layerscan.yaml", b"severity: {a: 1}\nparallel: lots\ntimeout: []\n", 2,
                     ("config",)),
    "config-list": ("--config", "layerscan.yaml", b"- 1\n- 2\n", 2, ("config",)),
    "config-laughs": ("--config", "layerscan.yaml", YAML_LAUGHS.replace("packages: *i", "skip-dirs: *i").encode(),
                      2, ("config",)),
    "config-deep": ("--config", "layerscan.yaml", b"a: " + b"[" * 100_000, 2, ("config",)),
}


@pytest.mark.parametrize("case", sorted(POLICY_FILES))
def test_policy_and_config_files_hostile(box: Sandbox, tmp_path: Path, inputs: Path, case: str) -> None:
    flag, name, data, code, words = POLICY_FILES[case]
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


LONE_SURROGATES = ('{"name":"app","version":"1.0.0","lockfileVersion":3,"packages":{"":{"name":"app"},'
                   '"node_modules/ev\\ud800il":{"version":"1.0.0\\udc00"}}}')


@pytest.mark.parametrize("fmt", ["table", "json", "sarif", "cyclonedx", "spdx-json", "spdx", "html", "junit",
                                 "gitlab", "github"])
def test_lone_surrogates_in_a_lockfile_never_crash_a_writer(tmp_path: Path, fmt: str):
    """JSON may escape half a UTF-16 pair ("\\ud800"); Python then holds a string UTF-8 cannot
    encode. Every writer, to a file and to stdout, must still produce a valid UTF-8 report."""
    from test_cli_main import run_cli as cli

    project = tmp_path / "p"
    project.mkdir()
    (project / "package-lock.json").write_text(LONE_SURROGATES)
    out = tmp_path / f"out.{fmt}"
    to_file = cli("fs", str(project), "--scanners", "none", "-f", fmt, "-o", str(out), cwd=tmp_path)
    assert to_file.returncode == 0, to_file.stderr
    out.read_bytes().decode("utf-8")  # strict: valid UTF-8
    to_stdout = cli("fs", str(project), "--scanners", "none", "-f", fmt, cwd=tmp_path)
    assert to_stdout.returncode == 0 and "Traceback" not in to_stdout.stderr, to_stdout.stderr
    assert to_stdout.stdout.strip()
