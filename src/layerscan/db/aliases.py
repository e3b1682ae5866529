"""Merging alias ids into one vulnerability (CVE ↔ GHSA ↔ PYSEC ↔ GO ↔ RUSTSEC ↔ DSA ↔ ALSA).

Records name their aliases; connected ids form one group whose primary id is
the CVE when there is one. Two guards keep distinct issues apart:

* a *bundle* id — one that is an alias of two or more different CVEs, like a
  DSA fixing five CVEs — links nothing (each CVE keeps the DSA as a direct alias);
* a union that would put two different CVEs in one group is refused.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Iterable

from layerscan.db.feeds.common import id_prefix

# primary-id preference after CVE (lower first); unknown prefixes sort after these
_PREFERENCE = ("CVE", "GHSA", "PYSEC", "GO", "RUSTSEC", "OSV")


def _is_cve(vuln_id: str) -> bool:
    return vuln_id.startswith("CVE-")


def _rank(vuln_id: str) -> tuple[int, str]:
    prefix = id_prefix(vuln_id)
    order = _PREFERENCE.index(prefix) if prefix in _PREFERENCE else len(_PREFERENCE)
    return order, vuln_id


def bundles(edges: list[tuple[str, str]]) -> set[str]:
    """Non-CVE ids adjacent to two or more distinct CVEs."""
    cves: dict[str, set[str]] = defaultdict(set)
    for a, b in edges:
        if _is_cve(b) and not _is_cve(a):
            cves[a].add(b)
        if _is_cve(a) and not _is_cve(b):
            cves[b].add(a)
    return {node for node, linked in cves.items() if len(linked) > 1}


class _UnionFind:
    def __init__(self) -> None:
        self.parent: dict[str, str] = {}
        self.cve: dict[str, str] = {}  # root -> the CVE of its component, if any

    def find(self, node: str) -> str:
        if node not in self.parent:
            self.parent[node] = node
            if _is_cve(node):
                self.cve[node] = node
        root = node
        while self.parent[root] != root:
            root = self.parent[root]
        while self.parent[node] != root:  # path compression
            self.parent[node], node = root, self.parent[node]
        return root

    def union(self, a: str, b: str) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra == rb:
            return
        ca, cb = self.cve.get(ra), self.cve.get(rb)
        if ca and cb and ca != cb:
            return  # two different CVEs never merge
        self.parent[rb] = ra
        if cb and not ca:
            self.cve[ra] = cb


def group_ids(edges: Iterable[tuple[str, str]]) -> dict[str, str]:
    """Map every id that appears in an alias edge to its group's primary id."""
    edge_list = [(a, b) for a, b in edges if a and b and a != b]
    skip = bundles(edge_list)
    uf = _UnionFind()
    for a, b in sorted(edge_list):
        uf.find(a)
        uf.find(b)
        if a not in skip and b not in skip:
            uf.union(a, b)
    members: dict[str, list[str]] = defaultdict(list)
    for node in uf.parent:
        members[uf.find(node)].append(node)
    out: dict[str, str] = {}
    for root, nodes in members.items():
        primary = uf.cve.get(root) or min(nodes, key=_rank)
        for node in nodes:
            out[node] = primary
    return out
