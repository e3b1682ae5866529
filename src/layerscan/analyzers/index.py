"""Which analyzers a file is offered to, found by dictionary lookups instead of asking
every analyzer about every tar member.

Built once per layer from the analyzers' ``files`` declarations (``base.FileSpec``):
exact paths, parent directories, lowercased basenames, extensions and basename prefixes
(looked up by their first ``PREFIX_KEY`` characters), and executables;
and the sibling files analyzers ask for beside their own (``Analyzer.siblings``, exact
basenames).
``candidates`` returns them in registry order; each one's ``wants`` then decides. An
analyzer that declares nothing is offered every file (only ad-hoc analyzers do that:
tests/test_registry_complete.py holds every registered one to a declaration).
"""

from __future__ import annotations

from collections import defaultdict
from typing import Sequence

from layerscan.analyzers.base import PREFIX_KEY, Analyzer, is_executable


class AnalyzerIndex:
    def __init__(self, analyzers: Sequence[Analyzer]) -> None:
        self.analyzers = tuple(analyzers)
        self._order = {id(a): i for i, a in enumerate(self.analyzers)}
        paths: dict[str, list[Analyzer]] = defaultdict(list)
        dirs: dict[str, list[Analyzer]] = defaultdict(list)
        names: dict[str, list[Analyzer]] = defaultdict(list)
        exts: dict[str, list[Analyzer]] = defaultdict(list)
        prefixes: dict[str, list[tuple[str, Analyzer]]] = defaultdict(list)
        for a in self.analyzers:
            for key in a.files.paths:
                paths[key].append(a)
            for key in a.files.dirs:
                dirs[key].append(a)
            for key in a.files.names:
                names[key].append(a)
            for key in a.files.extensions:
                exts[key].append(a)
            for prefix in a.files.prefixes:
                prefixes[prefix[:PREFIX_KEY]].append((prefix, a))
        self._paths, self._dirs, self._names, self._exts = (
            {k: tuple(v) for k, v in table.items()} for table in (paths, dirs, names, exts))
        self._prefixes = {k: tuple(v) for k, v in prefixes.items()}
        siblings: dict[str, list[Analyzer]] = defaultdict(list)
        for a in self.analyzers:
            for key in a.siblings:
                siblings[key].append(a)
        self._siblings = {k: tuple(v) for k, v in siblings.items()}
        self._executables = tuple(a for a in self.analyzers if a.files.executables)
        self._everything = tuple(a for a in self.analyzers if a.files.empty)

    def candidates(self, path: str, mode: int) -> tuple[Analyzer, ...]:
        """The analyzers whose declarations cover ``path`` (relative, no leading '/')."""
        head, _, base = path.rpartition("/")
        lower = base.lower()
        _, dot, ext = lower.rpartition(".")
        found = (self._paths.get(path, ()) + self._dirs.get(head, ()) + self._names.get(lower, ())
                 + (self._exts.get(ext, ()) if dot else ())
                 + (self._prefixed(lower) if self._prefixes else ())
                 + (self._executables if self._executables and is_executable(mode) else ())
                 + self._everything)
        if len(found) <= 1:
            return found
        unique = {id(a): a for a in found}
        return tuple(sorted(unique.values(), key=lambda a: self._order[id(a)]))

    def _prefixed(self, lower: str) -> tuple[Analyzer, ...]:
        entries = self._prefixes.get(lower[:PREFIX_KEY], ())
        return tuple(a for prefix, a in entries if lower.startswith(prefix))

    @property
    def asks_siblings(self) -> bool:
        """Does any analyzer declare sibling files?"""
        return bool(self._siblings)

    def sibling_limit(self, path: str) -> int:
        """The most bytes an analyzer takes of ``path`` as a sibling file (``Analyzer.siblings``,
        ``max_sibling_size``) to pair with its own; 0 when none would."""
        return max((a.max_sibling_size for a in self._siblings.get(path.rpartition("/")[2], ())
                    if a.keeps_sibling(path)), default=0)
