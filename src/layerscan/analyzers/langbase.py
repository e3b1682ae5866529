"""Shared plumbing for file analyzers (lockfiles, installed metadata, package databases,
release files, binaries).

Each analyzer module keeps a pure ``parse(data) -> Parsed`` (given the path too when
the format depends on it) and declares a small :class:`FileAnalyzer` subclass that
says which files it wants. This module holds what they all need:

- :class:`ParseError`: the one exception a parser raises for bad input; the
  analyzer turns it into an :class:`~layerscan.model.Unknown` with its reason.
- bounded, BOM-aware decoding and JSON/TOML/YAML loading that never lets a
  library exception escape (YAML aliases are refused: no "billion laughs"):
  :mod:`layerscan.textload`'s loaders, raising :class:`ParseError`.
- :func:`lang_purl`: purls through packageurl-python.
"""

from __future__ import annotations

from abc import abstractmethod
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, ClassVar

from packageurl import PackageURL

from layerscan import textload
from layerscan.analyzers.base import LOCKFILE, MiB, AnalysisResult, Analyzer
from layerscan.ecosystems import pep503 as pep503  # re-exported: the analyzers' one import line
from layerscan.model import OSInfo, Package, Unknown
from layerscan.textload import as_dict as as_dict, as_list as as_list, as_str as as_str

LOCKFILE_MAX = 100 * MiB
MAX_PROBLEMS = 50  # per file; more problems are summarised in one line


class ParseError(Exception):
    """The file cannot be read as the format it claims to be (the message is the reason)."""


@dataclass(frozen=True)
class Parsed:
    """What a pure parser found: packages, and problems worth an Unknown each.

    ``os`` (a release file's OS) and ``owned_files`` (package databases whose file
    lists live in separate files) pass through to :class:`AnalysisResult` unchanged.
    """

    packages: tuple[Package, ...] = ()
    problems: tuple[str, ...] = ()
    os: OSInfo | None = None
    owned_files: tuple[tuple[str, tuple[str, ...]], ...] = ()


# ---------------------------------------------------------------- decoding and loading
# (layerscan.textload does the work; here its LoadError becomes this module's ParseError)


def decode_text(data: bytes, *, strict: bool = True) -> str:
    """Decode UTF-8 (with or without BOM) or BOM-marked UTF-16.

    ``strict=False`` replaces undecodable bytes (metadata files whose free-text
    fields carry stray Latin-1); ``strict=True`` raises :class:`ParseError`.
    """
    try:
        return textload.decode_text(data, strict=strict)
    except textload.LoadError as exc:
        raise ParseError(str(exc)) from None


def load_json(data: bytes) -> Any:
    try:
        return textload.parse_json(decode_text(data))
    except textload.LoadError as exc:
        raise ParseError(str(exc)) from None


def load_json_object(data: bytes) -> dict[str, Any]:
    doc = load_json(data)
    if not isinstance(doc, dict):
        raise ParseError(f"expected a JSON object at top level, found {type(doc).__name__}")
    return doc


def load_toml(data: bytes) -> dict[str, Any]:
    try:
        return textload.parse_toml(decode_text(data))
    except textload.LoadError as exc:
        raise ParseError(str(exc)) from None


def load_yaml_documents(data: bytes) -> list[Any]:
    """Safe YAML without anchors/aliases: lockfiles never need them, bombs do."""
    try:
        return textload.parse_yaml_documents(decode_text(data), aliases=False)
    except textload.LoadError as exc:
        raise ParseError(str(exc)) from None


# ---------------------------------------------------------------- values


def reachable(start: Iterable[str], graph: Mapping[str, Sequence[str]]) -> set[str]:
    """Every key reachable from ``start`` in a dependency graph (``start`` included)."""
    seen: set[str] = set()
    queue = deque(start)
    while queue:
        key = queue.popleft()
        if key not in seen:
            seen.add(key)
            queue.extend(graph.get(key, ()))
    return seen


