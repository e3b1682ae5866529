"""``db update``: fetch the upstream feeds into ``<cache>/db/feeds/`` and rebuild
``<cache>/db/layerscan.db``.

Every source's base URL can be overridden (``UpdateOptions.urls`` or the env
variable ``LAYERSCAN_DB_<SOURCE>_URL``, e.g. ``LAYERSCAN_DB_OSV_URL``) so a local
mirror works. Requests are conditional (ETag / Last-Modified remembered in the
database metadata). OSV is synced incrementally after the first full download:
``<base>/<Ecosystem>/modified_id.csv`` lists records by modification time and
only the newer ones are fetched (``<base>/<Ecosystem>/<ID>.json``) into an
overlay that replaces the ``all.zip`` records by id. NVD (CVE API 2.0, see
``nvdapi``) is downloaded in full once, then incrementally by modification date.
A source whose download
fails is built from its cached file if there is one, otherwise its previous
rows are kept in the database.
"""

from __future__ import annotations

import functools
import os
import shutil
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Callable, Mapping
from urllib.parse import quote, urljoin

from layerscan.db.build import BuildInput, BuildResult, build_database
from layerscan.db.feeds.osv import parse_modified_ids
from layerscan.db.feeds.updateinfo import MAX_REPOMD_BYTES, updateinfo_location
from layerscan.db.fetch import Fetcher, Validators
from layerscan.db.lock import BuildLock
from layerscan.db.nvdapi import DEFAULT_URL as NVD_URL
from layerscan.db.nvdapi import NvdLimits, fetch_pages, query_from, windows
from layerscan.db import redhat_sync
from layerscan.db.schema import DB_FILENAME
from layerscan.db.store import STATE_PREFIX, Store
from layerscan.errors import DatabaseError, FeedError, LayerscanError
from layerscan.progress import NULL_PROGRESS, Progress

DEFAULT_URLS = {
    "osv": "https://osv-vulnerabilities.storage.googleapis.com",
    "debian": "https://security-tracker.debian.org/tracker/data/json",
    "alpine": "https://secdb.alpinelinux.org",
    "wolfi": "https://packages.wolfi.dev/os/security.json",
    "chainguard": "https://packages.cgr.dev/chainguard/security.json",
    "kev": "https://www.cisa.gov/sites/default/files/feeds/known_exploited_vulnerabilities.json",
    "epss": "https://epss.empiricalsecurity.com/epss_scores-current.csv.gz",
    "eol": "https://endoflife.date/api",
    "nvd": NVD_URL,
    "oracle": "https://linux.oracle.com/security/oval/com.oracle.elsa-all.xml.bz2",
    "mariner": "https://raw.githubusercontent.com/microsoft/AzureLinuxVulnerabilityData/main",
    "redhat": redhat_sync.DEFAULT_URL,
    "amazon": "https://cdn.amazonlinux.com",
    "photon": "https://packages.broadcom.com/photon/photon_cve_metadata",
}
SOURCES = tuple(DEFAULT_URLS)
DEFAULT_ECOSYSTEMS = (
    "PyPI", "npm", "Maven", "Go", "crates.io", "RubyGems", "Packagist", "NuGet", "Pub", "Hex",
    "Debian", "Ubuntu", "Alpine", "AlmaLinux", "Rocky Linux", "SUSE", "openSUSE", "Bitnami", "GitHub Actions",
)
DEFAULT_ALPINE_BRANCHES = ("v3.16", "v3.17", "v3.18", "v3.19", "v3.20", "v3.21", "v3.22", "edge")
ALPINE_REPOS = ("main", "community")
DEFAULT_EOL_PRODUCTS = (
    "debian", "ubuntu", "alpine-linux", "rhel", "centos", "almalinux", "rocky-linux", "oracle-linux",
    "amazon-linux", "python", "nodejs", "go", "java", "ruby", "php", "dotnet",
)
FULL_RESYNC_THRESHOLD = 5000  # more changed OSV records than this: download all.zip again


