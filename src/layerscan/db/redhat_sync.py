"""Mirror Red Hat's CSAF advisories (``<base>/archive_latest.txt`` names a ``.tar.zst`` of
every advisory; ``changes.csv`` / ``deletions.csv`` list what changed since) into a
directory tree ``<root>/advisories/<year>/<id>.json`` that ``db.feeds.redhat_csaf`` reads.

The archive is downloaded when ``archive_latest.txt`` names a new one (or the tree is
missing) and unpacked with bounds: only regular members named ``<year>/<name>.json``,
each at most ``MAX_MEMBER_BYTES``, ``MAX_ARCHIVE_BYTES`` in all, never a path outside
the tree. Then every advisory changed after the last sync (the archive's date on the
first run) is fetched over its old copy and every deleted one removed. A changed file
the server no longer has (404) is left for ``deletions.csv`` to settle; the sync date
then stops before it so the next run asks again.
"""

from __future__ import annotations

import csv
import io
import re
import shutil
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Iterator, MutableMapping

from layerscan.cachedir import open_private, private_dir
from layerscan.db.feeds.members import MAX_MEMBER_BYTES, MAX_MEMBERS
from layerscan.db.fetch import Fetcher, HttpStatusError
from layerscan.db.store import STATE_PREFIX
from layerscan.errors import FeedError

DEFAULT_URL = "https://security.access.redhat.com/data/csaf/v2/advisories"
ARCHIVE_KEY = f"{STATE_PREFIX}redhat-archive"  # name of the archive the tree was unpacked from
SYNC_KEY = f"{STATE_PREFIX}redhat-sync"  # newest changes.csv timestamp applied
MAX_ARCHIVE_BYTES = 32 * 1024 ** 3  # unpacked bytes of one archive
ZSTD_MAX_WINDOW = 1 << 27
_ARCHIVE_NAME = re.compile(r"^csaf_advisories_(\d{4}-\d{2}-\d{2})\.tar\.zst$")
_MEMBER_PATH = re.compile(r"^(?:\./)?(\d{4}/[A-Za-z0-9._-]{1,120}\.json)$")


@dataclass(frozen=True)
class SyncResult:
    changed: bool
    tree: Path
    missing: tuple[str, ...] = ()  # changed files the server answered 404 for


def archive_name(listing: bytes) -> str:
    """The archive named by ``archive_latest.txt``; FeedError if it is not one."""
    name = listing.decode("utf-8", "replace").strip()
    if not _ARCHIVE_NAME.match(name):
        raise FeedError(f"archive_latest.txt: unexpected archive name {name[:80]!r}")
    return name


def archive_date(name: str) -> str:
    m = _ARCHIVE_NAME.match(name)
    return f"{m.group(1)}T00:00:00+00:00" if m else ""


def member_path(name: str) -> str:
    """'2024/rhsa-2024_0010.json' (optionally './'-prefixed) -> that path; '' for anything else."""
    m = _MEMBER_PATH.match(name)
    return m.group(1) if m and ".." not in m.group(1) else ""


def listing_rows(data: bytes) -> list[tuple[str, str]]:
    """changes.csv / deletions.csv: ("2024/rhsa-2024_0010.json", "2025-02-18T14:28:08+00:00") rows."""
    rows = []
    for row in csv.reader(io.StringIO(data.decode("utf-8", "replace"))):
        if len(row) >= 2 and member_path(row[0].strip()):
            rows.append((member_path(row[0].strip()), row[1].strip()))
    return rows


def _copy_capped(src: IO[bytes], dest: Path, limit: int) -> int:
    total = 0
    with open_private(dest) as out:
        while chunk := src.read(1 << 20):
            total += len(chunk)
            if total > limit:
                raise FeedError(f"{dest.name}: archive member larger than {limit} bytes")
            out.write(chunk)
    return total