def lang_purl(pkg_type: str, name: str, version: str, namespace: str = "") -> str:
    """A purl for a language package; "" when the name cannot make one."""
    if not name:
        return ""
    if pkg_type == "pypi":
        name = pep503(name)
    try:
        return PackageURL(type=pkg_type, namespace=namespace or None, name=name, version=version or None).to_string()
    except ValueError:
        return ""


def lang_package(pkg_type: str, name: str, version: str, *, namespace: str = "", purl_name: str = "",
                 **fields: Any) -> Package:
    """A Package with its purl; an empty version gets a reason so it is listed, not matched.

    ``namespace``/``purl_name`` split a qualified name for the purl (npm scope, composer vendor).
    """
    if not version and not fields.get("version_unknown_reason"):
        fields["version_unknown_reason"] = "no version in the file"
    return Package(name=name, version=version, type=pkg_type,
                   purl=lang_purl(pkg_type, purl_name or name, version, namespace), **fields)


# ---------------------------------------------------------------- analyzer


class FileAnalyzer(Analyzer):
    """An analyzer for one file format: picks files by name and runs the pure parser."""

    modes: ClassVar[frozenset[str]] = LOCKFILE
    max_file_size: ClassVar[int] = LOCKFILE_MAX

    @abstractmethod
    def matches(self, path: str) -> bool:
        """Does this path (relative, no leading '/') name a file of this format?"""

    @abstractmethod
    def parse_file(self, path: str, data: bytes) -> Parsed:
        """Pure parse of one file's bytes (raises ParseError on bad content)."""

    def parse_with_siblings(self, path: str, data: bytes, siblings: Mapping[str, bytes]) -> Parsed:
        """``parse_file`` given the declared ``siblings`` present beside ``path`` (analyzers
        that declare ``siblings`` override it; the default ignores them)."""
        return self.parse_file(path, data)

    def wants(self, path: str, mode: int, size: int) -> bool:
        return self.matches(path)

    def analyze(self, path: str, data: bytes) -> AnalysisResult:
        return self.analyze_with_siblings(path, data, {})

    def analyze_with_siblings(self, path: str, data: bytes, siblings: Mapping[str, bytes]) -> AnalysisResult:
        if len(data) > self.max_file_size:
            return self._unknowns(path, (f"file is {len(data)} bytes, over the {self.max_file_size} byte limit",))
        if siblings:
            return self.run_parser(path, lambda: self.parse_with_siblings(path, data, siblings))
        return self.run_parser(path, lambda: self.parse_file(path, data))

    def run_parser(self, path: str, parse: Callable[[], Parsed]) -> AnalysisResult:
        """The result of ``parse()`` for ``path``: its packages attributed, bad input as Unknowns."""
        try:
            parsed = parse()
        except ParseError as exc:
            return self._unknowns(path, (str(exc),))
        except (ValueError, TypeError, KeyError, AttributeError, IndexError, RecursionError) as exc:
            return self._unknowns(path, (f"malformed file ({type(exc).__name__}: {exc})",))
        packages = tuple(  # copied only when there is something to stamp (large package databases)
            p if p.file_path and p.found_by == self.name else replace(p, file_path=p.file_path or path,
                                                                       found_by=self.name)
            for p in parsed.packages
        )
        return AnalysisResult(packages=packages, os=parsed.os, owned_files=parsed.owned_files,
                              unknowns=self._unknowns(path, parsed.problems).unknowns)

    def _unknowns(self, path: str, problems: tuple[str, ...]) -> AnalysisResult:
        kept = list(problems[:MAX_PROBLEMS])
        if len(problems) > MAX_PROBLEMS:
            kept.append(f"... and {len(problems) - MAX_PROBLEMS} more problems in this file")
        return AnalysisResult(unknowns=tuple(Unknown(path=path, reason=r, analyzer=self.name) for r in kept))


def basename(path: str) -> str:
    return path.rsplit("/", 1)[-1]