@dataclass(frozen=True)
class UpdateOptions:
    cache_dir: Path
    sources: tuple[str, ...] = SOURCES
    ecosystems: tuple[str, ...] = DEFAULT_ECOSYSTEMS
    urls: Mapping[str, str] = field(default_factory=dict)
    alpine_branches: tuple[str, ...] = DEFAULT_ALPINE_BRANCHES
    eol_products: tuple[str, ...] = DEFAULT_EOL_PRODUCTS
    timeout: float = 60.0
    nvd_limits: NvdLimits = field(default_factory=NvdLimits)
    env: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))

    def url(self, source: str) -> str:
        env_key = f"LAYERSCAN_DB_{source.upper().replace('-', '_')}_URL"
        return (self.urls.get(source) or self.env.get(env_key) or DEFAULT_URLS[source]).rstrip("/")

    @property
    def db_path(self) -> Path:
        return db_path(self.cache_dir)

    @property
    def feed_dir(self) -> Path:
        return Path(self.cache_dir) / "db" / "feeds"


@dataclass(frozen=True)
class UpdateResult:
    changed: tuple[str, ...]  # source keys with new data
    failed: Mapping[str, str]  # source key -> why
    build: BuildResult | None  # None when nothing changed and no rebuild was needed


def db_path(cache_dir: Path) -> Path:
    return Path(cache_dir) / "db" / DB_FILENAME


@dataclass
class _Plan:
    """What the fetch phase decided: inputs to build, failures, changes, new state."""

    inputs: list[BuildInput] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)  # not fetched, no cached copy
    stale: dict[str, str] = field(default_factory=dict)  # not fetched, built from the cached copy
    changed: list[str] = field(default_factory=list)
    state: dict[str, str] = field(default_factory=dict)
    attempted: list[str] = field(default_factory=list)

    def nothing_fetched(self) -> bool:
        return bool(self.attempted) and len(self.failed) + len(self.stale) >= len(self.attempted)


def _load_state(path: Path) -> dict[str, str]:
    try:
        with Store.open(path) as store:
            return dict(store.metadata()["state"])
    except DatabaseError:
        return {}


def _validators(state: Mapping[str, str]) -> dict[str, Validators]:
    prefix = STATE_PREFIX + "http:"
    return {k[len(prefix):]: Validators.decode(v) for k, v in state.items() if k.startswith(prefix)}


def _fetch_files(fetcher: Fetcher, items: list[tuple[str, Path]], plan: _Plan, key: str,
                 paths: tuple[Path, ...], feed: str) -> None:
    """Fetch every (url, dest) of one source; build from cache if some fail and a copy exists."""
    errors = []
    for url, dest in items:
        try:
            if fetcher.get(url, dest, key).changed:
                plan.changed.append(key)
        except FeedError as exc:
            errors.append(str(exc))
    _settle(plan, key, errors, len(items), any(dest.exists() for _, dest in items), paths, feed)


def _settle(plan: _Plan, key: str, errors: list[str], attempts: int, have: bool, paths: tuple[Path, ...],
            feed: str) -> None:
    """After fetching one source's files: failed (nothing cached), stale (every download failed,
    built from the cache), else built from what is there."""
    if errors and not have:
        plan.failed[key] = "; ".join(errors)[:500]
        return
    if errors and len(errors) == attempts:
        plan.stale[key] = "; ".join(errors)[:500]
    plan.inputs.append(BuildInput(paths=paths, feed=feed, covers=(key,)))


