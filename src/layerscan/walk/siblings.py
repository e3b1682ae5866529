"""Sibling files for lockfiles in image layers (``Analyzer.siblings``).

A directory walk reads a lockfile's siblings from its directory at once. An image layer
is walked alone (in parallel, cached): the package.json beside a yarn.lock may sit in a
lower layer, and a later layer may delete it. So each layer keeps the (small, bounded)
content of the sibling files it holds (``LayerAnalysis.siblings``); once every layer is
analysed, ``plan_siblings`` finds the lockfiles of the stacked image whose siblings are in
its final view, the layer holding each such lockfile is walked again for those files only
with the siblings handed in (``layer.analyze_layer(..., pairs=...)``), and
``merge_paired`` puts the new results in place of the first ones. Images without such
pairs (every image scanned with the default image analyzers) walk nothing again.
"""

from __future__ import annotations

import hashlib
import json
import stat
from dataclasses import dataclass, field, replace
from typing import Mapping, Sequence

from layerscan.analyzers.base import Analyzer, sibling_path
from layerscan.analyzers.index import AnalyzerIndex
from layerscan.walk.analysis import LayerAnalysis, SiblingReader
from layerscan.walk.squash import live_siblings, stack

_REGULAR = stat.S_IFREG | 0o644


@dataclass(frozen=True)
class SiblingPlan:
    """The files of one layer to analyse again, each with its siblings' content (basename -> bytes)."""

    files: Mapping[str, Mapping[str, bytes]] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.files)

    def __contains__(self, path: object) -> bool:
        return path in self.files

    def reader(self, path: str) -> SiblingReader:
        found = self.files.get(path, {})
        return lambda name, limit: found.get(name)

    def cache_key(self, layer_key: str) -> str:
        """The layer cache key of this second walk of the layer whose own key is ``layer_key``."""
        material = json.dumps([layer_key, "siblings", sorted(
            (path, name, hashlib.sha256(data).hexdigest()) for path, found in self.files.items()
            for name, data in found.items())])
        return hashlib.sha256(material.encode()).hexdigest()


def plan_siblings(layers: Sequence[LayerAnalysis], analyzers: Sequence[Analyzer]) -> list[SiblingPlan]:
    """One plan per layer: its files (surviving in the stacked image) whose analyzers declare
    siblings that the stacked image holds beside them."""
    plans: list[dict[str, dict[str, bytes]]] = [{} for _ in layers]
    askers = [a for a in analyzers if a.siblings]
    if not askers or not any(layer.siblings for layer in layers):
        return [SiblingPlan() for _ in layers]
    index = AnalyzerIndex(askers)
    state, _ = stack(layers)
    asking = {path: (placed.layer, names) for path, placed in state.items()
              for names in [{n for a in index.candidates(path, _REGULAR) if a.wants(path, _REGULAR, 0)
                             for n in a.siblings}] if names}
    live = live_siblings(layers, frozenset(sibling_path(p, n) for p, (_, names) in asking.items() for n in names))
    for path, (layer, names) in asking.items():
        found = {n: live[sibling_path(path, n)] for n in sorted(names) if sibling_path(path, n) in live}
        if found:
            plans[layer][path] = found
    return [SiblingPlan(plan) for plan in plans]


def merge_paired(base: LayerAnalysis, extra: LayerAnalysis) -> LayerAnalysis:
    """``base`` with the results of its second walk (``extra``) in place of the first ones."""
    again = dict(extra.results)
    return replace(base, results=tuple((path, again.pop(path, result)) for path, result in base.results)
                   + tuple(again.items()), unknowns=base.unknowns + extra.unknowns)
