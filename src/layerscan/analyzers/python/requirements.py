"""pip requirements files (``requirements*.txt``), fs mode.

Only exact pins (``==`` / ``===`` without a wildcard) give a version. Every
other requirement is still listed, with an empty version and the reason
(``not pinned (>=4.1.1)``, ``wildcard pin``, ``direct URL``, ``environment
variable``), so it shows up as unknown instead of disappearing. Includes
(``-r``/``-c``), editable installs and path/URL lines are recorded as
problems: we do not follow them.

Syntax handled: comments, ``\\`` continuations, extras, environment markers,
per-requirement options (``--hash``, ``-C``/``--config-settings``, ...), UTF-16
files with a BOM.
"""

from __future__ import annotations

import re
from fnmatch import fnmatch
from typing import ClassVar

from layerscan.analyzers.base import FileSpec, spec
from layerscan.analyzers.langbase import FileAnalyzer, Parsed, basename, decode_text, lang_package
from layerscan.model import Package

ANALYZER = "python-requirements"
MAX_LINES = 1_000_000

_NAME = re.compile(r"^(?P<name>[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?)\s*(?:\[[^\]]*\])?\s*(?P<rest>.*)$")
_SPEC = re.compile(r"^(?P<op>===|==|~=|!=|<=|>=|<|>)\s*(?P<version>\S*)$")
_WHEEL = re.compile(r"(?:^|/)(?P<name>[A-Za-z0-9._]+)-(?P<version>[0-9][^-/]*)(?:-[^-/]+){2,3}\.whl$")
_INCLUDE_OPTIONS = {"-r": "includes", "--requirement": "includes", "-c": "constraints from",
                    "--constraint": "constraints from"}


def logical_lines(text: str) -> list[str]:
    """Physical lines joined at trailing backslashes, comments removed."""
    lines: list[str] = []
    pending = ""
    for index, raw in enumerate(text.splitlines()):
        if index >= MAX_LINES:
            break
        if raw.endswith("\\"):
            pending += raw[:-1] + " "
            continue
        line = _strip_comment(pending + raw).strip()
        pending = ""
        if line:
            lines.append(line)
    if pending.strip():
        lines.append(_strip_comment(pending).strip())
    return lines


def _strip_comment(line: str) -> str:
    if line.lstrip().startswith("#"):
        return ""
    if "://" in line:  # URLs may carry '#egg=' fragments: only ' #' starts a comment
        return re.split(r"\s#", line, maxsplit=1)[0]
    return line.split("#", 1)[0]


def _cut_options(text: str) -> str:
    """Drop per-requirement options: everything from the first token starting with '-'."""
    kept = []
    for token in text.split():
        if token.startswith("-"):
            break
        kept.append(token)
    return " ".join(kept)


def version_from_specifiers(spec: str) -> tuple[str, str]:
    """(pinned version, "") or ("", reason it is not pinned)."""
    spec = spec.strip()
    if not spec:
        return "", "no version specified"
    if "${" in spec:
        return "", f"version comes from an environment variable ({spec})"
    pins: list[str] = []
    for clause in (c.strip() for c in spec.split(",") if c.strip()):
        match = _SPEC.match(clause)
        if match is None:
            return "", f"unrecognised version specifier {clause!r}"
        if match["op"] in ("==", "==="):
            pins.append(match["version"])
    if not pins:
        return "", f"not pinned ({spec})"
    if not pins[0] or "*" in pins[0]:
        return "", f"no exact pin ({spec})"
    return pins[0], ""


def _option_line(line: str) -> str | None:
    """The problem an option line stands for, or None for options that need no mention."""
    flag, _, value = line.partition(" ")
    if "=" in flag and flag.startswith("--"):
        flag, _, value = flag.partition("=")
    if flag in _INCLUDE_OPTIONS:
        return f"{_INCLUDE_OPTIONS[flag]} {value.strip()!r}, which is not followed"
    if flag in ("-e", "--editable"):
        return f"editable requirement {value.strip()!r} has no version"
    return None


def _path_or_url(line: str) -> Package | str:
    wheel = _WHEEL.search(line.split(";")[0].strip())
    if wheel:
        return lang_package("pypi", wheel["name"], wheel["version"], evidence="wheel file name")
    return f"path or URL requirement {line!r} not identified"


def parse_line(line: str) -> Package | str | None:
    """One logical line -> a package, a problem, or None (nothing to report)."""
    if line.startswith("-"):
        return _option_line(line)
    if line.startswith((".", "/", "~")) or re.match(r"^[a-z+]+://", line):
        return _path_or_url(line)
    requirement = _cut_options(line.split(";", 1)[0])
    match = _NAME.match(requirement)
    if match is None:
        return f"not a requirement: {line!r}"
    rest = match["rest"].strip()
    if rest.startswith("@"):
        return lang_package("pypi", match["name"], "", version_unknown_reason=f"direct reference {rest[1:].strip()!r}")
    version, reason = version_from_specifiers(rest)
    return lang_package("pypi", match["name"], version, version_unknown_reason=reason)


def parse(data: bytes) -> Parsed:
    packages: list[Package] = []
    problems: list[str] = []
    for line in logical_lines(decode_text(data)):
        result = parse_line(line)
        if isinstance(result, Package):
            packages.append(result)
        elif result:
            problems.append(result)
    return Parsed(packages=tuple(packages), problems=tuple(problems))


class RequirementsAnalyzer(FileAnalyzer):
    name: ClassVar[str] = ANALYZER
    version: ClassVar[int] = 1
    description: ClassVar[str] = "pip requirements files (*requirements*.txt)"
    result_type: ClassVar[str] = "pip"
    files: ClassVar[FileSpec] = spec(extensions=("txt",))  # *requirements*.txt (matches)

    def matches(self, path: str) -> bool:
        return fnmatch(basename(path).lower(), "*requirements*.txt")

    def parse_file(self, path: str, data: bytes) -> Parsed:
        return parse(data)