def _osv_ecosystem(fetcher: Fetcher, opts: UpdateOptions, eco: str, plan: _Plan) -> None:
    key, base = f"osv:{eco}", f"{opts.url('osv')}/{quote(eco)}"
    root = opts.feed_dir / "osv" / eco
    all_zip, overlay, sync_key = root / "all.zip", root / "records", f"{STATE_PREFIX}osv-sync:{eco}"
    try:
        listing = fetcher.get(f"{base}/modified_id.csv", root / "modified_id.csv", key)
        rows = parse_modified_ids(listing.path.read_bytes())
        synced = plan.state.get(sync_key, "")
        newer = [vid for ts, vid in rows if ts > synced]
        if not all_zip.exists() or not synced or len(newer) > FULL_RESYNC_THRESHOLD:
            fetcher.get(f"{base}/all.zip", all_zip, key)
            shutil.rmtree(overlay, ignore_errors=True)
            plan.changed.append(key)
        elif newer:
            overlay.mkdir(parents=True, exist_ok=True)
            for vid in newer:
                fetcher.get(f"{base}/{quote(vid)}.json", overlay / f"{vid}.json", key)
            plan.changed.append(key)
        if rows:
            plan.state[sync_key] = max(ts for ts, _ in rows)
    except (FeedError, OSError) as exc:
        if not all_zip.exists():
            plan.failed[key] = str(exc)[:500]
            return
        plan.stale[key] = str(exc)[:500]
    plan.inputs.append(BuildInput(paths=(all_zip,), feed="osv", overlay=overlay, covers=(key,)))


def _single_file(source: str, name: str) -> Callable[[Fetcher, UpdateOptions, _Plan], None]:
    def fetch(fetcher: Fetcher, opts: UpdateOptions, plan: _Plan) -> None:
        dest = opts.feed_dir / source / name
        _fetch_files(fetcher, [(opts.url(source), dest)], plan, source, (dest,), source)
    return fetch


def _alpine(fetcher: Fetcher, opts: UpdateOptions, plan: _Plan) -> None:
    root = opts.feed_dir / "alpine"
    items = [(f"{opts.url('alpine')}/{b}/{r}.json", root / b / f"{r}.json")
             for b in opts.alpine_branches for r in ALPINE_REPOS]
    _fetch_files(fetcher, items, plan, "alpine", (root,), "alpine")


def _eol(fetcher: Fetcher, opts: UpdateOptions, plan: _Plan) -> None:
    root = opts.feed_dir / "eol"
    items = [(f"{opts.url('eol')}/{p}.json", root / f"{p}.json") for p in opts.eol_products]
    _fetch_files(fetcher, items, plan, "eol", (root,), "eol")


MARINER_FILES = ("cbl-mariner-1.0-oval.xml", "cbl-mariner-2.0-oval.xml", "azurelinux-3.0-oval.xml")


def _mariner(fetcher: Fetcher, opts: UpdateOptions, plan: _Plan) -> None:
    """CBL-Mariner / Azure Linux: one OVAL file per release (the release is in the name)."""
    root = opts.feed_dir / "mariner"
    items = [(f"{opts.url('mariner')}/{name}", root / name) for name in MARINER_FILES]
    _fetch_files(fetcher, items, plan, "mariner", (root,), "mariner")


AMAZON_MIRROR_LISTS = {  # release -> its core repository's mirror.list, under the "amazon" base URL
    "1": "2018.03/updates/x86_64/mirror.list",
    "2": "2/core/latest/x86_64/mirror.list",
    "2023": "al2023/core/mirrors/latest/x86_64/mirror.list",
}
AMAZON_1_URL = "http://repo.us-west-2.amazonaws.com"  # AL1's mirror list is served there, not by the CDN
_MAX_MIRROR_LIST = 64 * 1024


def _amazon_mirror_list(opts: UpdateOptions, release: str) -> str:
    base = opts.url("amazon")
    if release == "1" and base == DEFAULT_URLS["amazon"]:
        base = AMAZON_1_URL
    return f"{base}/{AMAZON_MIRROR_LISTS[release]}"


def _small_file(path: Path, limit: int) -> bytes:
    with open(path, "rb") as fh:
        data = fh.read(limit + 1)
    if len(data) > limit:
        raise FeedError(f"{path.name}: larger than {limit} bytes")
    return data


