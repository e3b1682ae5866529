"""Installed Ruby gems: ``specifications/*.gemspec`` (image and rootfs mode).

A gemspec is Ruby code; RubyGems writes installed ones with literal values
(``s.name = "rake".freeze``, ``s.version = "13.0.3"``), which careful regexes
read. The code is never evaluated. A version given by a constant or variable
(``Foo::VERSION``, ``Foo::Version``, ``version``, optionally ``.dup``/``.freeze``/
``.to_s`` or inside ``Gem::Version.new(...)``) is resolved only from a literal
assignment of that name (``VERSION = "1.2.3".freeze``) in the gemspec itself or
in a ``lib/**/version.rb`` of the gem handed to :func:`parse`, whose module must
be the constant's namespace. Anything else (the name assigned twice with different
literals, an expression, a definition in a file not given) lists the gem with an
empty version and that reason: never a guess.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import ClassVar

from layerscan.analyzers.base import FileSpec, INSTALLED, MiB, spec
from layerscan.analyzers.langbase import FileAnalyzer, Parsed, ParseError, decode_text, lang_package

ANALYZER = "ruby-gemspec"
_STRING = r"""(?:"([^"\n]*)"|'([^'\n]*)')"""
_ASSIGN = r"^\s*\w+\.{field}\s*=\s*"
_NAME = re.compile(_ASSIGN.format(field="name") + _STRING, re.M)
_VERSION_LINE = re.compile(_ASSIGN.format(field="version") + r"(.+)$", re.M)
_LITERAL_VERSION = re.compile(r"^(?:Gem::Version\.new\(\s*)?" + _STRING)
# a constant path or a local variable, as the whole version expression
_REFERENCE = re.compile(r"^(?:Gem::Version\.new\(\s*)?((?:[A-Z]\w*::)*)([A-Za-z_]\w*)"
                        r"(?:\.(?:dup|freeze|to_s))*\s*\)?\s*(?:#.*)?$")
_ASSIGNED_LITERAL = r"(?:^|;)[ \t]*(?:self\.)?{name}[ \t]*=[ \t]*" + _STRING + r"(?:\.freeze)?[ \t]*(?:;|#|$)"
_MODULE = re.compile(r"^\s*(?:module|class)\s+((?:\w+::)*\w+)", re.M)
MAX_VERSION_FILES = 16
_LICENSES = re.compile(_ASSIGN.format(field="licenses?") + r"(\[[^\]]*\]|" + _STRING + ")", re.M)
_QUOTED = re.compile(_STRING)


def _string(match: re.Match[str], first_group: int = 1) -> str:
    return match[first_group] if match[first_group] is not None else match[first_group + 1] or ""


def _literals(name: str, text: str) -> set[str]:
    pattern = re.compile(_ASSIGNED_LITERAL.format(name=re.escape(name)), re.M)
    return {_string(m) for m in pattern.finditer(text)}


def _declares(namespace: str, text: str) -> bool:
    """Does ``text`` open the module/class the constant path's namespace ends with?"""
    last = namespace.rstrip(":").rsplit("::", 1)[-1]
    return any(m[1].rsplit("::", 1)[-1] == last for m in _MODULE.finditer(text))


def resolve_reference(expression: str, text: str, version_files: Mapping[str, str]) -> tuple[str, str]:
    """The literal a constant/variable version expression names, from ``text`` (the gemspec)
    or else the ``version_files`` (path -> text): (version, "") or ("", reason)."""
    ref = _REFERENCE.match(expression)
    if ref is None:
        return "", f"version is a Ruby expression ({expression[:80]}), not evaluated"
    namespace, name = ref[1], ref[2]
    label = f"{namespace}{name}"
    found = _literals(name, text) if not namespace or _declares(namespace, text) else set()
    where = "the gemspec"
    if not found:
        for path, source in sorted(version_files.items())[:MAX_VERSION_FILES]:
            literals = _literals(name, source) if not namespace or _declares(namespace, source) else set()
            if literals:
                found |= literals
                where = path
    if len(found) > 1:
        return "", f"version {label} is assigned different literals ({', '.join(sorted(found))[:80]}); not guessed"
    if not found:
        return "", f"version is {label}, defined outside the gemspec (a required file not read); not evaluated"
    (version,) = found
    if not version:
        return "", f"version {label} is an empty string in {where}"
    return version, ""


def _version(text: str, version_files: Mapping[str, str]) -> tuple[str, str]:
    line = _VERSION_LINE.search(text)
    if line is None:
        return "", "no version assignment in the gemspec"
    expression = line[1].strip()
    literal = _LITERAL_VERSION.match(expression)
    if literal is None:
        return resolve_reference(expression, text, version_files)
    return _string(literal), ""


def _licenses(text: str) -> tuple[str, ...]:
    match = _LICENSES.search(text)
    if match is None:
        return ()
    return tuple(_string(m) for m in _QUOTED.finditer(match[1]) if _string(m))


def parse(data: bytes, version_files: Mapping[str, bytes] | None = None) -> Parsed:
    """One gemspec; ``version_files`` (path -> bytes): the gem's ``lib/**/version.rb`` files,
    read only to resolve a version constant the gemspec does not assign itself."""
    text = decode_text(data, strict=False)
    name = _NAME.search(text)
    if name is None:
        raise ParseError("no literal name assignment in the gemspec")
    sources = {path: decode_text(content, strict=False) for path, content in (version_files or {}).items()}
    version, reason = _version(text, sources)
    return Parsed(packages=(lang_package("gem", _string(name), version, licenses=_licenses(text),
                                         version_unknown_reason=reason, evidence="gemspec"),))


class GemspecAnalyzer(FileAnalyzer):
    name: ClassVar[str] = ANALYZER
    version: ClassVar[int] = 2
    description: ClassVar[str] = ("Installed Ruby gems: specifications/*.gemspec (a version constant is resolved "
                                      "only from a literal in the gemspec)")
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
