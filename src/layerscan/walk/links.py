"""Package databases reached through a symlink inside the image.

Analyzers declare exact paths and directories (``FileSpec.paths`` / ``dirs``,
e.g. ``var/lib/dpkg/status``). When the stacked image has a symlink on such a
path (``var/lib/dpkg -> /opt/dpkg``, possibly in a lower layer than the files),
the files live elsewhere (``opt/dpkg/status``) and were not offered to anyone
during the first walk. ``plan_redirects`` maps those real locations back to the
declared ones; the layers holding a real location are walked again with the
redirect (``layer.analyze_layer(..., redirect=...)``), their files analysed
under the declared path and the results kept at the real path, where stacking
applies later layers' changes to them.

Links resolve inside the image only: targets are image-root relative, ``..``
stops at the root, and chains are bounded (``MAX_HOPS``).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field, replace
from typing import Mapping, Sequence

from layerscan.analyzers.base import Analyzer
from layerscan.walk.analysis import LayerAnalysis

MAX_HOPS = 32


def resolve(path: str, links: Mapping[str, str]) -> str | None:
    """``path`` with every symlink on it (ancestors and itself) followed; None for a loop."""
    parts = [p for p in path.split("/") if p]
    done = ""
    hops = 0
    while parts:
        candidate = f"{done}/{parts[0]}" if done else parts[0]
        target = links.get(candidate)
        parts.pop(0)
        if target is None:
            done = candidate
            continue
        hops += 1
        if hops > MAX_HOPS:
            return None
        parts = [p for p in target.split("/") if p] + parts
        done = ""
    return done


@dataclass(frozen=True)
class Redirects:
    """Real locations (where a link leads) -> the declared paths analyzers know them by."""

    files: Mapping[str, str] = field(default_factory=dict)
    dirs: Mapping[str, str] = field(default_factory=dict)  # every file directly inside

    def __bool__(self) -> bool:
        return bool(self.files or self.dirs)

    def alias(self, path: str) -> str | None:
        """The declared path a real ``path`` is analysed as, or None."""
        found = self.files.get(path)
        if found is not None:
            return found
        head, _, base = path.rpartition("/")
        alias_dir = self.dirs.get(head)
        return f"{alias_dir}/{base}" if alias_dir is not None else None

    def cache_key(self, layer_key: str) -> str:
        """The layer cache key of a redirected walk of the layer whose own key is ``layer_key``."""
        material = json.dumps([layer_key, sorted(self.files.items()), sorted(self.dirs.items())])
        return hashlib.sha256(material.encode()).hexdigest()

    def touches(self, layer: LayerAnalysis) -> bool:
        """Does ``layer`` hold a file at a real location (left unread by the first walk)?"""
        return any(self.alias(path) is not None for path in layer.shadowed)


def plan_redirects(links: Mapping[str, str], analyzers: Sequence[Analyzer]) -> Redirects:
    """The redirects the stacked image's ``links`` call for (empty when no declared path
    passes through a link)."""
    if not links:
        return Redirects()
    files: dict[str, str] = {}
    dirs: dict[str, str] = {}
    for analyzer in analyzers:
        for declared, table in [(p, files) for p in analyzer.files.paths] + [(d, dirs) for d in analyzer.files.dirs]:
            real = resolve(declared, links)
            if real and real != declared:
                table.setdefault(real, declared)
    return Redirects(files, dirs)


def merge_redirected(base: LayerAnalysis, extra: LayerAnalysis, redirects: Redirects) -> LayerAnalysis:
    """``base`` plus the results of its redirected walk (``extra``, keyed by the declared
    paths), moved to the real paths they were read from."""
    real_of = {alias: real for real, alias in redirects.files.items()}
    real_dirs = {alias: real for real, alias in redirects.dirs.items()}
    moved = []
    for alias, result in extra.results:
        real = real_of.get(alias)
        if real is None:
            head, _, name = alias.rpartition("/")
            real = f"{real_dirs[head]}/{name}" if head in real_dirs else alias
        moved.append((real, result))
    taken = {path for path, _ in moved}
    return replace(base, results=base.results + tuple(moved),
                   shadowed=tuple(p for p in base.shadowed if p not in taken),
                   unknowns=base.unknowns + extra.unknowns)