def _first_mirror(path: Path) -> str:
    """The first http(s) repository URL of a yum mirror.list."""
    for line in _small_file(path, _MAX_MIRROR_LIST).decode("utf-8", "replace").splitlines():
        line = line.strip()
        if line.startswith(("https://", "http://")) and not any(c.isspace() for c in line):
            return line.rstrip("/")
    raise FeedError(f"{path}: no http(s) repository URL in the mirror list")


def _amazon_release(fetcher: Fetcher, opts: UpdateOptions, release: str, root: Path) -> bool:
    """mirror.list -> repodata/repomd.xml -> the updateinfo it names; True if the updateinfo changed."""
    here = root / release
    listing = fetcher.get(_amazon_mirror_list(opts, release), here / "mirror.list", "amazon")
    repo = _first_mirror(listing.path)
    repomd = fetcher.get(f"{repo}/repodata/repomd.xml", here / "repomd.xml", "amazon")
    href = updateinfo_location(_small_file(repomd.path, MAX_REPOMD_BYTES), f"{repo}/repodata/repomd.xml")
    name, other = ("updateinfo.xml.gz", "updateinfo.xml") if href.endswith(".gz") else ("updateinfo.xml",
                                                                                        "updateinfo.xml.gz")
    result = fetcher.get(urljoin(f"{repo}/", href), here / name, "amazon")
    (here / other).unlink(missing_ok=True)  # the repository switched compression: keep one copy
    return result.changed


def _amazon_files(root: Path) -> tuple[Path, ...]:
    return tuple(sorted(root.glob("*/updateinfo.xml*")))


def _amazon(fetcher: Fetcher, opts: UpdateOptions, plan: _Plan) -> None:
    """Amazon Linux 1, 2 and 2023: each release's updateinfo from its core repository."""
    root, errors = opts.feed_dir / "amazon", []
    for release in AMAZON_MIRROR_LISTS:
        try:
            if _amazon_release(fetcher, opts, release, root):
                plan.changed.append("amazon")
        except (FeedError, OSError) as exc:
            errors.append(f"Amazon Linux {release}: {exc}")
    _settle(plan, "amazon", errors, len(AMAZON_MIRROR_LISTS), bool(_amazon_files(root)), _amazon_files(root),
            "amazon")


PHOTON_RELEASES = ("3.0", "4.0", "5.0")


def _photon(fetcher: Fetcher, opts: UpdateOptions, plan: _Plan) -> None:
    """Photon OS: one cve_data_photon<X.Y>.json per release (the release is in the name)."""
    root = opts.feed_dir / "photon"
    items = [(f"{opts.url('photon')}/cve_data_photon{r}.json", root / f"cve_data_photon{r}.json")
             for r in PHOTON_RELEASES]
    _fetch_files(fetcher, items, plan, "photon", (root,), "photon")


NVD_SYNC_KEY = f"{STATE_PREFIX}nvd-sync"  # end date of the last complete NVD download


def _nvd_run_dir(root: Path, now: datetime) -> Path:
    """One directory per run, named so that newer runs sort first: the importer keeps the
    first record of a CVE it reads, so an incremental run's records replace older ones."""
    return root / f"run-{10 ** 16 - int(now.timestamp() * 1_000_000):016d}"


