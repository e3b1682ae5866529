"""scan_directory (rootfs / fs modes) and the directory walk (walk/fswalk.py)."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from layerscan.errors import ImageError, UsageError
from layerscan.scan import ScanOptions, scan_directory
from layerscan.walk.analysis import PathFilter
from layerscan.walk.fswalk import FileReadError, analyze_directory, read_regular_file

from fixtures.walk.walkhelpers import JsonPkgAnalyzer, StatusAnalyzer, status

ANALYZERS = [StatusAnalyzer(), JsonPkgAnalyzer()]


def expected_packages(case: Path) -> list[tuple[str, str]]:
    return sorted((p["name"], p["version"]) for p in json.loads((case / "expected.json").read_text())["packages"])


@pytest.mark.parametrize("case", ["apk/trivy-apk-happy-path", "rpm/rpmdb-sle15-bci-ndb",
                                  "deb/scalibr-dpkg-valid-status-file"])
def test_rootfs_of_real_package_databases(corpus: Path, tmp_path: Path, case: str) -> None:
    root = tmp_path / "root"
    shutil.copytree(corpus / "fixtures" / case, root)
    sbom = scan_directory(root, ScanOptions(mode="rootfs"))
    assert sorted((p.name, p.version) for p in sbom.packages) == expected_packages(corpus / "fixtures" / case)
    assert sbom.artifact_type == "rootfs" and sbom.image is None
    assert all(p.layer is None for p in sbom.packages)


@pytest.mark.parametrize("case", ["pypi/scalibr-pipfilelock-one-package-dev",
                                  "pypi/scalibr-pdmlock-package-with-dev-dependencies"])
def test_fs_mode_lockfiles_and_dev_dependencies(corpus: Path, case: str) -> None:
    path = corpus / "fixtures" / case
    with_dev = scan_directory(path, ScanOptions(mode="fs", include_dev_deps=True))
    assert sorted((p.name, p.version) for p in with_dev.packages) == expected_packages(path)
    assert with_dev.artifact_type == "filesystem"
    without = scan_directory(path, ScanOptions(mode="fs"))
    assert set(without.packages) == {p for p in with_dev.packages if not p.dev}
    assert any(p.dev for p in with_dev.packages)


def test_symlinks_are_not_followed(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    (outside / "lib").mkdir(parents=True)
    (outside / "status").write_bytes(status(("secret", "1")))
    (outside / "lib" / "x.pkg.json").write_text('{"name":"x","version":"1"}')
    root = tmp_path / "root"
    (root / "var/lib/dpkg").mkdir(parents=True)
    (root / "var/lib/dpkg/status").symlink_to(outside / "status")
    (root / "usr").symlink_to(outside / "lib")
    (root / "etc").mkdir()
    (root / "etc/status").write_bytes(status(("real", "2")))
    la = analyze_directory(root, ANALYZERS)
    assert [(p, [x.name for x in r.packages]) for p, r in la.results] == [("etc/status", ["real"])]


def test_skip_dirs_and_rootfs_pseudo_filesystems(tmp_path: Path) -> None:
    for d in ("proc/1", "sys/x", "dev", "app/vendor", "app/src", "srv/cache/a"):
        (tmp_path / d).mkdir(parents=True, exist_ok=True)
        (tmp_path / d / "status").write_bytes(status((d.replace("/", "-"), "1")))
    rootfs = analyze_directory(tmp_path, ANALYZERS, rootfs=True, skip_dirs=("/app/vendor", "srv/*"))
    assert [p for p, _ in rootfs.results] == ["app/src/status"]
    fs = analyze_directory(tmp_path, ANALYZERS)
    assert len(fs.results) == 6
    assert PathFilter(["srv/*"]).skips("srv/cache/a/status") and not PathFilter(["srv/*"]).skips("srv")


def test_fifo_and_oversized_files_do_not_hang_or_load(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "status")
    (tmp_path / "big").mkdir()
    (tmp_path / "big" / "status").write_bytes(status(*((f"p{i}", "1") for i in range(500))))
    la = analyze_directory(tmp_path, ANALYZERS)
    [(path, result)] = la.results
    assert path == "big/status" and "file too large" in result.unknowns[0].reason


@pytest.mark.skipif(os.geteuid() == 0, reason="root can read files whatever their mode")
def test_permission_errors_become_unknowns(tmp_path: Path) -> None:
    (tmp_path / "locked").mkdir()
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "status").write_bytes(status(("a", "1")))
    os.chmod(tmp_path / "a" / "status", 0)
    os.chmod(tmp_path / "locked", 0)
    try:
        la = analyze_directory(tmp_path, ANALYZERS)
    finally:
        os.chmod(tmp_path / "locked", 0o755)
        os.chmod(tmp_path / "a" / "status", 0o644)
    reasons = {u.path: u.reason for u in la.unknowns}
    assert reasons["a/status"].startswith("cannot read") and reasons["locked"].startswith("cannot list")


def test_reads_refuse_links_and_special_files_and_stay_bounded(tmp_path: Path) -> None:
    (tmp_path / "f").write_bytes(b"0123456789")
    (tmp_path / "l").symlink_to(tmp_path / "f")
    os.mkfifo(tmp_path / "p")
    assert read_regular_file(str(tmp_path / "f"), 4) == b"0123"
    with pytest.raises(FileReadError):
        read_regular_file(str(tmp_path / "l"), 10)
    with pytest.raises(FileReadError, match="no longer a regular file"):
        read_regular_file(str(tmp_path / "p"), 10)


def test_analyzer_crash_in_a_directory_is_an_unknown(tmp_path: Path) -> None:
    (tmp_path / "bad.pkg.json").write_text("{")
    la = analyze_directory(tmp_path, ANALYZERS)
    [(_, result)] = la.results
    assert result.unknowns[0].analyzer == "test-json"


def test_fs_mode_accepts_a_single_lockfile(corpus: Path) -> None:
    case = corpus / "fixtures/pypi/scalibr-pdmlock-package-with-dev-dependencies"
    one = scan_directory(case / "pdm.lock", ScanOptions(mode="fs", include_dev_deps=True))
    assert sorted((p.name, p.version) for p in one.packages) == expected_packages(case)
    assert {p.file_path for p in one.packages} == {"pdm.lock"}


def test_bad_targets(tmp_path: Path) -> None:
    with pytest.raises(ImageError):
        scan_directory(tmp_path / "missing", ScanOptions(mode="rootfs"))
    (tmp_path / "f").write_text("x")
    with pytest.raises(ImageError):
        scan_directory(tmp_path / "f", ScanOptions(mode="rootfs"))
    with pytest.raises(UsageError):
        scan_directory(tmp_path, ScanOptions(mode="image"))


DPKG_STATUS = ("Package: bash\nStatus: install ok installed\nArchitecture: amd64\nVersion: 5.2.15-2+b2\n\n"
               "Package: zlib1g\nStatus: install ok installed\nArchitecture: amd64\nSource: zlib\n"
               "Version: 1:1.2.13.dfsg-1\n\n")


def _rootfs_with_linked_dpkg(tmp_path: Path, target: str) -> Path:
    root = tmp_path / "root"
    (root / "var/lib").mkdir(parents=True)
    (root / "opt/dpkg").mkdir(parents=True)
    (root / "opt/dpkg/status").write_text(DPKG_STATUS)
    (root / "etc").mkdir()
    (root / "etc/os-release").write_text('ID=debian\nVERSION_ID="12"\n')
    (root / "var/lib/dpkg").symlink_to(target)
    return root


@pytest.mark.parametrize("target", ["/opt/dpkg", "../../opt/dpkg", "../../../../../../opt/dpkg"])
def test_rootfs_follows_a_symlinked_package_database_inside_the_root(tmp_path: Path, target: str) -> None:
    root = _rootfs_with_linked_dpkg(tmp_path, target)
    sbom = scan_directory(root, ScanOptions(mode="rootfs"))
    found = sorted((p.name, p.version, p.file_path) for p in sbom.packages)
    assert found == [("bash", "5.2.15-2+b2", "var/lib/dpkg/status"),
                     ("zlib1g", "1:1.2.13.dfsg-1", "var/lib/dpkg/status")]


def test_rootfs_links_never_lead_out_of_the_root(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "status").write_text(DPKG_STATUS)
    root = tmp_path / "root"
    (root / "var/lib").mkdir(parents=True)
    (root / "proc").mkdir()
    (root / "proc/x").symlink_to(outside)  # in a skipped dir: the walk never lists it
    (root / "var/lib/dpkg").symlink_to("/proc/x")
    (root / "srv").symlink_to(outside)
    (root / "var/lib/apk").mkdir()
    (root / "var/lib/rpm").symlink_to("/srv")
    assert scan_directory(root, ScanOptions(mode="rootfs")).packages == ()
    (root / "var/lib/dpkg").unlink()
    (root / "var/lib/dpkg").symlink_to(str(outside))  # absolute host path: read inside the root
    assert scan_directory(root, ScanOptions(mode="rootfs")).packages == ()
