"""Inventory: source -> walk -> analyzers (per layer, cached) -> squash -> Sbom.

    scan_image(source, ScanOptions(mode="image", cache_dir=...), progress) -> Sbom
    scan_directory(path, ScanOptions(mode="rootfs" | "fs"), progress) -> Sbom

Layers are analysed in parallel (``options.parallel`` forked processes for local blobs
when nothing else runs and a core is free, ``scan.forked``; threads otherwise, where only
decompression and hashing release the GIL), each looked up in the layer cache first, so a warm rescan
walks no layer: a cache hit only has the source check the blob's digest
(``ImageSource.verify_layer``: hashing, no inflating; a registry trusts its
content addresses), so bytes that differ from what the descriptor claims never
get a cached answer. Every layer that is read is read to EOF, so the source
verifies its digest, and the walk checks its diff_id. A layer that cannot be
read (truncated, corrupt, xz/bzip2) is left out with an unknown naming it
(``UNREADABLE_LAYER``): the scan goes on with the others. When the stacked image
reaches a package database through a symlink, the layers holding its real
location are walked again for it (``walk.links``); when it holds a lockfile whose sibling
files (``Analyzer.siblings``) are in its final view, the lockfile's layer is walked again
for it with them (``walk.siblings``).
"""

from __future__ import annotations

import logging
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from layerscan.analyzers import analyzers_for
from layerscan.analyzers.base import Analyzer
from layerscan.errors import ImageError, UnreadableLayerError, UsageError
from layerscan.limits import Limits
from layerscan.model import ImageMeta, LayerInfo, OSInfo, Package, Sbom, Unknown
from layerscan.progress import NULL_PROGRESS, Progress
from layerscan.source.base import ImageSource, LayerDescriptor, ProgressReader, created_by_per_layer
from layerscan.walk.analysis import UNREADABLE_LAYER, LayerAnalysis, PathFilter
from layerscan.walk.cache import LayerCache, cache_key
from layerscan.walk.fswalk import analyze_directory
from layerscan.walk.layer import analyze_layer
from layerscan.walk.links import Redirects, merge_redirected, plan_redirects
from layerscan.walk.siblings import SiblingPlan, merge_paired, plan_siblings
from layerscan.walk.squash import SquashedImage, live_links, squash

log = logging.getLogger(__name__)
MODES = ("image", "rootfs", "fs")
ARTIFACT_TYPES = {"image": "container_image", "rootfs": "rootfs", "fs": "filesystem"}


@dataclass(frozen=True)
class ScanOptions:
    mode: str  # "image" | "rootfs" | "fs"
    cache_dir: Path | None = None  # layer cache root; None disables the cache
    include_dev_deps: bool = False
    parallel: int = 2
    skip_dirs: tuple[str, ...] = ()
    limits: Limits = Limits()  # bytes and tar members a layer may have


def _check_mode(options: ScanOptions, allowed: Sequence[str]) -> None:
    if options.mode not in allowed:
        raise UsageError(f"scan mode {options.mode!r} is not one of {', '.join(allowed)}")


# -- image -------------------------------------------------------------------


def _layer_name(desc: LayerDescriptor) -> str:
    return f"layer {desc.index} ({desc.digest or desc.diff_id})"