def _nvd(fetcher: Fetcher, opts: UpdateOptions, plan: _Plan) -> None:
    root, now = opts.feed_dir / "nvd", datetime.now(timezone.utc)
    since = _parse_iso(plan.state.get(NVD_SYNC_KEY, "")) if any(root.glob("run-*")) else None
    if since is None:
        shutil.rmtree(root, ignore_errors=True)  # a full download replaces everything
    run = _nvd_run_dir(root, now)
    spans: list[tuple[datetime, datetime] | None] = [None] if since is None else list(windows(since, now))
    query = query_from(opts.url("nvd"), opts.env, opts.nvd_limits)
    try:
        if fetch_pages(fetcher, query, spans, run, fetcher.progress) or since is None:
            plan.changed.append("nvd")
        plan.state[NVD_SYNC_KEY] = _iso(now)
    except (FeedError, OSError) as exc:
        shutil.rmtree(run, ignore_errors=True)  # the next run asks again from the same date
        if not any(root.glob("run-*")):
            plan.failed["nvd"] = str(exc)[:500]
            return
        plan.stale["nvd"] = str(exc)[:500]
    plan.inputs.append(BuildInput(paths=(root,), feed="nvd", covers=("nvd",)))


def _parse_iso(text: str) -> datetime | None:
    try:
        return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)
    except ValueError:
        return None


def _redhat(fetcher: Fetcher, opts: UpdateOptions, plan: _Plan) -> None:
    """Red Hat CSAF advisories: the archive, then changes.csv / deletions.csv (``redhat_sync``)."""
    root = opts.feed_dir / "redhat"
    try:
        if redhat_sync.sync(fetcher, opts.url("redhat"), root, plan.state).changed:
            plan.changed.append("redhat")
    except (FeedError, OSError) as exc:
        if not (root / "advisories").is_dir():
            plan.failed["redhat"] = str(exc)[:500]
            return
        plan.stale["redhat"] = str(exc)[:500]
    plan.inputs.append(BuildInput(paths=(root / "advisories",), feed="redhat", covers=("redhat",)))


_FETCHERS: dict[str, Callable[[Fetcher, UpdateOptions, _Plan], None]] = {
    "debian": _single_file("debian", "tracker.json"),
    "alpine": _alpine,
    "wolfi": _single_file("wolfi", "security.json"),
    "chainguard": _single_file("chainguard", "security.json"),
    "kev": _single_file("kev", "known_exploited_vulnerabilities.json"),
    "epss": _single_file("epss", "epss_scores-current.csv.gz"),
    "eol": _eol,
    "nvd": _nvd,
    "oracle": _single_file("oracle", "com.oracle.elsa-all.xml.bz2"),  # one bz2 OVAL file, streamed
    "mariner": _mariner,
    "redhat": _redhat,
    "amazon": _amazon,
    "photon": _photon,
}


def _steps(opts: UpdateOptions) -> list[tuple[str, Callable[[Fetcher, _Plan], None]]]:
    """(source key, fetch) in order: one OSV step per ecosystem, then the other feeds."""
    steps: list[tuple[str, Callable[[Fetcher, _Plan], None]]] = []
    if "osv" in opts.sources:
        steps += [(f"osv:{eco}", functools.partial(_osv_step, opts=opts, eco=eco)) for eco in opts.ecosystems]
    steps += [(name, functools.partial(_feed_step, opts=opts, fetch=fetch)) for name, fetch in _FETCHERS.items()
              if name in opts.sources]
    return steps


def _osv_step(fetcher: Fetcher, plan: _Plan, *, opts: UpdateOptions, eco: str) -> None:
    _osv_ecosystem(fetcher, opts, eco, plan)


def _feed_step(fetcher: Fetcher, plan: _Plan, *, opts: UpdateOptions,
               fetch: Callable[[Fetcher, UpdateOptions, _Plan], None]) -> None:
    fetch(fetcher, opts, plan)


def _fetch_all(fetcher: Fetcher, opts: UpdateOptions, plan: _Plan, progress: Progress) -> None:
    steps = _steps(opts)
    overall = progress.task(f"update database: {len(steps)} sources", len(steps))
    try:
        for key, fetch in steps:
            plan.attempted.append(key)
            fetch(fetcher, plan)
            overall.advance(1)
    finally:
        overall.close()


