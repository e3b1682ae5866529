"""``layerscan clean --all | --scan-cache | --vuln-db`` (Trivy's ``clean``).

Removes only our own subdirectories of the cache root: ``layers/`` (the layer
analysis cache, walk/cache.py) and ``db/`` (the vulnerability database and its
downloaded feeds). Nothing else in the root is touched, and the root itself is
kept. Refused before anything is removed: a cache root that is ``/``, ``$HOME``
or above it; a ``layers``/``db`` entry that is a symbolic link or not a
directory (never followed out of the root); a database being rebuilt. Trivy's
``--java-db``, ``--checks-bundle`` and ``--vex-repo`` are accepted: layerscan
keeps none of those, so there is nothing to remove.
"""

from __future__ import annotations

import argparse
import os
import shutil
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable

from layerscan.cli.parser import PROG
from layerscan.errors import LayerscanError, UsageError


@dataclass(frozen=True)
class Target:
    flag: str  # the option that selects it (dest)
    subdir: str  # directory under the cache root
    what: str


TARGETS = (Target("scan_cache", "layers", "layer cache"), Target("vuln_db", "db", "vulnerability database"))
NOT_KEPT = {"java_db": "Java database (jars are identified offline)", "checks_bundle": "checks bundle",
            "vex_repo": "VEX repository"}


@dataclass(frozen=True)
class Removal:
    target: Target
    path: Path
    size: int  # bytes of disk space the directory used; 0 when it did not exist
    existed: bool


def register(subparsers: argparse._SubParsersAction[Any],
             add_global: Callable[[argparse.ArgumentParser], None]) -> None:
    summary = "remove the layer cache and/or the vulnerability database from the cache dir"
    cmd = subparsers.add_parser("clean", help=summary, description=summary)
    cmd.add_argument("--all", "-a", dest="clean_all", action="store_true",
                     help="remove the layer cache and the vulnerability database")
    cmd.add_argument("--scan-cache", dest="scan_cache", action="store_true",
                     help="remove the layer cache (CACHE_DIR/layers)")
    cmd.add_argument("--vuln-db", dest="vuln_db", action="store_true",
                     help="remove the vulnerability database and downloaded feeds (CACHE_DIR/db)")
    for dest, what in NOT_KEPT.items():
        cmd.add_argument("--" + dest.replace("_", "-"), dest=dest, action="store_true",
                         help=f"accepted for Trivy compatibility: layerscan keeps no {what.split(' (')[0]}")
    add_global(cmd)


def _same(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def check_root(root: Path) -> Path:
    """The resolved cache root; refuses ``/``, ``$HOME`` and the directories above it."""
    if not str(root).strip():
        raise UsageError("clean: the cache dir is empty; give --cache-dir DIR")
    real = Path(os.path.realpath(root))
    home = Path(os.path.realpath(Path.home()))
    if real == Path(real.anchor) or _same(real, Path("/")):
        raise UsageError(f"clean: refusing to clean the cache dir {root}: it is the root directory")
    if real == home or real in home.parents or _same(real, home):
        raise UsageError(f"clean: refusing to clean the cache dir {root}: it is the home directory or above it")
    return real


def _disk_usage(top: Path) -> int:
    """Bytes of disk the tree uses (each inode once; links are not followed)."""
    seen: set[tuple[int, int]] = set()
    total = 0
    for dirpath, dirnames, filenames in os.walk(top, followlinks=False):
        for name in (*dirnames, *filenames):
            try:
                st = os.lstat(os.path.join(dirpath, name))
            except OSError:
                continue
            if (st.st_dev, st.st_ino) in seen:
                continue
            seen.add((st.st_dev, st.st_ino))
            total += getattr(st, "st_blocks", 0) * 512 or st.st_size
    return total


def _checked(root: Path, target: Target) -> Path | None:
    """The target's directory, None when absent; refuses a link or a non-directory."""
    path = root / target.subdir
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise LayerscanError(f"clean: cannot inspect {path}: {exc.strerror or exc}") from None
    if stat.S_ISLNK(st.st_mode):
        raise LayerscanError(f"clean: {path} is a symbolic link; not following it (nothing was removed)")
    if not stat.S_ISDIR(st.st_mode):
        raise LayerscanError(f"clean: {path} is not a directory layerscan made (nothing was removed)")
    return path


def _remove(path: Path) -> int:
    size = _disk_usage(path)
    try:
        shutil.rmtree(path)  # does not follow symbolic links inside the tree
    except OSError as exc:
        raise LayerscanError(f"clean: cannot remove {path}: {exc.strerror or exc}") from None
    return size


def clean(root: Path, targets: Iterable[Target]) -> list[Removal]:
    """Remove the targets' directories under ``root`` (checked first, all of them)."""
    real = check_root(root)
    planned = [(t, _checked(real, t)) for t in targets]
    removals = []
    for target, path in planned:
        if path is None:
            removals.append(Removal(target, real / target.subdir, 0, False))
        elif target.subdir == "db":
            from layerscan.db.lock import BuildLock
            from layerscan.db.update import db_path

            with BuildLock(db_path(real), timeout=0):  # not while a database is being built
                removals.append(Removal(target, path, _remove(path), True))
        else:
            removals.append(Removal(target, path, _remove(path), True))
    return removals


def human_size(size: int) -> str:
    if size < 1000:
        return f"{size} B"
    value = size / 1000
    for unit in ("kB", "MB"):
        if value < 1000:
            return f"{value:.1f} {unit}"
        value /= 1000
    return f"{value:.1f} GB"


def run(args: argparse.Namespace, cache_dir: Path) -> int:
    chosen = [t for t in TARGETS if args.clean_all or getattr(args, t.flag)]
    not_kept = [what for dest, what in NOT_KEPT.items() if getattr(args, dest)]
    if not chosen and not not_kept:
        raise UsageError(f"clean: say what to remove: --all, --scan-cache or --vuln-db (see '{PROG} clean --help')")
    from layerscan.report.document import printable

    removals = clean(cache_dir, chosen) if chosen else []
    for r in removals:
        where = printable(str(r.path))
        print(f"removed {r.target.what}: {where} ({human_size(r.size)})" if r.existed
              else f"no {r.target.what} to remove: {where} does not exist")
    for what in not_kept:
        print(f"layerscan keeps no {what}: nothing to remove")
    if removals:
        print(f"freed {human_size(sum(r.size for r in removals))}")
    return 0