class _LayerJob:
    def __init__(self, source: ImageSource, analyzers: Sequence[Analyzer], options: ScanOptions,
                 progress: Progress) -> None:
        self.source = source
        self.analyzers = analyzers
        self.options = options
        self.progress = progress
        self.cache = LayerCache(options.cache_dir) if options.cache_dir else None
        self.skip = PathFilter(options.skip_dirs)

    def __call__(self, desc: LayerDescriptor) -> LayerAnalysis:
        """The layer's analysis; an unreadable layer (truncated, corrupt, unsupported
        compression) gives an empty one holding an UNREADABLE_LAYER unknown."""
        try:
            return self._cached_or_fresh(desc)
        except UnreadableLayerError as exc:
            log.debug("%s: unreadable: %s", _layer_name(desc), exc)
            return unreadable_layer(desc, exc)

    def key(self, desc: LayerDescriptor) -> str:
        return cache_key(desc.digest, desc.diff_id, self.analyzers, self.options.mode, self.options.skip_dirs)

    def _cached_or_fresh(self, desc: LayerDescriptor, redirect: Redirects | None = None,
                         pairs: SiblingPlan | None = None) -> LayerAnalysis:
        key = self.key(desc)
        key = redirect.cache_key(key) if redirect is not None else pairs.cache_key(key) if pairs is not None else key
        if self.cache is not None:
            cached = self.cache.get(key)
            if cached is not None:
                self._verify(self.cache, desc)  # the entry is for that digest: is this blob that digest?
                log.debug("%s: layer cache hit (%d analysed files)", _layer_name(desc), len(cached.results))
                return cached
            log.debug("%s: layer cache miss", _layer_name(desc))
        started = time.perf_counter()
        identity = self.source.blob_identity(desc) if self.cache is not None else ""
        analysis = self._analyze(desc, redirect, pairs)
        log.debug("%s: %d bytes, %s, %d analysed files in %.3fs", _layer_name(desc), max(desc.size, 0),
                  analysis.compression or "plain", len(analysis.results), time.perf_counter() - started)
        if self.cache is not None:
            self.cache.put(key, analysis)
            self.cache.mark_verified(identity, desc.digest)  # read to EOF: digest and diff_id checked
        return analysis

    def _verify(self, cache: LayerCache, desc: LayerDescriptor) -> None:
        """Hash the stored blob, unless this very file (same stat identity) was hashed before."""
        identity = self.source.blob_identity(desc)
        if cache.verified(identity, desc.digest):
            return
        log.debug("%s: hashing the stored blob before trusting its cache entry", _layer_name(desc))
        self.source.verify_layer(desc)
        cache.mark_verified(identity, desc.digest)

    def redirected(self, desc: LayerDescriptor, redirect: Redirects) -> LayerAnalysis:
        """The files of ``desc`` at the real locations of symlinked package databases."""
        try:
            return self._cached_or_fresh(desc, redirect)
        except UnreadableLayerError as exc:
            return unreadable_layer(desc, exc)

    def paired(self, desc: LayerDescriptor, pairs: SiblingPlan) -> LayerAnalysis:
        """The files of ``desc`` that ``pairs`` names, analysed with their siblings."""
        try:
            return self._cached_or_fresh(desc, pairs=pairs)
        except UnreadableLayerError as exc:
            return unreadable_layer(desc, exc)

    def _analyze(self, desc: LayerDescriptor, redirect: Redirects | None = None,
                 pairs: SiblingPlan | None = None) -> LayerAnalysis:
        task = self.progress.task(f"analyzing {_layer_name(desc)}", desc.size if desc.size >= 0 else None)
        try:
            raw = self.source.open_layer(desc)
            try:
                # fresh analyzer instances per layer: layers run in parallel threads
                analyzers = [type(a)() for a in self.analyzers]
                limits = self.options.limits
                return analyze_layer(ProgressReader(raw, task.advance), _layer_name(desc),  # type: ignore[arg-type]
                                     analyzers, skip=self.skip, max_bytes=limits.max_layer_bytes,
                                     max_entries=limits.max_layer_entries, redirect=redirect, pairs=pairs,
                                     # a stored plain tar is its own diff_id, checked as the blob's digest
                                     diff_id="" if desc.digest == desc.diff_id else desc.diff_id)
            finally:
                raw.close()
        finally:
            task.close()


def _layer_infos(descs: Sequence[LayerDescriptor], analyses: Sequence[LayerAnalysis],
                 created_by: Sequence[str]) -> list[LayerInfo]:
    infos = []
    for desc, analysis, step in zip(descs, analyses, created_by):
        stored_plain = analysis.compression == "none" or desc.digest == desc.diff_id
        infos.append(LayerInfo(index=desc.index, diff_id=desc.diff_id, digest="" if stored_plain else desc.digest,
                               created_by=desc.created_by or step, media_type=desc.media_type,
                               size=max(desc.size, 0)))
    return infos