def _nothing_fetched_error(plan: _Plan, target: Path) -> DatabaseError:
    why = {**plan.stale, **plan.failed}
    first_key = plan.attempted[0]
    kept = f"; the existing database is kept{_age_suffix(target)}" if target.exists() else "; there is no database yet"
    return DatabaseError(
        f"database update failed: none of the {len(plan.attempted)} sources could be downloaded "
        f"(first: {first_key}: {why.get(first_key, '')[:160]}){kept}",
        hint="check the network, proxy (HTTPS_PROXY) or mirror URLs (LAYERSCAN_DB_<SOURCE>_URL); "
             "offline, build one with 'layerscan db import DIR'")


def _age_suffix(target: Path) -> str:
    try:
        age = database_age(target)
    except LayerscanError:
        return ""
    return f" ({age.days}d {age.seconds // 3600}h old)"


def update_database(opts: UpdateOptions, progress: Progress = NULL_PROGRESS, force: bool = False) -> UpdateResult:
    """Fetch what changed upstream and rebuild the database (skipped when nothing changed)."""
    unknown = set(opts.sources) - set(SOURCES)
    if unknown:
        raise LayerscanError(f"unknown database source(s): {', '.join(sorted(unknown))}",
                             hint=f"choose from {', '.join(SOURCES)}")
    target = opts.db_path
    with BuildLock(opts.feed_dir / "update"):  # one updater owns the feed cache at a time
        _remove_partial_downloads(opts.feed_dir)
        plan = _Plan(state=_load_state(target))
        fetcher = Fetcher(_validators(plan.state), opts.timeout, progress)
        _fetch_all(fetcher, opts, plan, progress)
        plan.state.update({f"{STATE_PREFIX}http:{url}": v.encode() for url, v in fetcher.validators.items()})
        if plan.nothing_fetched():
            # a refresh that fetched nothing is a failure; never replace (or create) a database from it
            raise _nothing_fetched_error(plan, target)
        if not plan.changed and target.exists() and not force and not _needs_rebuild(target, plan):
            return UpdateResult((), {**plan.stale, **plan.failed}, None)
        metadata = {**plan.state, "next_update": _iso(datetime.now(timezone.utc) + timedelta(hours=24))}
        result = build_database(target, plan.inputs, failed=plan.failed, metadata=metadata, progress=progress)
    return UpdateResult(tuple(dict.fromkeys(plan.changed)), {**plan.stale, **plan.failed}, result)


def _remove_partial_downloads(feed_dir: Path) -> None:
    """Downloads of an updater that was killed (we hold the update lock: none is live)."""
    for partial in feed_dir.rglob(".*.part"):
        partial.unlink(missing_ok=True)


def _needs_rebuild(target: Path, plan: _Plan) -> bool:
    """A source we now have input for but the database lacks (e.g. a new --ecosystems entry)."""
    try:
        with Store.open(target) as store:
            present = set(store.metadata()["sources"])
    except DatabaseError:
        return True
    return any(c not in present for inp in plan.inputs for c in inp.covers)


def _iso(when: datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


def database_age(path: Path, now: Callable[[], datetime] = lambda: datetime.now(timezone.utc)) -> timedelta:
    with Store.open(path) as store:
        built = store.metadata().get("built_at", "")
    try:
        return now() - datetime.strptime(built, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)
    except ValueError as exc:
        raise DatabaseError(f"{path}: no valid built_at in metadata") from exc


def parse_duration(text: str) -> timedelta:
    """'7d', '12h', '30m', '1w' -> timedelta (Trivy-style --db-max-age)."""
    units = {"w": "weeks", "d": "days", "h": "hours", "m": "minutes", "s": "seconds"}
    text = text.strip().lower()
    if len(text) < 2 or text[-1] not in units or not text[:-1].isdigit():
        raise LayerscanError(f"invalid duration {text!r}", hint="use a number and a unit: 7d, 12h, 30m")
    return timedelta(**{units[text[-1]]: int(text[:-1])})