def unpack_archive(archive: Path, dest: Path, max_bytes: int = MAX_ARCHIVE_BYTES) -> int:
    """Unpack the advisories of a ``.tar.zst`` into ``dest`` (bounded); the number written."""
    import zstandard

    written, total = 0, 0
    try:
        with open(archive, "rb") as raw:
            reader = zstandard.ZstdDecompressor(max_window_size=ZSTD_MAX_WINDOW).stream_reader(
                raw, read_across_frames=True)
            with tarfile.open(fileobj=reader, mode="r|") as tar:
                for count, info in enumerate(tar):
                    rel = member_path(info.name)
                    if count >= MAX_MEMBERS:
                        raise FeedError(f"{archive.name}: more than {MAX_MEMBERS} members")
                    if not info.isreg() or not rel:
                        continue
                    if info.size > MAX_MEMBER_BYTES or total + info.size > max_bytes:
                        raise FeedError(f"{archive.name}: {info.name} would exceed the unpack limit")
                    src = tar.extractfile(info)
                    if src is None:
                        continue
                    target = dest / rel
                    private_dir(target.parent)
                    total += _copy_capped(src, target, MAX_MEMBER_BYTES)
                    written += 1
    except (tarfile.TarError, zstandard.ZstdError, EOFError, ValueError) as exc:
        raise FeedError(f"{archive.name}: not a readable .tar.zst ({exc})") from exc
    return written


def _fresh_tree(fetcher: Fetcher, base: str, root: Path, name: str, key: str) -> Path:
    archive = root / name
    fetcher.get(f"{base}/{name}", archive, key, remember=False)
    staging, tree, old = root / ".advisories.new", root / "advisories", root / ".advisories.old"
    shutil.rmtree(staging, ignore_errors=True)
    private_dir(staging)
    try:
        unpack_archive(archive, staging)
    except FeedError:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    shutil.rmtree(old, ignore_errors=True)
    if tree.exists():
        tree.rename(old)
    staging.rename(tree)
    shutil.rmtree(old, ignore_errors=True)
    archive.unlink(missing_ok=True)  # the tree is what we keep; a new name means a new archive
    return tree


def _newer(rows: list[tuple[str, str]], since: str) -> Iterator[tuple[str, str]]:
    return (row for row in rows if row[1] > since)


def sync(fetcher: Fetcher, base: str, root: Path, state: MutableMapping[str, str], key: str = "redhat") -> SyncResult:
    """Bring ``<root>/advisories`` up to date; ``state`` keeps the archive name and sync date.
    Raises FeedError (or OSError) when the listing or the archive cannot be had."""
    base, tree = base.rstrip("/"), root / "advisories"
    private_dir(root)
    latest = fetcher.get(f"{base}/archive_latest.txt", root / "archive_latest.txt", key)
    name = archive_name(latest.path.read_bytes())
    changed = False
    if name != state.get(ARCHIVE_KEY) or not tree.is_dir():
        _fresh_tree(fetcher, base, root, name, key)
        state[ARCHIVE_KEY], state[SYNC_KEY] = name, archive_date(name)
        changed = True
    since = state.get(SYNC_KEY, "")
    changes = listing_rows(fetcher.get(f"{base}/changes.csv", root / "changes.csv", key).path.read_bytes())
    deletions = listing_rows(fetcher.get(f"{base}/deletions.csv", root / "deletions.csv", key).path.read_bytes())
    missing: list[tuple[str, str]] = []
    for rel, stamp in _newer(changes, since):
        try:
            if fetcher.get(f"{base}/{rel}", tree / rel, key, remember=False).changed:
                changed = True
        except HttpStatusError as exc:
            if exc.status != 404:
                raise
            missing.append((rel, stamp))
    for rel, _ in _newer(deletions, since):
        if (tree / rel).exists():
            (tree / rel).unlink()
            changed = True
    stamps = [stamp for _, stamp in changes + deletions if stamp > since]
    if missing:
        first_missing = min(stamp for _, stamp in missing)
        stamps = [s for s in stamps if s < first_missing]
    if stamps:
        state[SYNC_KEY] = max(stamps)
    return SyncResult(changed, tree, tuple(rel for rel, _ in missing))