def _labels(config: dict) -> tuple[tuple[str, str], ...]:
    inner = config.get("config") or config.get("container_config") or {}
    labels = inner.get("Labels") if isinstance(inner, dict) else None
    if not isinstance(labels, dict):
        return ()
    return tuple(sorted((str(k), str(v)) for k, v in labels.items()))


def _str(config: dict, key: str) -> str:
    value = config.get(key)
    return value if isinstance(value, str) else ""


def analyze_image_layers(source: ImageSource, options: ScanOptions, progress: Progress = NULL_PROGRESS,
                         analyzers: Sequence[Analyzer] | None = None,
                         ) -> tuple[list[LayerDescriptor], list[LayerAnalysis]]:
    """Every layer's analysis (cached or fresh), in stacking order.

    A blob that occurs several times (the same empty layer after WORKDIR steps)
    is read and analysed once. ``analyzers``: the registry's for the scan mode unless given."""
    descs = sorted(source.layers(), key=lambda d: d.index)
    unique: dict[tuple[str, str], LayerDescriptor] = {}
    for desc in descs:
        unique.setdefault((desc.digest, desc.diff_id), desc)
    job = _LayerJob(source, analyzers_for(options.mode) if analyzers is None else analyzers, options, progress)
    todo = list(unique.values())
    workers = max(1, min(options.parallel, len(todo)))
    if workers == 1:
        done = [job(d) for d in todo]
    elif _forkable(job, todo):
        from layerscan.scan.forked import map_forked

        largest_first = sorted(todo, key=lambda d: -d.size)  # the last layer taken is a small one
        by_desc = dict(zip(map(id, largest_first), map_forked(job, largest_first, workers)))
        done = [by_desc[id(d)] for d in todo]
    else:
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="layerscan-layer") as pool:
            done = list(pool.map(job, todo))
    by_blob = {(d.digest, d.diff_id): analysis for d, analysis in zip(todo, done)}
    analyses = [by_blob[(d.digest, d.diff_id)] for d in descs]
    return descs, _pair_siblings(job, descs, _follow_links(job, descs, analyses))


def _forkable(job: _LayerJob, todo: Sequence[LayerDescriptor]) -> bool:
    """Analyse in forked processes (``scan.forked``) rather than threads: the walk and the
    analyzers hold the GIL, so threads share one core. For local blobs (a registry's open
    connections must not be shared with a child), no progress display, and at least two
    layers to walk (cache hits are cheaper here than a fork), while a core is free."""
    from layerscan.scan import forked

    if job.progress is not NULL_PROGRESS or not all(job.source.blob_identity(d) for d in todo):
        return False
    walks = len(todo) if job.cache is None else sum(not job.cache.has(job.key(d)) for d in todo)
    return walks >= 2 and forked.available(len(todo)) and forked.core_free()


def _pair_siblings(job: _LayerJob, descs: list[LayerDescriptor],
                   analyses: list[LayerAnalysis]) -> list[LayerAnalysis]:
    """Walk again the layers holding a lockfile whose sibling files the stacked image holds
    (``walk.siblings``)."""
    plans = plan_siblings(analyses, job.analyzers)
    out = []
    for desc, analysis, plan in zip(descs, analyses, plans):
        if plan:
            log.debug("%s: walked again for %d file(s) with sibling files", _layer_name(desc), len(plan.files))
            analysis = merge_paired(analysis, job.paired(desc, plan))
        out.append(analysis)
    return out


