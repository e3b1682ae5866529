"""``go.mod`` (fs mode), optionally with its ``go.sum``.

``require`` lines/blocks (``// indirect`` marks ``indirect``), ``replace``
(with or without an old version; a replacement by a local path keeps the
module listed without a version and with ``version_unknown_reason``) and
``exclude``. A versioned replacement is reported as the module that is built
(the new path at its version, the original in ``evidence``); a replacement with
an old version applies to that version only, and wins over one without. A
replacement without a version must be a directory (the go command's rule);
anything else is an Unknown for that line. The module itself is listed with ``is_application``. No
``stdlib`` package: the ``go``/``toolchain`` directives give a minimum, not the
toolchain that built anything (Go binaries report the real one).

Modules of go < 1.17 do not list indirect dependencies; ``parse(..., go_sum=)``
then adds the go.sum modules missing from go.mod as ``indirect``. ``GoModAnalyzer``
asks for the go.sum beside the go.mod as a sibling file (when present).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import ClassVar

from layerscan.analyzers.base import FileSpec, MiB, spec
from layerscan.analyzers.golang.names import Replaced, apply_replacement, go_package, is_local_path
from layerscan.analyzers.langbase import FileAnalyzer, Parsed, basename
from layerscan.limits import MAX_CHECKSUM_SIBLING_BYTES
from layerscan.model import Package

NAME = "go-mod"
GO_SUM = "go.sum"
_LANGUAGE_VERSION = re.compile(r"(\d+)(?:\.(\d+))?")  # go 1.21, 1.21.0, 1.22rc1
_VERBS = ("require", "replace", "exclude", "module", "go", "toolchain", "retract", "godebug", "tool", "ignore")


@dataclass(frozen=True)
class _Require:
    path: str
    version: str
    indirect: bool


@dataclass(frozen=True)
class _Replace:
    old_path: str
    old_version: str  # "" = any version
    new_path: str
    new_version: str  # "" = local directory


@dataclass(frozen=True)
class GoMod:
    module: str
    go: str
    requires: tuple[_Require, ...]
    replaces: tuple[_Replace, ...]
    excludes: frozenset[tuple[str, str]]
    problems: tuple[str, ...]


def _directives(text: str) -> list[tuple[str, list[str], bool, int]]:
    """(verb, args, indirect, line number) for every directive, blocks expanded."""
    out: list[tuple[str, list[str], bool, int]] = []
    block = ""
    for number, raw in enumerate(text.splitlines(), 1):
        code, _, comment = raw.partition("//")
        indirect = comment.strip().startswith("indirect")
        words = code.split()
        if not words:
            continue
        if block:
            if words == [")"]:
                block = ""
            else:
                out.append((block, words, indirect, number))
        elif len(words) == 2 and words[1] == "(" and words[0] in _VERBS:
            block = words[0]
        else:
            out.append((words[0], words[1:], indirect, number))
    return out


def parse_gomod(text: str) -> GoMod:
    module, go = "", ""
    requires: list[_Require] = []
    replaces: list[_Replace] = []
    excludes: set[tuple[str, str]] = set()
    problems: list[str] = []
    for verb, args, indirect, number in _directives(text):
        args = [a.strip('"') for a in args]
        if verb == "module" and args:
            module = args[0]
        elif verb == "go" and args:
            go = args[0]
        elif verb == "require" and len(args) == 2:
            requires.append(_Require(args[0], args[1], indirect))
        elif verb == "exclude" and len(args) == 2:
            excludes.add((args[0], args[1]))
        elif verb == "replace" and "=>" in args:
            left, right = args[: args.index("=>")], args[args.index("=>") + 1 :]
            if len(right) == 1 and not is_local_path(right[0]):
                problems.append(f"line {number}: replacement {right[0]} has no version and is not a directory")
            elif len(left) in (1, 2) and len(right) in (1, 2):
                replaces.append(_Replace(left[0], left[1] if len(left) == 2 else "",
                                         right[0], right[1] if len(right) == 2 else ""))
            else:
                problems.append(f"line {number}: malformed replace")
        elif verb in ("require", "exclude", "replace"):
            problems.append(f"line {number}: malformed {verb}")
    return GoMod(module, go, tuple(requires), tuple(replaces), frozenset(excludes), tuple(problems))


def _apply_replace(req: _Require, replaces: tuple[_Replace, ...]) -> Replaced:
    """The module after the most specific matching replace (``a v1 =>`` before ``a =>``)."""
    match = None
    for rep in replaces:
        if rep.old_path == req.path and rep.old_version in ("", req.version):
            if match is None or rep.old_version:
                match = rep
    if match is None:
        return Replaced(req.path, req.version, "", "go.mod")
    return apply_replacement(req.path, req.version, match.new_path, match.new_version, "go.mod")


def _go_older_than_117(go: str) -> bool:
    """Is the module's language version below 1.17? Without a ``go`` directive, the go
    command assumes go 1.16 (its documentation of go.mod), so yes."""
    if not go:
        return True
    match = _LANGUAGE_VERSION.match(go)
    return match is not None and (int(match[1]), int(match[2] or 0)) < (1, 17)


def _go_sum_modules(go_sum: str) -> dict[str, str]:
    """Module path -> last listed version with module content (not only /go.mod)."""
    modules: dict[str, str] = {}
    for line in go_sum.splitlines():
        fields = line.split()
        if len(fields) == 3 and not fields[1].endswith("/go.mod"):
            modules[fields[0]] = fields[1]
    return modules


def parse(data: bytes, go_sum: bytes | None = None) -> Parsed:
    mod = parse_gomod(data.decode("utf-8", "replace"))
    packages: list[Package] = []
    if mod.module:
        packages.append(go_package(mod.module, "", file_path="", found_by=NAME, evidence="go.mod module",
                                   is_application=True))
    seen: set[str] = set()
    for req in mod.requires:
        if (req.path, req.version) in mod.excludes:
            continue
        built = _apply_replace(req, mod.replaces)
        seen.update((req.path, built.name))
        packages.append(go_package(built.name, built.version, file_path="", found_by=NAME, evidence=built.evidence,
                                   indirect=req.indirect, version_unknown_reason=built.version_unknown_reason))
    if go_sum is not None and _go_older_than_117(mod.go):
        for name, version in _go_sum_modules(go_sum.decode("utf-8", "replace")).items():
            if name not in seen:
                packages.append(go_package(name, version, file_path="", found_by=NAME, evidence="go.sum",
                                           indirect=True))
    return Parsed(packages=tuple(packages), problems=mod.problems)


class GoModAnalyzer(FileAnalyzer):
    name: ClassVar[str] = NAME
    version: ClassVar[int] = 3
    description: ClassVar[str] = "go.mod: the required modules (go < 1.17: the indirect ones from the go.sum beside it)"
    result_type: ClassVar[str] = "gomod"
    files: ClassVar[FileSpec] = spec(names=("go.mod",))
    max_file_size: ClassVar[int] = 16 * MiB
    siblings: ClassVar[frozenset[str]] = frozenset({GO_SUM})
    max_sibling_size: ClassVar[int] = MAX_CHECKSUM_SIBLING_BYTES

    def matches(self, path: str) -> bool:
        return basename(path) == "go.mod"

    def parse_file(self, path: str, data: bytes) -> Parsed:
        return parse(data)

    def parse_with_siblings(self, path: str, data: bytes, siblings: Mapping[str, bytes]) -> Parsed:
        return parse(data, siblings.get(GO_SUM))
