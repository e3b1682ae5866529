"""Sibling files (``Analyzer.siblings``): a yarn.lock read with the package.json beside it, a
Cargo.lock with its Cargo.toml, a go 1.16 go.mod with its go.sum, the same in ``fs`` and ``rootfs`` directory walks and in image
layers (the sibling in the lockfile's layer, a lower or a later one, deleted by a whiteout or an
opaque directory); hostile siblings (huge, broken, a symlink, a FIFO) leave the lockfile read
alone. The fixtures (tests/fixtures/siblings/) are written from the formats' documentation."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import imagebuild as ib
from layerscan.analyzers.base import FileSpec, spec
from layerscan.analyzers.golang.gomod import GoModAnalyzer
from layerscan.analyzers.langbase import FileAnalyzer, Parsed
from layerscan.analyzers.node.package_json import PackageJsonAnalyzer
from layerscan.analyzers.node.yarn_lock import YarnLockAnalyzer
from layerscan.analyzers.php.composer import ComposerLockAnalyzer
from layerscan.analyzers.python.poetry_lock import PoetryLockAnalyzer
from layerscan.analyzers.rust.cargo_lock import CargoLockAnalyzer
from layerscan.limits import MAX_SIBLING_BYTES
from layerscan.model import Package
from layerscan.scan import ScanOptions, analyze_image_layers
from layerscan.source import open_image
from layerscan.walk.analysis import LayerAnalysis
from layerscan.walk.fswalk import analyze_directory
from layerscan.walk.squash import squash

FIXTURES = Path(__file__).parent / "fixtures" / "siblings"
LOCK = (FIXTURES / "yarn.lock").read_bytes()
MANIFEST = (FIXTURES / "package.json").read_bytes()

# name@version -> (dev, indirect, is_application)
WITH_MANIFEST = {
    "shop@2.1.0": (False, False, True),  # the application, from package.json
    "left-pad@1.3.0": (False, False, False),
    "fsevents-lite@1.2.3": (False, False, False),  # optionalDependencies are production
    "jest-mini@1.0.4": (True, False, False),
    "left-pad@1.2.0": (True, False, False),  # devDependencies alias 'pad-alias' -> left-pad
    "mock-thing@2.0.0": (True, True, False),  # reached from a dev dependency only
    "tiny-util@0.2.1": (False, True, False),  # reached from both: production wins
    "stray@3.0.0": (False, True, False),  # reached from nothing: dev not guessed
}
ALONE = {key: (False, False, False) for key in WITH_MANIFEST if key != "shop@2.1.0"}
EMPTY_MANIFEST = {key: (False, True, False) for key in ALONE}  # '{}': nothing is a direct dependency


def flags(packages: tuple[Package, ...] | list[Package], found_by: str = YarnLockAnalyzer.name) -> dict:
    return {f"{p.name}@{p.version}": (p.dev, p.indirect, p.is_application) for p in packages
            if p.found_by == found_by}


# ---------------------------------------------------------------- the pure parsers and the analyzer hook


def test_cargo_lock_with_its_manifest_marks_dev_only_crates() -> None:
    lock, toml = (FIXTURES / "Cargo.lock").read_bytes(), (FIXTURES / "Cargo.toml").read_bytes()
    analyzer = CargoLockAnalyzer()
    want = {"shopd@0.3.0": (False, False, True), "serde@1.0.195": (False, False, False),
            "log@0.4.20": (False, False, False),  # renamed in Cargo.toml: fast-log = { package = "log" }
            "cc@1.0.83": (False, False, False),  # a target build-dependency: production
            "proptest-mini@0.9.1": (True, False, False), "rand-lite@0.8.5": (True, True, False)}
    assert flags(analyzer.analyze_with_siblings("Cargo.lock", lock, {"Cargo.toml": toml}).packages,
                 analyzer.name) == want
    alone = analyzer.analyze("Cargo.lock", lock)
    assert flags(alone.packages, analyzer.name) == {k: (False, False, v[2]) for k, v in want.items()}


COMPOSER_LOCK = b'{"packages": [{"name": "acme/http", "version": "v2.0.1"}], "packages-dev": []}'
POETRY_LOCK = b'[[package]]\nname = "requests"\nversion = "2.32.3"\n'


def test_composer_and_poetry_locks_with_their_manifests() -> None:
    composer = ComposerLockAnalyzer().analyze_with_siblings("composer.lock", COMPOSER_LOCK,
                                                            {"composer.json": b'{"require": {"php": ">=8"}}'})
    assert [(p.name, p.indirect) for p in composer.packages] == [("acme/http", True)]
    manifest = b'[tool.poetry.dependencies]\npython = "^3.9"\n[tool.poetry.group.dev.dependencies]\nrequests = "*"\n'
    poetry = PoetryLockAnalyzer().analyze_with_siblings("poetry.lock", POETRY_LOCK, {"pyproject.toml": manifest})
    assert [(p.name, p.dev, p.indirect) for p in poetry.packages] == [("requests", True, False)]


@pytest.mark.parametrize("analyzer, lock, manifest", [
    (YarnLockAnalyzer(), LOCK, "package.json"), (CargoLockAnalyzer(), (FIXTURES / "Cargo.lock").read_bytes(),
                                                 "Cargo.toml"),
    (ComposerLockAnalyzer(), COMPOSER_LOCK, "composer.json"), (PoetryLockAnalyzer(), POETRY_LOCK, "pyproject.toml")])
@pytest.mark.parametrize("bad", [b"\x00", b"\xff\xfe\x00garbage", b"[1, 2", b"{" * 100_000, b"[" * 100_000])
def test_broken_sibling_is_an_unknown_and_the_lockfile_is_read_alone(analyzer, lock: bytes, manifest: str,
                                                                      bad: bytes) -> None:
    with_bad = analyzer.analyze_with_siblings("app/lock", lock, {manifest: bad})
    alone = analyzer.analyze("app/lock", lock)
    assert with_bad.packages == alone.packages
    assert [u.reason.split(" (")[0] for u in with_bad.unknowns] == [f"{manifest} beside it is unreadable"]


def test_analyzer_without_siblings_ignores_them() -> None:
    class Plain(FileAnalyzer):
        name = "test-plain"
        version = 1
        files: FileSpec = spec(names=("plain.lock",))

        def matches(self, path: str) -> bool:
            return path.endswith("plain.lock")

        def parse_file(self, path: str, data: bytes) -> Parsed:
            return Parsed(packages=(Package(name=data.decode(), version="1", type="npm"),))

    assert Plain().analyze_with_siblings("plain.lock", b"x", {"package.json": b"{"}) == Plain().analyze("plain.lock",
                                                                                                       b"x")


# ---------------------------------------------------------------- directory walks (fs, rootfs)


def _project(root: Path, manifest: bytes | None = MANIFEST) -> Path:
    (root / "srv/app").mkdir(parents=True)
    (root / "srv/app/yarn.lock").write_bytes(LOCK)
    if manifest is not None:
        (root / "srv/app/package.json").write_bytes(manifest)
    return root


@pytest.mark.parametrize("rootfs", [False, True])
def test_directory_walk_hands_the_sibling_over(tmp_path: Path, rootfs: bool) -> None:
    analysis = analyze_directory(_project(tmp_path), [YarnLockAnalyzer()], rootfs=rootfs)
    assert flags(squash([analysis], [None]).packages) == WITH_MANIFEST
    assert not analysis.siblings  # directory walks read siblings at once, nothing is kept


def test_directory_walk_without_sibling_is_unchanged(tmp_path: Path) -> None:
    analysis = analyze_directory(_project(tmp_path, None), [YarnLockAnalyzer()])
    assert flags(squash([analysis], [None]).packages) == ALONE and not analysis.unknowns


def test_single_lockfile_target_reads_its_sibling(tmp_path: Path) -> None:
    root = _project(tmp_path)
    analysis = analyze_directory(root / "srv/app/yarn.lock", [YarnLockAnalyzer()])
    assert flags(squash([analysis], [None]).packages) == WITH_MANIFEST


def test_hostile_siblings_in_a_directory(tmp_path: Path) -> None:
    # a symlink is never followed, a FIFO never opened for a blocking read, skip-dirs apply
    (tmp_path / "real.json").write_bytes(MANIFEST)
    link = _project(tmp_path / "link", None)
    os.symlink(tmp_path / "real.json", link / "srv/app/package.json")
    fifo = _project(tmp_path / "fifo", None)
    os.mkfifo(fifo / "srv/app/package.json")
    for root in (link, fifo):
        assert flags(squash([analyze_directory(root, [YarnLockAnalyzer()])], [None]).packages) == ALONE
    huge = _project(tmp_path / "huge", MANIFEST + b" " * MAX_SIBLING_BYTES)
    analysis = analyze_directory(huge, [YarnLockAnalyzer()])
    assert flags(squash([analysis], [None]).packages) == ALONE
    assert [u.reason for r in analysis.results for u in r[1].unknowns] == [
        f"package.json beside it is over {MAX_SIBLING_BYTES} bytes: read without it"]


def _cli(*args: str, cache: Path) -> dict:
    proc = subprocess.run([sys.executable, "-m", "layerscan", *args, "-f", "cyclonedx", "--cache-dir", str(cache),
                           "--no-progress"], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stderr
    return json.loads(proc.stdout)


def test_fs_cli_leaves_dev_dependencies_out_unless_asked(tmp_path: Path) -> None:
    root = _project(tmp_path / "p")
    names = {c["name"] for c in _cli("fs", str(root), cache=tmp_path / "c")["components"]}
    assert names == {"shop", "left-pad", "fsevents-lite", "tiny-util", "stray"}
    everything = {f"{c['name']}@{c['version']}" for c in _cli("fs", str(root), "--include-dev-deps",
                                                              cache=tmp_path / "c")["components"]}
    assert everything == set(WITH_MANIFEST)
    (root / "srv/app/package.json").unlink()
    alone = {f"{c['name']}@{c['version']}" for c in _cli("fs", str(root), cache=tmp_path / "c")["components"]}
    assert alone == set(ALONE)


# ---------------------------------------------------------------- image layers


IMAGE_ANALYZERS = [YarnLockAnalyzer(), PackageJsonAnalyzer()]  # lockfiles in an image, for the walk itself


def _image_analyses(tmp_path: Path, layers: list[list[ib.Entry]], cache: bool = False) -> list[LayerAnalysis]:
    img = ib.build_image([ib.LayerSpec(entries) for entries in layers])
    with open_image(input_path=str(img.write_oci_dir(tmp_path / "oci"))) as src:
        options = ScanOptions(mode="image", cache_dir=tmp_path / "cache" if cache else None)
        return analyze_image_layers(src, options, analyzers=IMAGE_ANALYZERS)[1]


def _image_flags(analyses: list[LayerAnalysis]) -> dict:
    return flags(squash(analyses, [None] * len(analyses)).packages)


LOCK_ENTRY = ib.file("srv/app/yarn.lock", LOCK)
MANIFEST_ENTRY = ib.file("srv/app/package.json", MANIFEST)
INSTALLED = ib.file("srv/app/node_modules/left-pad/package.json", b'{"name": "left-pad", "version": "1.3.0"}')


@pytest.mark.parametrize("layers, expected", [
    ([[MANIFEST_ENTRY, LOCK_ENTRY]], WITH_MANIFEST),  # same layer, manifest first
    ([[LOCK_ENTRY, MANIFEST_ENTRY]], WITH_MANIFEST),  # same layer, manifest after the lockfile
    ([[MANIFEST_ENTRY, INSTALLED], [LOCK_ENTRY]], WITH_MANIFEST),  # manifest in a lower layer
    ([[LOCK_ENTRY], [MANIFEST_ENTRY]], WITH_MANIFEST),  # manifest added by a later layer
    ([[MANIFEST_ENTRY], [LOCK_ENTRY], [ib.whiteout("srv/app/package.json")]], ALONE),
    ([[MANIFEST_ENTRY], [ib.whiteout("srv/app")], [LOCK_ENTRY]], ALONE),  # its directory deleted first
    ([[MANIFEST_ENTRY], [ib.opaque("srv/app"), LOCK_ENTRY]], ALONE),
    ([[MANIFEST_ENTRY], [LOCK_ENTRY], [ib.symlink("srv/app/package.json", "/etc/passwd")]], ALONE),
    ([[LOCK_ENTRY], [ib.file("srv/package.json", MANIFEST)]], ALONE),  # not beside it
    ([[MANIFEST_ENTRY, ib.file("srv/app/package.json", b"{}"), LOCK_ENTRY]], EMPTY_MANIFEST),  # the later entry
    ([[MANIFEST_ENTRY, ib.file("srv/app/package.json", b" " * (MAX_SIBLING_BYTES + 1)), LOCK_ENTRY]], ALONE),
], ids=["same-layer", "same-layer-after", "lower-layer", "later-layer", "whiteout", "dir-whiteout", "opaque",
        "replaced-by-symlink", "other-directory", "duplicate-entry", "duplicate-entry-oversized"])
def test_image_layers_pair_with_the_final_view(tmp_path: Path, layers: list, expected: dict) -> None:
    assert _image_flags(_image_analyses(tmp_path, layers)) == expected


def test_image_sibling_replaced_by_a_later_layer_is_the_one_read(tmp_path: Path) -> None:
    newer = json.loads(MANIFEST)
    newer["dependencies"]["jest-mini"] = newer["devDependencies"].pop("jest-mini")
    analyses = _image_analyses(tmp_path, [[MANIFEST_ENTRY, LOCK_ENTRY],
                                          [ib.file("srv/app/package.json", json.dumps(newer).encode())]])
    got = _image_flags(analyses)
    assert got["jest-mini@1.0.4"] == (False, False, False) and got["mock-thing@2.0.0"] == (False, True, False)


def test_image_layers_keep_only_pairable_siblings_and_the_cache_round_trips(tmp_path: Path) -> None:
    layers = [[MANIFEST_ENTRY, INSTALLED], [LOCK_ENTRY]]
    cold = _image_analyses(tmp_path, layers, cache=True)
    assert [path for path, _ in cold[0].siblings] == ["srv/app/package.json"]  # node_modules/ is not kept
    assert LayerAnalysis.from_json(json.loads(json.dumps(cold[0].to_json()))) == cold[0]
    warm = _image_analyses(tmp_path, layers, cache=True)
    assert warm == cold and _image_flags(warm) == WITH_MANIFEST


def test_image_oversized_sibling_is_not_kept(tmp_path: Path) -> None:
    huge = ib.file("srv/app/package.json", MANIFEST + b" " * MAX_SIBLING_BYTES)
    analyses = _image_analyses(tmp_path, [[huge], [LOCK_ENTRY]])
    assert _image_flags(analyses) == ALONE
    assert [u.reason for u in analyses[0].unknowns] == [
        f"sibling file not kept: over {MAX_SIBLING_BYTES} bytes (a lockfile beside it is read alone)"]


def test_default_image_scan_keeps_no_siblings(tmp_path: Path) -> None:
    img = ib.build_image([ib.LayerSpec([MANIFEST_ENTRY, LOCK_ENTRY])])
    with open_image(input_path=str(img.write_oci_dir(tmp_path / "oci"))) as src:
        analyses = analyze_image_layers(src, ScanOptions(mode="image"))[1]
    assert not analyses[0].siblings  # no image-mode analyzer asks for one: nothing kept, nothing walked again


def test_image_layer_sibling_budget_is_bounded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Past the layer's budget a sibling is not kept (an Unknown says so): its lockfile is read alone."""
    monkeypatch.setattr("layerscan.walk.analysis.MAX_LAYER_SIBLING_BYTES", len(MANIFEST) + 10)
    analyses = _image_analyses(tmp_path, [[ib.file("a/package.json", MANIFEST), ib.file("b/package.json", MANIFEST)],
                                          [ib.file("a/yarn.lock", LOCK), ib.file("b/yarn.lock", LOCK)]])
    assert [path for path, _ in analyses[0].siblings] == ["a/package.json"]
    assert [(u.path, u.reason.split(":")[0]) for u in analyses[0].unknowns] == [("b/package.json",
                                                                                 "sibling file not kept")]
    packages = squash(analyses, [None] * 2).packages
    assert flags([p for p in packages if p.file_path == "a/yarn.lock"]) == WITH_MANIFEST
    assert flags([p for p in packages if p.file_path == "b/yarn.lock"]) == ALONE


