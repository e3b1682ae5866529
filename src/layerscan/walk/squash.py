"""Stack per-layer analyses into the image's view, with layer attribution.

Layers are applied in order: opaque dirs and whiteouts delete what lower layers
had there (results of package databases under them included); a path replaced
by a non-directory (file, symlink, device) loses the lower layers' result there
and everything below it (a directory replaced by a file or a symlink is gone
whole); a path replaced by a directory loses a lower file's result; and a
layer's own results replace earlier ones at the same path.

Attribution: a package — keyed by (result path, file_path, type, name, version,
arch) — belongs to the OLDEST layer of its continuous presence. A layer that
rewrites /var/lib/dpkg/status leaves unchanged packages on their original
layer; an upgraded package (new version) moves to the upgrading layer; a
removed one disappears.

File ownership: ``owned_files`` ("deb:NAME" -> files) are merged into the
matching OS package's ``installed_files``; language packages whose file (the
part of file_path before any '!') an OS package installed get ``os_owner``, except the
packages of analyzers an OS package supersedes (binary classifiers: the OS package is that
binary), which are dropped.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Callable, Iterable, Iterator, Sequence, TypeVar

from layerscan.analyzers.base import AnalysisResult
from layerscan.analyzers.catalog import superseded_by_os_packages
from layerscan.model import LayerInfo, OSInfo, Package, Unknown
from layerscan.model.package import OS_TYPES
from layerscan.walk.analysis import LayerAnalysis, parents

PackageKey = tuple[str, str, str, str, str, str]
T = TypeVar("T")


@dataclass(frozen=True)
class SquashedImage:
    packages: tuple[Package, ...] = ()
    os: OSInfo | None = None  # the last surviving OS result (see os_candidates)
    os_candidates: tuple[tuple[str, OSInfo], ...] = ()  # (path, OSInfo) of surviving release files
    unknowns: tuple[Unknown, ...] = ()


@dataclass(frozen=True)
class _Placed:
    layer: int
    result: AnalysisResult


class _Hidden:
    """What one layer hides of the layers below it: whiteouts and opaque dirs (with everything
    under them), non-directory entries (a file, symlink or device replacing a directory
    removes the directory's whole tree) and directories (replacing a lower non-directory)."""

    def __init__(self, layer: LayerAnalysis) -> None:
        self.whiteouts = frozenset(layer.whiteouts)
        self.opaque = frozenset(layer.opaque_dirs)
        self.replaced = frozenset(layer.shadowed)
        self.dirs = frozenset(layer.dirs)
        self.trees = self.whiteouts | self.opaque | self.replaced

    def __bool__(self) -> bool:
        return bool(self.trees or self.dirs)

    def hides(self, path: str) -> bool:
        if path in self.whiteouts or path in self.replaced or path in self.dirs or "" in self.opaque:
            return True
        return any(p in self.trees for p in parents(path))


def _apply_deletions(state: dict[str, _Placed], layer: LayerAnalysis) -> None:
    hidden = _Hidden(layer)
    if state and hidden:
        for path in [p for p in state if hidden.hides(p)]:
            del state[path]


def _live(layers: Sequence[LayerAnalysis],
          entries_of: Callable[[LayerAnalysis], Iterable[tuple[str, T]]]) -> dict[str, T]:
    """Per-path entries of the layers, stacked the way results are: a later layer's entry at or
    above a path removes it; a later layer's own entry replaces it."""
    live: dict[str, T] = {}
    for layer in layers:
        hidden = _Hidden(layer)
        if live and hidden:
            for path in [p for p in live if hidden.hides(p)]:
                del live[path]
        live.update(entries_of(layer))
    return live


def live_links(layers: Sequence[LayerAnalysis]) -> dict[str, str]:
    """The symlinks of the stacked image (path -> target inside the image)."""
    return _live(layers, lambda layer: layer.links)


def live_siblings(layers: Sequence[LayerAnalysis], wanted: frozenset[str]) -> dict[str, bytes]:
    """The sibling files of the stacked image among the ``wanted`` paths (path -> content) that the
    layers kept (``LayerAnalysis.siblings``); a later layer's analysed file at the same path that
    was not kept (too large) replaces one too."""
    live = _live(layers, lambda layer: [*((path, None) for path, _ in layer.results if path in wanted),
                                        *((path, text) for path, text in layer.siblings if path in wanted)])
    return {path: text.encode("latin-1") for path, text in live.items() if text is not None}


def _key(path: str, pkg: Package) -> PackageKey:
    return (path, pkg.file_path, pkg.type, pkg.name, pkg.version, pkg.arch)


def _attribute(state: dict[str, _Placed], origin: dict[PackageKey, int], index: int) -> dict[PackageKey, int]:
    present: dict[PackageKey, int] = {}
    for path, placed in state.items():
        for pkg in placed.result.packages:
            key = _key(path, pkg)
            present[key] = origin.get(key, index)
    return present


def stack(layers: Sequence[LayerAnalysis]) -> tuple[dict[str, _Placed], dict[PackageKey, int]]:
    """The surviving results by path, and each surviving package's origin layer index."""
    state: dict[str, _Placed] = {}
    origin: dict[PackageKey, int] = {}
    for index, layer in enumerate(layers):
        _apply_deletions(state, layer)
        for path, result in layer.results:
            state[path] = _Placed(index, result)
        origin = _attribute(state, origin, index)
    return state, origin


def squash(layers: Sequence[LayerAnalysis], infos: Sequence[LayerInfo | None]) -> SquashedImage:
    """``infos[i]`` is attached to what layer ``i`` contributed (None for directory scans)."""
    if len(infos) != len(layers):
        raise ValueError("one LayerInfo (or None) per layer is needed")
    state, origin = stack(layers)
    ordered = sorted(state.items(), key=lambda item: (item[1].layer, item[0]))
    packages = [(origin[_key(path, pkg)], path, pkg) for path, placed in ordered for pkg in placed.result.packages]
    packages.sort(key=lambda item: item[0])  # stable: by origin layer, then path order
    owned = _owned_files(placed.result for _, placed in ordered)
    result = [pkg.with_layer(infos[layer]) for layer, _, pkg in packages]
    result = _mark_os_owned(_with_owned_files(result, owned))
    candidates = tuple((path, placed.result.os) for path, placed in ordered if placed.result.os is not None)
    unknowns = [replace(u, layer=infos[placed.layer]) for _, placed in ordered for u in placed.result.unknowns]
    unknowns += [replace(u, layer=infos[i]) for i, layer in enumerate(layers) for u in layer.unknowns]
    return SquashedImage(
        packages=tuple(result),
        os=candidates[-1][1] if candidates else None,
        os_candidates=candidates,
        unknowns=tuple(unknowns),
    )


def _owned_files(results: Iterator[AnalysisResult]) -> dict[str, set[str]]:
    owned: dict[str, set[str]] = {}
    for result in results:
        for key, files in result.owned_files:
            owned.setdefault(key, set()).update(files)
    return owned


def _with_owned_files(packages: list[Package], owned: dict[str, set[str]]) -> list[Package]:
    if not owned:
        return packages
    out = []
    for pkg in packages:
        files = owned.get(f"{pkg.type}:{pkg.name}") if pkg.type in OS_TYPES else None
        if files:
            pkg = replace(pkg, installed_files=tuple(sorted(files.union(pkg.installed_files))))
        out.append(pkg)
    return out


def _mark_os_owned(packages: list[Package]) -> list[Package]:
    owners: dict[str, str] = {}
    for pkg in packages:
        if pkg.type in OS_TYPES:
            for name in pkg.installed_files:
                owners.setdefault(name.lstrip("/"), f"{pkg.type}:{pkg.name}")
    if not owners:
        return packages
    out = []
    superseded = superseded_by_os_packages()
    for pkg in packages:
        if pkg.type not in OS_TYPES and not pkg.os_owner and pkg.file_path:
            owner = owners.get(pkg.file_path.split("!", 1)[0].lstrip("/"))
            if owner and pkg.found_by in superseded:
                continue
            if owner:
                pkg = replace(pkg, os_owner=owner)
        out.append(pkg)
    return out
