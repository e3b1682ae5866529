"""The cache dir is private (issue #16): the real CLI, a real image archive and real feeds.

- under umask 000, everything layerscan creates in ``--cache-dir`` (the root, ``db/``,
  ``layers/``, the database, the lock, feed and layer-cache entries) is 0700 / 0600;
- a cache dir writable by its group or by others, owned by another user (the tests run
  as root: ``chown nobody``), or not a directory, is refused before it is read: exit 3
  (docs/cli.md, "Exit codes"), one error line and a hint saying what to do;
- an existing private dir with the usual 0755 is used as it is.
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from imagebuild import sample_image
from test_db_fetch_faults import FeedServer, feeds  # noqa: F401

ROOT = Path(__file__).resolve().parents[1]
FEEDS = ROOT / "examples" / "feeds"
NOBODY = 65534


def layerscan(cache: Path, *args: str, umask: int = 0o022, cwd: Path,
              env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    full = {k: v for k, v in os.environ.items() if not k.startswith("LAYERSCAN_")}
    full.update(HOME=str(cwd), XDG_CACHE_HOME=str(cwd / ".xdg"), LAYERSCAN_SKIP_DB_UPDATE="true", **(env or {}))
    return subprocess.run([sys.executable, "-m", "layerscan.cli.main", *args, "--cache-dir", str(cache)],
                          cwd=cwd, env=full, capture_output=True, text=True, umask=umask, timeout=300)


def modes(root: Path) -> dict[str, int]:
    found = {".": stat.S_IMODE(root.stat().st_mode)}
    for path in root.rglob("*"):
        found[str(path.relative_to(root))] = stat.S_IMODE(path.lstat().st_mode)
    return found


@pytest.fixture(scope="module")
def archive(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return sample_image().write_docker_archive(tmp_path_factory.mktemp("image") / "image.tar")


def test_umask_000_still_makes_a_private_cache(tmp_path: Path, archive: Path, feeds: FeedServer) -> None:
    cache = tmp_path / "deep" / "cache"
    updated = layerscan(cache, "db", "update", "--sources", "kev", "-q", umask=0, cwd=tmp_path,
                        env={"LAYERSCAN_DB_KEV_URL": f"{feeds.base}/ok"})
    assert updated.returncode == 0, updated.stderr
    imported = layerscan(cache, "db", "import", str(FEEDS), "-q", umask=0, cwd=tmp_path)
    assert imported.returncode == 0, imported.stderr
    scanned = layerscan(cache, "image", "--input", str(archive), "-f", "json", umask=0, cwd=tmp_path)
    assert scanned.returncode == 0, scanned.stderr
    found = modes(cache)
    assert {"db/layerscan.db", "db/feeds/kev/known_exploited_vulnerabilities.json"} <= set(found), sorted(found)
    assert any(name.endswith(".json") and name.startswith("layers/") for name in found), sorted(found)
    wrong = {name: f"{mode:04o}" for name, mode in found.items()
             if mode != (0o700 if (cache / name).is_dir() else 0o600)}
    assert wrong == {}
    assert stat.S_IMODE((tmp_path / "deep").stat().st_mode) == 0o700  # a parent it had to create too


@pytest.mark.parametrize("mode, who", [(0o777, "its group and others"), (0o757, "others"), (0o770, "its group")])
def test_cache_writable_by_others_is_refused(tmp_path: Path, archive: Path, mode: int, who: str) -> None:
    cache = tmp_path / "cache"
    cache.mkdir()
    os.chmod(cache, mode)
    for args in (("image", "--input", str(archive), "-f", "json"), ("db", "status")):
        run = layerscan(cache, *args, cwd=tmp_path)
        assert run.returncode == 3, (args, run.stderr)
        assert f"layerscan: error: cache dir {cache} is writable by {who} (mode {mode:04o})" in run.stderr
        assert f"layerscan: hint: 'chmod 700 {cache}', or use a directory of your own" in run.stderr
        assert "Traceback" not in run.stderr and run.stdout == ""
    assert list(cache.iterdir()) == []  # nothing was written into it


@pytest.mark.skipif(os.geteuid() != 0, reason="chown to another user needs root")
def test_cache_owned_by_another_user_is_refused(tmp_path: Path, archive: Path) -> None:
    cache = tmp_path / "cache"
    cache.mkdir(mode=0o700)
    os.chown(cache, NOBODY, NOBODY)
    run = layerscan(cache, "image", "--input", str(archive), "-f", "json", cwd=tmp_path)
    assert run.returncode == 3, run.stderr
    assert f"cache dir {cache} is owned by another user (uid {NOBODY})" in run.stderr
    assert "'chown' this one to yourself" in run.stderr and "--cache-dir DIR" in run.stderr
    assert list(cache.iterdir()) == []


def test_cache_dir_that_is_a_file_is_refused(tmp_path: Path, archive: Path) -> None:
    cache = tmp_path / "cache"
    cache.write_text("not a directory\n")
    run = layerscan(cache, "image", "--input", str(archive), "-f", "json", cwd=tmp_path)
    assert run.returncode == 3, run.stderr
    assert f"cache dir {cache} is not a directory" in run.stderr and "Traceback" not in run.stderr


def test_existing_private_cache_is_used_as_it_is(tmp_path: Path, archive: Path) -> None:
    cache = tmp_path / "cache"
    cache.mkdir()
    os.chmod(cache, 0o755)  # not writable by anyone else: fine, and not "fixed" behind the user's back
    run = layerscan(cache, "image", "--input", str(archive), "-f", "json", "--sbom-only", cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    assert stat.S_IMODE(cache.stat().st_mode) == 0o755
    assert stat.S_IMODE((cache / "layers").stat().st_mode) == 0o700
