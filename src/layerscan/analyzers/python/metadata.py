"""Installed Python distributions: core metadata (``METADATA`` / ``PKG-INFO``).

Files read (anywhere in the tree: system site-packages, venvs, ``--target`` dirs):

- ``*.dist-info/METADATA`` (wheels, pip installs)
- ``*.egg-info/PKG-INFO`` and ``EGG-INFO/PKG-INFO`` (setuptools, unzipped eggs)
- ``*.egg-info`` as a regular file (distutils ``install_egg_info``)

The format is RFC 822 style headers (PEP 241/314/345/566/643). Header names are
matched case-insensitively; lines that are neither ``Key: value`` nor a
continuation are skipped (real files carry stray description lines). Only the
header block is read; the description body after the first blank line is not.
"""

from __future__ import annotations

import io
import re
from typing import ClassVar

from layerscan.analyzers.langbase import FileAnalyzer, Parsed, ParseError, decode_text, lang_package
from layerscan.analyzers.base import FileSpec, INSTALLED, MiB, spec
from layerscan.model import Package

ANALYZER = "python-metadata"
_HEADER = re.compile(r"^([A-Za-z0-9][A-Za-z0-9_-]*)\s*:\s?(.*)$")
# The header block is bounded by the file size limit only: a real Name may follow
# tens of thousands of Classifier / Requires-Dist lines. What is kept is bounded:
_MAX_VALUES = 2_000  # values kept per header name (classifiers)
_MAX_VALUE_LINES = 64  # lines kept per (continued) value
USED_HEADERS = frozenset({"name", "version", "license", "license-expression", "classifier"})


def parse_headers(text: str, keep: frozenset[str] | None = None) -> dict[str, list[str]]:
    """Header block -> lower-cased key -> values (repeated keys keep every value, up to
    a bound). ``keep``: only these keys are stored (all when None)."""
    headers: dict[str, list[list[str]]] = {}  # each value as its lines, joined at the end
    current: list[str] | None = None  # lines of the value continuation lines extend
    for line in io.StringIO(text, newline=None):  # lazily: the body after the header block is never split
        line = line.rstrip("\n")
        if not line.strip():
            break
        if line[0] in " \t":
            if current is not None and len(current) < _MAX_VALUE_LINES:
                current.append(line.strip())
            continue
        match = _HEADER.match(line)
        current = None  # a stray line is not a header, nor part of the previous one
        if match is None:
            continue
        key = match[1].lower()
        if keep is not None and key not in keep:
            continue
        values = headers.setdefault(key, [])
        if len(values) < _MAX_VALUES:
            current = [match[2].strip()]
            values.append(current)
    return {key: ["\n".join(lines) for lines in values] for key, values in headers.items()}


def _first(headers: dict[str, list[str]], key: str) -> str:
    values = headers.get(key)
    return values[0] if values else ""


def licenses(headers: dict[str, list[str]]) -> tuple[str, ...]:
    """License-Expression, else a one-line License field, else the license classifiers."""
    expression = _first(headers, "license-expression")
    if expression:
        return (expression,)
    text = _first(headers, "license")
    if text and text.upper() != "UNKNOWN" and "\n" not in text and len(text) <= 120:
        return (text,)
    found = []
    for classifier in headers.get("classifier", []):
        parts = [p.strip() for p in classifier.split("::")]
        if len(parts) >= 2 and parts[0] == "License" and parts[-1] not in ("OSI Approved", ""):
            found.append(parts[-1])
    return tuple(found)


def parse(data: bytes) -> Parsed:
    """Parse one METADATA / PKG-INFO file into (at most) one package."""
    headers = parse_headers(decode_text(data, strict=False), USED_HEADERS)
    name, version = _first(headers, "name"), _first(headers, "version")
    if not name:
        raise ParseError("no Name field in the metadata headers")
    return Parsed(packages=(metadata_package(name, version, licenses(headers)),))


def metadata_package(name: str, version: str, license_names: tuple[str, ...]) -> Package:
    return lang_package("pypi", name, version, licenses=license_names, evidence="metadata",
                        version_unknown_reason="" if version else "no Version field in the metadata")


def is_metadata_path(path: str) -> bool:
    lower = path.lower()
    return (
        lower.endswith("dist-info/metadata")
        or lower.endswith("egg-info/pkg-info")
        or lower.endswith(".egg-info")
    )


class PythonMetadataAnalyzer(FileAnalyzer):
    name: ClassVar[str] = ANALYZER
    version: ClassVar[int] = 2  # 2: headers past 20,000 lines are read
    description: ClassVar[str] = "Installed Python distributions: *.dist-info/METADATA, PKG-INFO, *.egg-info"
    result_type: ClassVar[str] = "python-pkg"
    files: ClassVar[FileSpec] = spec(names=("METADATA", "PKG-INFO"), extensions=("egg-info",))
    modes: ClassVar[frozenset[str]] = INSTALLED
    max_file_size: ClassVar[int] = 16 * MiB

    def matches(self, path: str) -> bool:
        return is_metadata_path(path)

    def parse_file(self, path: str, data: bytes) -> Parsed:
        return parse(data)