# ---------------------------------------------------------------- go.mod + go.sum (go < 1.17)

GO_MOD, GO_SUM = (FIXTURES / "go.mod").read_bytes(), (FIXTURES / "go.sum").read_bytes()
GO_WITH_SUM = {"example.com/shop@": (False, False, True), "github.com/acme/router@v1.4.0": (False, False, False),
               "github.com/acme/strutil@v0.2.1": (False, True, False)}  # from go.sum; x/text has only /go.mod
GO_ALONE = {k: v for k, v in GO_WITH_SUM.items() if "strutil" not in k}


def test_go_mod_with_go_sum_in_every_mode(tmp_path: Path) -> None:
    (tmp_path / "src").mkdir()
    (tmp_path / "src/go.mod").write_bytes(GO_MOD)
    (tmp_path / "src/go.sum").write_bytes(GO_SUM + b"\n" * (2 * MAX_SIBLING_BYTES))  # its own, larger, limit
    fs = analyze_directory(tmp_path, [GoModAnalyzer()])
    assert flags(squash([fs], [None]).packages, GoModAnalyzer.name) == GO_WITH_SUM and not fs.unknowns
    img = ib.build_image([ib.LayerSpec([ib.file("src/go.sum", GO_SUM)]), ib.LayerSpec([ib.file("src/go.mod", GO_MOD)]),
                          ib.LayerSpec([ib.file("other/go.mod", GO_MOD)])])
    with open_image(input_path=str(img.write_oci_dir(tmp_path / "oci"))) as src:
        analyses = analyze_image_layers(src, ScanOptions(mode="image"), analyzers=[GoModAnalyzer()])[1]
    packages = squash(analyses, [None] * 3).packages
    assert flags([p for p in packages if p.file_path == "src/go.mod"], GoModAnalyzer.name) == GO_WITH_SUM
    assert flags([p for p in packages if p.file_path == "other/go.mod"], GoModAnalyzer.name) == GO_ALONE
