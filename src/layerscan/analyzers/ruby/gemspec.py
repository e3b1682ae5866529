"""Installed Ruby gems: ``specifications/*.gemspec`` (image and rootfs mode).

A gemspec is Ruby code; RubyGems writes installed ones with literal values
(``s.name = "rake".freeze``, ``s.version = "13.0.3"``), which careful regexes
read. The code is never evaluated. A version given by an expression (a
``VERSION`` constant from a required file) cannot be resolved from this one
file: the gem is then listed with an empty version and that reason.
"""

from __future__ import annotations

import re
from typing import ClassVar

from layerscan.analyzers.base import FileSpec, INSTALLED, MiB, spec
from layerscan.analyzers.langbase import FileAnalyzer, Parsed, ParseError, decode_text, lang_package

ANALYZER = "ruby-gemspec"
_STRING = r"""(?:"([^"\n]*)"|'([^'\n]*)')"""
_ASSIGN = r"^\s*\w+\.{field}\s*=\s*"
_NAME = re.compile(_ASSIGN.format(field="name") + _STRING, re.M)
_VERSION_LINE = re.compile(_ASSIGN.format(field="version") + r"(.+)$", re.M)
_LITERAL_VERSION = re.compile(r"^(?:Gem::Version\.new\(\s*)?" + _STRING)
_LICENSES = re.compile(_ASSIGN.format(field="licenses?") + r"(\[[^\]]*\]|" + _STRING + ")", re.M)
_QUOTED = re.compile(_STRING)


def _string(match: re.Match[str], first_group: int = 1) -> str:
    return match[first_group] if match[first_group] is not None else match[first_group + 1] or ""


def _version(text: str) -> tuple[str, str]:
    line = _VERSION_LINE.search(text)
    if line is None:
        return "", "no version assignment in the gemspec"
    literal = _LITERAL_VERSION.match(line[1].strip())
    if literal is None:
        return "", f"version is a Ruby expression ({line[1].strip()[:80]}), not evaluated"
    return _string(literal), ""


def _licenses(text: str) -> tuple[str, ...]:
    match = _LICENSES.search(text)
    if match is None:
        return ()
    return tuple(_string(m) for m in _QUOTED.finditer(match[1]) if _string(m))


def parse(data: bytes) -> Parsed:
    text = decode_text(data, strict=False)
    name = _NAME.search(text)
    if name is None:
        raise ParseError("no literal name assignment in the gemspec")
    version, reason = _version(text)
    return Parsed(packages=(lang_package("gem", _string(name), version, licenses=_licenses(text),
                                         version_unknown_reason=reason, evidence="gemspec"),))


class GemspecAnalyzer(FileAnalyzer):
    name: ClassVar[str] = ANALYZER
    version: ClassVar[int] = 1
    description: ClassVar[str] = "Installed Ruby gems: specifications/*.gemspec"
    result_type: ClassVar[str] = "gemspec"
    files: ClassVar[FileSpec] = spec(extensions=("gemspec",))  # in a specifications directory (matches)
    modes: ClassVar[frozenset[str]] = INSTALLED
    max_file_size: ClassVar[int] = 4 * MiB

    def matches(self, path: str) -> bool:
        directory, _, filename = path.rpartition("/")
        in_specifications = directory == "specifications" or directory.endswith("/specifications")
        return filename.endswith(".gemspec") and in_specifications

    def parse_file(self, path: str, data: bytes) -> Parsed:
        return parse(data)
