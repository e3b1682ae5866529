"""The shortcuts of the full-scan speed work (issue 11) give the results of the slow paths
they replace: tar header checksums, layer-cache entries, per-package finding copies, the
command line built only for the command named, and the process exit without teardown."""

from __future__ import annotations

import contextlib
import dataclasses
import io
import json
import os
import random
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from layerscan.cli.flags import default_config_yaml
from layerscan.cli.main import build_parser
from layerscan.match.matcher import _for_package
from layerscan.model import Finding, MatchDetail, Package, Unknown
from layerscan.walk.analysis import LayerAnalysis
from layerscan.walk.cache import LayerCache
from layerscan.walk.tarstream import BLOCK, TarStream, _byte_sum

ROOT = Path(__file__).resolve().parent.parent


def _tar(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def test_header_byte_sum_is_the_sum_of_the_bytes() -> None:
    rng = random.Random(11)
    blocks = [bytes(BLOCK), b"\xff" * BLOCK, _tar({"etc/os-release": b"ID=debian\n"})[:BLOCK]]
    blocks += [bytes(rng.randrange(256) for _ in range(BLOCK)) for _ in range(200)]
    for block in blocks:
        assert _byte_sum(block) == sum(block)


def test_a_bad_header_checksum_is_still_refused() -> None:
    data = bytearray(_tar({"a.txt": b"hello"}))
    data[0] ^= 0x01  # the name changes, the stored checksum does not
    with pytest.raises(Exception, match="bad header checksum"):
        list(TarStream(io.BytesIO(bytes(data)), "layer 0").entries())


def test_layer_cache_entry_round_trips(tmp_path: Path) -> None:
    from layerscan.analyzers.base import AnalysisResult

    pkg = Package(name="libc6", version="2.36-9", type="deb", src_name="glibc", licenses=("LGPL-2.1",),
                  installed_files=("lib/x86_64-linux-gnu/libc.so.6",), file_path="var/lib/dpkg/status")
    analysis = LayerAnalysis(results=(("var/lib/dpkg/status", AnalysisResult(
        packages=(pkg,), unknowns=(Unknown(path="x", reason="why", analyzer="dpkg"),))),),
        whiteouts=("tmp/old",), dirs=("etc",), compression="none")
    cache = LayerCache(tmp_path)
    assert cache.put("k" * 64, analysis)
    raw = (tmp_path / "layers" / f"{'k' * 64}.json").read_text()
    assert raw == json.dumps(analysis.to_json(), separators=(",", ":"))  # the bytes json.dump wrote
    assert cache.get("k" * 64) == analysis


@pytest.mark.parametrize("field, value", [("version", 3), ("dev", "yes"), ("licenses", "MIT"), ("name", ["a"])])
def test_layer_cache_entry_with_a_bad_value_is_a_miss(tmp_path: Path, field: str, value: object) -> None:
    doc = LayerAnalysis(results=(("p", _result(Package(name="a", version="1", type="npm"))),)).to_json()
    doc["results"][0][1]["packages"][0][field] = value
    (tmp_path / "layers").mkdir(mode=0o700)
    (tmp_path / "layers" / "bad.json").write_text(json.dumps(doc))
    assert LayerCache(tmp_path).get("bad") is None


def _result(pkg: Package):  # noqa: ANN202 - AnalysisResult, imported lazily as the walker does
    from layerscan.analyzers.base import AnalysisResult

    return AnalysisResult(packages=(pkg,))


def test_finding_copied_for_another_package_equals_replace() -> None:
    first = Package(name="libc6", version="2.36-9", type="deb", src_name="glibc")
    other = Package(name="libc-bin", version="2.36-9", type="deb", src_name="glibc")
    finding = Finding(package=first, vulnerability_id="CVE-2023-4911", aliases=("DSA-5514-1",),
                      match=MatchDetail("Debian:12", "CVE-2023-4911", "glibc", "fixed in 2.36-9+deb12u3", "debian"),
                      fixed_version="2.36-9+deb12u3", status="fixed", severity="HIGH", kev=True)
    copy = _for_package(finding, other)
    assert copy == dataclasses.replace(finding, package=other)
    assert copy.package is other and finding.package is first
    with pytest.raises(dataclasses.FrozenInstanceError):
        copy.severity = "LOW"  # type: ignore[misc]


def _parsed(argv: list[str], full: bool) -> tuple[str, str, object, dict | None]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            ns: dict | None = vars((build_parser() if full else build_parser(argv)).parse_args(argv))
            code: object = None
        except SystemExit as exc:
            ns, code = None, exc.code
    return out.getvalue(), err.getvalue(), code, ns


@pytest.mark.parametrize("line", [
    "image -f json --scanners vuln --input x.tar", "image --help", "--help", "", "imag", "image --bogus 1",
    "fs image", "--cache-dir image fs .", "db update --help", "db import a b", "server --help", "worker --help",
    "server --port 1", "worker", "diff --help", "compare a b", "convert --help", "explain CVE-1 alpine",
    "index add r", "version -f json", "sbom", "clean --all"])
def test_parser_built_for_the_named_command_parses_as_the_full_one(line: str) -> None:
    argv = line.split()
    assert _parsed(argv, full=False) == _parsed(argv, full=True)


def test_the_command_exits_with_its_output_flushed(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LAYERSCAN_")}
    proc = subprocess.run([sys.executable, "-m", "layerscan", "--generate-default-config"], capture_output=True,
                          text=True, timeout=60, cwd=tmp_path, env=env)
    assert proc.returncode == 0 and proc.stderr == ""
    assert proc.stdout == default_config_yaml()  # a pipe: block-buffered until the exit flushes it
    proc = subprocess.run([sys.executable, "-m", "layerscan", "image", "--input", str(tmp_path / "missing.tar"),
                           "--cache-dir", str(tmp_path / "cache")], capture_output=True, text=True, timeout=60,
                          cwd=tmp_path, env=env)
    assert proc.returncode == 2 and proc.stderr.startswith("layerscan: error:")


# -- layers analysed in forked processes (scan.forked) ------------------------------------


def _square_or_fail(n: int) -> int:
    if n == 13:
        raise ValueError("thirteen")
    if n == 7 and os.getpid() != _PARENT:
        os._exit(9)  # a worker dies mid-way: its items are done again in the parent
    return n * n


_PARENT = os.getpid()


@pytest.mark.skipif(sys.platform != "linux", reason="workers are forked on Linux only")
def test_forked_map_gives_what_a_plain_map_gives() -> None:
    from layerscan.scan.forked import map_forked

    items = [n for n in range(40) if n != 13]
    assert map_forked(_square_or_fail, items, 2) == [n * n for n in items]
    assert map_forked(_square_or_fail, items, 3) == [n * n for n in items]
    with pytest.raises(ValueError, match="thirteen"):  # raised here, as without workers
        map_forked(_square_or_fail, list(range(20)), 2)


def test_no_fork_while_another_thread_runs() -> None:
    import threading

    from layerscan.scan.forked import available

    stop = threading.Event()
    thread = threading.Thread(target=stop.wait)
    thread.start()
    try:
        assert not available(4)
    finally:
        stop.set()
        thread.join()
    assert available(4) == (sys.platform == "linux" and threading.active_count() == 1)
    assert not available(1)  # one layer: nothing to share


@pytest.mark.skipif(sys.platform != "linux", reason="workers are forked on Linux only")
def test_image_layers_analysed_in_forked_workers_as_in_one_process(tmp_path: Path) -> None:
    import imagebuild as ib

    from layerscan.analyzers import analyzers_for
    from layerscan.progress import NULL_PROGRESS
    from layerscan.scan import ScanOptions, scan_image
    from layerscan.scan.forked import map_forked
    from layerscan.scan.inventory import _forkable, _LayerJob
    from layerscan.source import open_image

    img = ib.build_image(ib.sample_layers())
    for path in (img.write_docker_archive(tmp_path / "docker.tar", "app:1.0"), img.write_oci_dir(tmp_path / "oci")):
        for cache in (None, tmp_path / f"cache-{path.name}"):
            options = ScanOptions(mode="image", parallel=2, cache_dir=cache)
            with open_image(input_path=str(path)) as src:
                job = _LayerJob(src, analyzers_for("image"), options, NULL_PROGRESS)
                todo = src.layers()
                # whether a scan forks depends on the machine's load; these are the results it forks for
                assert map_forked(job, todo, 2) == [job(d) for d in todo]
                if cache is not None:  # every layer cached now: a rescan does not fork
                    assert not _forkable(job, todo)
            with open_image(input_path=str(path)) as src:
                assert scan_image(src, options) == scan_image(src, ScanOptions(mode="image", parallel=1))
