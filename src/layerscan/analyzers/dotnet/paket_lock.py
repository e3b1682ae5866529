"""Paket ``paket.lock``, fs mode.

An indented text file: ``GROUP <name>`` lines start a dependency group (the
first group is ``Main``); a section line (``NUGET``, ``GITHUB``, ``GIT``,
``HTTP``) starts a source kind; ``remote:`` lines name the source; resolved
entries are indented four spaces, ``Name (version)`` optionally followed by
`` - restriction: ...``; their own dependencies are indented six spaces and
carry ranges, not versions, so they are not packages themselves.

NUGET entries are NuGet packages (matched). GITHUB entries are files or
repositories pinned to a version or commit: listed as ``github`` packages
(``pkg:github/owner/repo@...`` from their remote), not matched. GIT and HTTP
entries are source files, not packages, and are skipped. The group is kept in
``extra``; paket.lock does not say which entries are direct.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import ClassVar

from layerscan.analyzers.base import FileSpec, spec
from layerscan.analyzers.langbase import FileAnalyzer, Parsed, ParseError, basename, decode_text, lang_package
from layerscan.model import Package

ANALYZER = "dotnet-paket-lock"
SECTIONS = frozenset({"NUGET", "GITHUB", "GIT", "HTTP"})
_ENTRY = re.compile(r"^    (?P<name>\S+) \((?P<version>[^)]*)\)")


@dataclass(frozen=True)
class Context:
    """Where the parser is: group, source kind and remote of the lines that follow."""

    group: str = "Main"
    section: str = ""
    remote: str = ""


def _advance(ctx: Context, line: str) -> Context:
    """The context after a GROUP, section or remote line (unchanged for other lines)."""
    stripped = line.strip()
    if line.startswith("GROUP "):
        return Context(group=stripped.split(" ", 1)[1].strip())
    if stripped in SECTIONS and not line.startswith(" "):
        return replace(ctx, section=stripped, remote="")
    if line.startswith("  remote:"):
        return replace(ctx, remote=stripped.split(":", 1)[1].strip())
    return ctx


def _package(ctx: Context, name: str, version: str) -> Package | None:
    extra = (("group", ctx.group),)
    if ctx.section == "NUGET":
        return lang_package("nuget", name, version, extra=extra)
    if ctx.section == "GITHUB":
        owner, _, repo = ctx.remote.partition("/")
        return lang_package("github", name, version, namespace=owner, purl_name=repo or name,
                            extra=extra + (("remote", ctx.remote),))
    return None


def parse(data: bytes) -> Parsed:
    ctx = Context()
    packages: list[Package] = []
    sections = 0
    for line in decode_text(data).splitlines():
        ctx, before = _advance(ctx, line), ctx
        sections += ctx.section != before.section
        match = _ENTRY.match(line)
        if match:
            package = _package(ctx, match["name"], match["version"].strip())
            if package is not None:
                packages.append(package)
    if not sections and data.strip():
        raise ParseError("not a paket.lock: no NUGET, GITHUB, GIT or HTTP section")
    return Parsed(packages=tuple(packages))


class PaketLockAnalyzer(FileAnalyzer):
    name: ClassVar[str] = ANALYZER
    version: ClassVar[int] = 1
    description: ClassVar[str] = "Paket paket.lock"
    result_type: ClassVar[str] = "paket"
    files: ClassVar[FileSpec] = spec(names=("paket.lock",))

    def matches(self, path: str) -> bool:
        return basename(path) == "paket.lock"

    def parse_file(self, path: str, data: bytes) -> Parsed:
        return parse(data)