def _follow_links(job: _LayerJob, descs: list[LayerDescriptor],
                  analyses: list[LayerAnalysis]) -> list[LayerAnalysis]:
    """Walk again (once per blob) the layers holding a package database that the stacked image
    reaches through a symlink (``walk.links``)."""
    redirect = plan_redirects(live_links(analyses), job.analyzers)
    if not redirect:
        return analyses
    extra: dict[tuple[str, str], LayerAnalysis] = {}
    out = []
    for desc, analysis in zip(descs, analyses):
        if redirect.touches(analysis):
            blob = (desc.digest, desc.diff_id)
            if blob not in extra:
                log.debug("%s: walked again for symlinked package databases", _layer_name(desc))
                extra[blob] = job.redirected(desc, redirect)
            analysis = merge_redirected(analysis, extra[blob], redirect)
        out.append(analysis)
    return out


def unreadable_layer(desc: LayerDescriptor, exc: UnreadableLayerError) -> LayerAnalysis:
    """What an unreadable layer contributes: nothing but the unknown naming it (path "/": all of it)."""
    name, message = _layer_name(desc), str(exc)
    if message.startswith(f"layer {desc.digest} "):  # the source's own name for it
        message = name + message[len(f"layer {desc.digest}"):]
    elif not message.startswith(name):
        message = f"{name}: {message}"
    return LayerAnalysis(unknowns=(Unknown(path="/", reason=message, analyzer=UNREADABLE_LAYER),))


def scan_image(source: ImageSource, options: ScanOptions, progress: Progress = NULL_PROGRESS) -> Sbom:
    _check_mode(options, ("image",))
    config_blob = source.config()
    config = config_blob.parsed()
    descs, analyses = analyze_image_layers(source, options, progress)
    created_by = created_by_per_layer(config, len(descs))
    infos = _layer_infos(descs, analyses, created_by)
    squashed = squash(analyses, infos)
    meta = ImageMeta(
        image_id=config_blob.digest,
        diff_ids=tuple(d.diff_id for d in descs),
        repo_tags=tuple(source.repo_tags),
        repo_digests=tuple(source.repo_digests),
        layers=tuple(infos),
        os=_str(config, "os"),
        architecture=_str(config, "architecture"),
        variant=_str(config, "variant"),
        config_json=config_blob.raw.decode("utf-8", "replace"),
        labels=_labels(config),
        annotations=tuple(source.annotations),
    )
    return _finish(source.name, "container_image", squashed, options, meta)


# -- directories -------------------------------------------------------------


def scan_directory(path: Path, options: ScanOptions, progress: Progress = NULL_PROGRESS) -> Sbom:
    _check_mode(options, ("rootfs", "fs"))
    path = Path(path)
    if not path.exists():
        raise ImageError(f"{path}: no such directory")
    task = progress.task(f"analyzing {path}", None)
    try:
        analysis = analyze_directory(path, analyzers_for(options.mode), rootfs=options.mode == "rootfs",
                                     skip_dirs=options.skip_dirs, on_file=task.advance)
    finally:
        task.close()
    squashed = squash([analysis], [None])
    return _finish(str(path), ARTIFACT_TYPES[options.mode], squashed, options, None)


# -- common ------------------------------------------------------------------


def _detect_os(squashed: SquashedImage) -> OSInfo | None:
    from layerscan.analyzers.os.release import infer_os, pick_os

    return pick_os(squashed.os_candidates) or squashed.os or infer_os(p.type for p in squashed.packages)


def _finish(name: str, artifact_type: str, squashed: SquashedImage, options: ScanOptions,
            meta: ImageMeta | None) -> Sbom:
    from layerscan.analyzers.os.purl import with_distro

    os_info = _detect_os(squashed)
    packages: list[Package] = [with_distro(p, os_info) for p in squashed.packages
                               if options.include_dev_deps or not p.dev]
    return Sbom(artifact_name=name, artifact_type=artifact_type, os=os_info, image=meta,
                packages=tuple(packages), unknowns=squashed.unknowns)


__all__ = ["MODES", "ScanOptions", "analyze_image_layers", "scan_directory", "scan_image"]
