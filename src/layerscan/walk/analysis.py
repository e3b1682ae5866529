"""What one layer (or one directory tree) contributes: per-path analyzer results,
whiteouts, opaque dirs, the paths it replaces (non-directories, which hide
everything a lower layer had at and below them; directories, which hide a lower
layer's file of that name) and its symlinks — and the dispatcher that fills it
from the entries a walker meets (tar layer or directory).

The dispatcher offers each regular file to the analyzers whose declared
``files`` spec can match it (``AnalyzerIndex``), asks those ``wants(path, mode,
size)``, reads the content once if anyone wants it (unless it is larger than that
analyzer's ``max_file_size``: an Unknown "file too large"), and runs the
analyzers guarded: an exception becomes an Unknown naming the analyzer.

Sibling files (``Analyzer.siblings``): a directory walk passes a reader for the files
beside each one (``add_file(..., siblings=...)``), so the analyzer gets them at once;
an image layer cannot see its lower layers, so it keeps the content of the sibling files
it holds (``LayerAnalysis.siblings``, bounded) and ``walk.siblings`` pairs them with the
lockfiles of the stacked image in a second walk of the lockfile's layer.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass
from typing import Any, BinaryIO, Callable, Iterable, Iterator, Mapping, Sequence

from layerscan.analyzers.base import STREAM_MIN_SIZE, AnalysisResult, Analyzer, too_large
from layerscan.analyzers.index import AnalyzerIndex
from layerscan.limits import MAX_LAYER_SIBLING_BYTES
from layerscan.model import Unknown
from layerscan.walk.tarstream import normalize_path
from layerscan.walk.serialize import json_list, leaf_from_json, leaf_to_json, result_from_json, result_to_json

FORMAT = 3  # bump when LayerAnalysis' JSON form changes (part of the cache key)
HARDLINK_MEMO_BYTES = 32 << 20  # content of wanted files kept per layer to resolve hard links to them
WHITEOUT_PREFIX = ".wh."
OPAQUE_MARKER = ".wh..wh..opq"
MAX_WANTS_FAILURES = 5  # per analyzer and layer
UNREADABLE_LAYER = "layer"  # Unknown.analyzer of a layer left out of the scan (truncated, corrupt, unsupported)
# (a basename in the file's directory, the most bytes wanted) -> its content (one byte more when it is
# larger), or None when it is absent
SiblingReader = Callable[[str, int], bytes | None]


@dataclass(frozen=True)
class LayerAnalysis:
    results: tuple[tuple[str, AnalysisResult], ...] = ()  # path -> merged result of every analyzer wanting it
    whiteouts: tuple[str, ...] = ()  # paths deleted from lower layers (with everything under them)
    opaque_dirs: tuple[str, ...] = ()  # directories whose lower-layer content is hidden
    shadowed: tuple[str, ...] = ()  # other non-directory entries: they replace a lower layer's path (and its tree)
    dirs: tuple[str, ...] = ()  # directories: they replace a lower layer's non-directory of that path
    links: tuple[tuple[str, str], ...] = ()  # symlinks: (path, target resolved inside the image)
    unknowns: tuple[Unknown, ...] = ()  # layer-wide problems not tied to a result path
    compression: str = ""  # "gzip" | "zstd" | "none" as sniffed ("" for directories)
    # image layers: sibling files (``Analyzer.siblings``) it holds, path -> content as latin-1 text
    siblings: tuple[tuple[str, str], ...] = ()

    def to_json(self) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "format": FORMAT,
            "results": [[path, result_to_json(r)] for path, r in self.results],
            "whiteouts": list(self.whiteouts),
            "opaque_dirs": list(self.opaque_dirs),
            "shadowed": list(self.shadowed),
            "dirs": list(self.dirs),
            "links": [list(link) for link in self.links],
            "unknowns": [leaf_to_json(u) for u in self.unknowns],
            "compression": self.compression,
        }
        if self.siblings:  # absent when empty: entries written before siblings existed still read
            doc["siblings"] = [list(pair) for pair in self.siblings]
        return doc

    @classmethod
    def from_json(cls, data: Any) -> "LayerAnalysis":
        """ValueError when ``data`` is not a LayerAnalysis of this format."""
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise ValueError("not a layer analysis of this format")
        results = []
        for item in json_list(data.get("results")):
            if not (isinstance(item, list) and len(item) == 2 and isinstance(item[0], str)):
                raise ValueError("bad result entry")
            results.append((item[0], result_from_json(item[1])))
        compression = data.get("compression")
        if not isinstance(compression, str):
            raise ValueError("bad compression")
        return cls(
            results=tuple(results),
            whiteouts=_strings(data.get("whiteouts")),
            opaque_dirs=_strings(data.get("opaque_dirs")),
            shadowed=_strings(data.get("shadowed")),
            dirs=_strings(data.get("dirs")),
            links=_pairs(data.get("links")),
            unknowns=tuple(leaf_from_json(Unknown, u) for u in json_list(data.get("unknowns"))),
            compression=compression,
            siblings=_pairs(data.get("siblings", [])),
        )


def _strings(value: Any) -> tuple[str, ...]:
    items = json_list(value)
    if not all(isinstance(s, str) for s in items):
        raise ValueError("expected a list of strings")
    return tuple(items)


def _pairs(value: Any) -> tuple[tuple[str, str], ...]:
    items = json_list(value)
    if not all(isinstance(p, list) and len(p) == 2 and all(isinstance(s, str) for s in p) for p in items):
        raise ValueError("expected a list of string pairs")
    return tuple((p[0], p[1]) for p in items)


def parents(path: str) -> Iterator[str]:
    """'a/b/c' -> 'a', 'a/b' (every ancestor directory, not the path itself)."""
    i = path.find("/")
    while i != -1:
        yield path[:i]
        i = path.find("/", i + 1)


def link_target(path: str, target: str) -> str:
    """Where symlink ``path`` -> ``target`` points, as an image-root relative path: absolute
    targets start at the image root, relative ones at the link's directory, and ``..`` stops
    at the root (as a container runtime resolves it), so a link never leads out of the image."""
    head = path.rpartition("/")[0]
    joined = target if target.startswith("/") or not head else f"{head}/{target}"
    return normalize_path(joined)


def merge_results(results: Sequence[AnalysisResult]) -> AnalysisResult:
    if len(results) == 1:
        return results[0]
    return AnalysisResult(
        packages=tuple(p for r in results for p in r.packages),
        os=next((r.os for r in results if r.os is not None), None),
        owned_files=tuple(o for r in results for o in r.owned_files),
        unknowns=tuple(u for r in results for u in r.unknowns),
    )


class PathFilter:
    """skip_dirs: exact directories (and everything under them) or glob patterns."""

    def __init__(self, skip_dirs: Iterable[str]) -> None:
        dirs = [d.strip().strip("/") for d in skip_dirs if d.strip().strip("/")]
        self._globs = tuple(d for d in dirs if any(c in d for c in "*?["))
        plain = [d for d in dirs if d not in self._globs]
        self._exact = frozenset(plain)
        self._prefixes = tuple(d + "/" for d in plain)

    def __bool__(self) -> bool:
        return bool(self._exact or self._globs)

    def skips(self, path: str) -> bool:
        if path in self._exact or (self._prefixes and path.startswith(self._prefixes)):
            return True
        return any(fnmatch.fnmatchcase(path, g) or fnmatch.fnmatchcase(path, g + "/*") for g in self._globs)


def run_analyzer(analyzer: Analyzer, path: str, data: bytes | BinaryIO,
                 siblings: Mapping[str, bytes] | None = None) -> AnalysisResult:
    """``analyzer.analyze`` (bytes; ``analyze_with_siblings`` when siblings were found) or
    ``analyze_stream`` (a stream, rewound first) guarded: never raises."""
    try:
        if isinstance(data, bytes) and siblings:
            result = analyzer.analyze_with_siblings(path, data, siblings)
        elif isinstance(data, bytes):
            result = analyzer.analyze(path, data)
        else:
            data.seek(0)
            result = analyzer.analyze_stream(path, data)
    except Exception as exc:  # noqa: BLE001 - a broken analyzer must not end the scan
        reason = f"analyzer {analyzer.name} failed: {type(exc).__name__}: {exc}"[:500]
        return AnalysisResult(unknowns=(Unknown(path=path, reason=reason, analyzer=analyzer.name),))
    if not isinstance(result, AnalysisResult):
        return AnalysisResult(unknowns=(Unknown(path=path, reason=f"analyzer {analyzer.name} returned "
                                                f"{type(result).__name__}", analyzer=analyzer.name),))
    return result


class LayerBuilder:
    """Collects one layer's entries into a LayerAnalysis (see module docstring)."""

    def __init__(self, analyzers: Sequence[Analyzer], skip: PathFilter | None = None,
                 record_shadowed: bool = True, keep_siblings: bool = False) -> None:
        """record_shadowed=False for a single pseudo-layer (directory scans): nothing lies below it.
        keep_siblings: keep the content of sibling files (image layers, see module docstring)."""
        self._analyzers = tuple(analyzers)
        self._index = AnalyzerIndex(self._analyzers)  # a file is offered only to the analyzers it can concern
        self._record_shadowed = record_shadowed
        self._skip = skip if skip else None
        self._results: dict[str, AnalysisResult] = {}
        self._whiteouts: list[str] = []
        self._opaque: list[str] = []
        self._shadowed: dict[str, None] = {}
        self._dirs: dict[str, None] = {}
        self._links: dict[str, str] = {}
        self._seq = 0  # entry order, so that a later entry replacing a directory drops what was read below it
        self._result_seq: dict[str, int] = {}
        self._replaced_seq: dict[str, int] = {}
        self._unknowns: list[Unknown] = []
        self._memo: dict[str, bytes] = {}
        self._memo_bytes = 0
        self._wants_failures: dict[str, int] = {}
        self._keep_siblings = keep_siblings and self._index.asks_siblings
        self._siblings: dict[str, bytes] = {}
        self._sibling_seq: dict[str, int] = {}
        self._sibling_bytes = 0

    def skipped(self, path: str) -> bool:
        return self._skip is not None and self._skip.skips(path)

    def _wanting(self, path: str, mode: int, size: int) -> list[Analyzer]:
        try:
            return [a for a in self._index.candidates(path, mode) if a.wants(path, mode, size)]
        except Exception:  # noqa: BLE001 - find the broken one, keep the rest
            wanting = []
            for a in self._index.candidates(path, mode):
                try:
                    if a.wants(path, mode, size):
                        wanting.append(a)
                except Exception as exc:  # noqa: BLE001
                    self._wants_failed(a, path, exc)
            return wanting

    def _wants_failed(self, analyzer: Analyzer, path: str, exc: Exception) -> None:
        """Recorded for the first few paths only: a broken analyzer must not flood the report."""
        count = self._wants_failures.get(analyzer.name, 0) + 1
        self._wants_failures[analyzer.name] = count
        if count <= MAX_WANTS_FAILURES:
            self._unknowns.append(Unknown(path=path, analyzer=analyzer.name,
                                          reason=f"analyzer {analyzer.name} failed: {type(exc).__name__}: {exc}"[:500]))

    def add_file(self, path: str, mode: int, size: int, read: Callable[[], bytes],
                 open_stream: Callable[[], BinaryIO] | None = None, siblings: SiblingReader | None = None) -> None:
        """A regular file; ``read()`` returns its whole content, ``open_stream()`` a seekable
        stream of it (for streaming analyzers, see ``Analyzer.streams``); one of them is called,
        at most once. ``siblings`` reads the files beside it that its analyzers declare."""
        wanting = self._wanting(path, mode, size)
        limit = self._index.sibling_limit(path) if self._keep_siblings else 0
        kept = 0 < limit and size <= limit
        if limit:
            self._forget_sibling(path)  # an earlier entry of this path in the layer
        if limit and not kept:
            self._unknowns.append(Unknown(path=path, reason=f"sibling file not kept: over {limit} bytes "
                                          "(a lockfile beside it is read alone)"))
        if not wanting:
            self.add_other(path)
            if kept:
                self._keep_sibling(path, read())
            return
        results: list[AnalysisResult] = []
        readers = []
        for a in wanting:
            if size > a.max_file_size:
                results.append(AnalysisResult(unknowns=(too_large(path, size, a),)))
            else:
                readers.append(a)
        if readers and open_stream is not None and size >= STREAM_MIN_SIZE and all(a.streams for a in readers):
            with open_stream() as stream:  # a large archive: never whole in memory
                results.extend(run_analyzer(a, path, stream) for a in readers)
        elif readers:
            data = read()
            for a in readers:
                found, problems = _gather_siblings(a, path, siblings)
                results.append(run_analyzer(a, path, data, found))
                results.extend(problems)
            self._remember(path, data)
            if kept:
                self._keep_sibling(path, data)
        elif kept:
            self._keep_sibling(path, read())
        self._set_result(path, merge_results(results))

    def _keep_sibling(self, path: str, data: bytes) -> None:
        """Keep a sibling file's content for lockfiles in other layers, within the layer's budget."""
        if self._sibling_bytes + len(data) > MAX_LAYER_SIBLING_BYTES:
            self._unknowns.append(Unknown(path=path, reason=f"sibling file not kept: this layer's sibling files "
                                          f"exceed {MAX_LAYER_SIBLING_BYTES} bytes (a lockfile beside it is read "
                                          "alone)"))
            return
        self._siblings[path] = data
        self._sibling_bytes += len(data)
        self._sibling_seq[path] = self._tick()

    def _forget_sibling(self, path: str) -> None:
        data = self._siblings.pop(path, None)
        if data is not None:
            self._sibling_bytes -= len(data)

    def add_hardlink(self, path: str, mode: int, target: str) -> None:
        """A hard link within the layer: analysed from the target's content when we kept it."""
        data = self._memo.get(target)
        wanting = self._wanting(path, mode, len(data) if data is not None else 0)
        if not wanting:
            self.add_other(path)
        elif data is not None:
            self.add_file(path, mode, len(data), lambda: data)
        elif target in self._results:
            self.add_other(path)  # same content already analysed at the target path
        else:
            reason = f"hard link to {target} not resolved (target not read in this layer)"
            self._set_result(path, AnalysisResult(unknowns=tuple(
                Unknown(path=path, reason=reason, analyzer=a.name) for a in wanting)))

    def _remember(self, path: str, data: bytes) -> None:
        if self._memo_bytes + len(data) <= HARDLINK_MEMO_BYTES:
            self._memo[path] = data
            self._memo_bytes += len(data)

    def _tick(self) -> int:
        self._seq += 1
        return self._seq

    def _set_result(self, path: str, result: AnalysisResult) -> None:
        self._results[path] = result
        self._result_seq[path] = self._tick()
        self._shadowed.pop(path, None)
        self._dirs.pop(path, None)
        self._links.pop(path, None)

    def _drop_result(self, path: str) -> None:
        if self._results.pop(path, None) is not None:
            self._memo.pop(path, None)
        self._forget_sibling(path)

    def add_other(self, path: str) -> None:
        """A non-directory entry nobody analyses: it still replaces a lower layer's path
        (a file, or a directory with everything below it)."""
        self._drop_result(path)
        self._replaced_seq[path] = self._tick()
        self._dirs.pop(path, None)
        self._links.pop(path, None)
        if self._record_shadowed:
            self._shadowed[path] = None

    def add_symlink(self, path: str, target: str) -> None:
        """A symlink replaces what lower layers had at ``path``; its target is remembered
        (resolved inside the image) so that a package database reached through it is found."""
        self.add_other(path)
        if target:
            self._links[path] = link_target(path, target)

    def add_dir(self, path: str) -> None:
        """A directory replaces a lower layer's file (or symlink) of that name; a lower
        directory's content stays (directories merge). A non-directory met earlier at ``path``
        in this layer stays recorded as shadowed: it removed the lower layers' tree first."""
        self._drop_result(path)
        self._links.pop(path, None)
        if self._record_shadowed:
            self._dirs[path] = None

    def add_whiteout_entry(self, path: str) -> bool:
        """Handle ``path`` if it is a whiteout marker; True when it was one."""
        head, _, base = path.rpartition("/")
        if not base.startswith(WHITEOUT_PREFIX):
            return False
        if base == OPAQUE_MARKER:
            self.add_opaque_dir(head)
        elif not base.startswith(".wh..wh.") and len(base) > len(WHITEOUT_PREFIX):
            target = base[len(WHITEOUT_PREFIX):]
            self.add_whiteout(f"{head}/{target}" if head else target)
        return True

    def add_whiteout(self, path: str) -> None:
        """``path`` (and everything under it) is deleted from the lower layers."""
        self._whiteouts.append(path)

    def add_opaque_dir(self, path: str) -> None:
        """The lower layers' content of directory ``path`` is hidden."""
        self._opaque.append(path)

    def add_unknown(self, path: str, reason: str) -> None:
        self._unknowns.append(Unknown(path=path, reason=reason))

    def _live(self, path: str, seq: int) -> bool:
        """Not under a path that a later entry of this layer replaced by a non-directory."""
        replaced = self._replaced_seq
        return not replaced or not any(replaced.get(p, -1) > seq for p in parents(path))

    def _live_results(self) -> tuple[tuple[str, AnalysisResult], ...]:
        return tuple((path, result) for path, result in self._results.items()
                     if self._live(path, self._result_seq[path]))

    def _live_siblings(self) -> tuple[tuple[str, str], ...]:
        return tuple((path, data.decode("latin-1")) for path, data in sorted(self._siblings.items())
                     if self._live(path, self._sibling_seq[path]))

    def build(self, compression: str = "") -> LayerAnalysis:
        return LayerAnalysis(
            results=self._live_results(),
            whiteouts=tuple(self._whiteouts),
            opaque_dirs=tuple(self._opaque),
            shadowed=tuple(self._shadowed),
            dirs=tuple(self._dirs),
            links=tuple(self._links.items()),
            unknowns=tuple(self._unknowns),
            compression=compression,
            siblings=self._live_siblings(),
        )


def _gather_siblings(analyzer: Analyzer, path: str,
                     read: SiblingReader | None) -> tuple[dict[str, bytes], list[AnalysisResult]]:
    """The declared siblings of ``path`` that ``read`` finds (within the analyzer's
    ``max_sibling_size`` each), and an Unknown for each one left out as too large."""
    if not analyzer.siblings or read is None:
        return {}, []
    found: dict[str, bytes] = {}
    problems: list[AnalysisResult] = []
    for name in sorted(analyzer.siblings):
        limit = analyzer.max_sibling_size
        data = read(name, limit)
        if data is None:
            continue
        if len(data) > limit:
            reason = f"{name} beside it is over {limit} bytes: read without it"
            problems.append(AnalysisResult(unknowns=(Unknown(path=path, reason=reason, analyzer=analyzer.name),)))
            continue
        found[name] = data
    return found, problems
