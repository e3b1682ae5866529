"""Yarn ``yarn.lock``: classic (v1, its own syntax) and berry (v2+, YAML), fs mode.

Both are read by one line-based reader, so a huge or odd file cannot blow up
a YAML parser: entries start at column 0 (``"a@^1", a@^1.1:``), their fields
are indented two spaces (``version "1.2.3"`` or ``version: 1.2.3``), deeper
lines (dependency lists) are skipped. The name comes from berry's
``resolution`` or the first descriptor (aliases ``x@npm:real@^1`` resolve to
``real``); workspace entries are the application's own packages. Yarn does not
record dev or direct dependencies: that needs package.json.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import ClassVar

from layerscan.analyzers.base import FileSpec, spec
from layerscan.analyzers.langbase import FileAnalyzer, Parsed, basename, decode_text
from layerscan.analyzers.node.npm import npm_package, split_descriptor
from layerscan.model import Package

ANALYZER = "node-yarn-lock"


@dataclass
class _Entry:
    descriptors: list[str]
    fields: dict[str, str] = field(default_factory=dict)


def _unquote(text: str) -> str:
    text = text.strip()
    return text[1:-1] if len(text) >= 2 and text[0] == text[-1] == '"' else text


def _field(line: str) -> tuple[str, str]:
    """'version "1.2.3"' (classic) or 'version: 1.2.3' (berry) -> ('version', '1.2.3')."""
    key, _, value = line.strip().partition(" ")
    return _unquote(key.removesuffix(":")), _unquote(value)


def entries(text: str) -> Iterator[_Entry]:
    current: _Entry | None = None
    for line in text.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        if not line[0].isspace():
            if current is not None:
                yield current
            header = line.rstrip().removesuffix(":")
            current = _Entry([_unquote(d) for d in header.split(",") if d.strip()])
        elif current is not None and line.startswith("  ") and not line.startswith("   "):
            key, value = _field(line)
            current.fields[key] = value
    if current is not None:
        yield current


def entry_name(entry: _Entry) -> str:
    resolution = entry.fields.get("resolution", "")
    if resolution:
        return split_descriptor(resolution)[0]
    name, spec = split_descriptor(entry.descriptors[0])
    if spec.startswith("npm:") and split_descriptor(spec[4:])[1]:
        return split_descriptor(spec[4:])[0]
    return name


def _is_workspace(entry: _Entry) -> bool:
    return any(split_descriptor(d)[1].startswith(("workspace:", "link:", "portal:")) for d in entry.descriptors) or \
        split_descriptor(entry.fields.get("resolution", ""))[1].startswith(("workspace:", "link:", "portal:"))


def to_package(entry: _Entry) -> Package:
    name = entry_name(entry)
    if _is_workspace(entry):
        return npm_package(name, entry.fields.get("version", ""), is_application=True)
    return npm_package(name, entry.fields.get("version", ""))


def parse(data: bytes) -> Parsed:
    seen: dict[tuple[str, str, bool], Package] = {}
    for entry in entries(decode_text(data)):
        if not entry.descriptors or entry.descriptors[0] == "__metadata":
            continue
        package = to_package(entry)
        seen.setdefault((package.name, package.version, package.is_application), package)
    return Parsed(packages=tuple(seen.values()))


class YarnLockAnalyzer(FileAnalyzer):
    name: ClassVar[str] = ANALYZER
    version: ClassVar[int] = 1
    description: ClassVar[str] = "Yarn yarn.lock"
    result_type: ClassVar[str] = "yarn"
    files: ClassVar[FileSpec] = spec(names=("yarn.lock",))

    def matches(self, path: str) -> bool:
        return basename(path) == "yarn.lock" and "node_modules/" not in path

    def parse_file(self, path: str, data: bytes) -> Parsed:
        return parse(data)
