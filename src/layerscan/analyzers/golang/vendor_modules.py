"""Go ``vendor/modules.txt`` (written by ``go mod vendor``), fs mode.

Each vendored module has a header line, optional ``##`` annotation lines and
the import paths of its vendored packages::

    # golang.org/x/net v0.5.6 => example.com/fork/net v1.4.5
    ## explicit; go 1.20
    example.com/fork/net/http2

Header forms: ``# path version``, ``# path version => new-path new-version``,
``# path => new-path new-version`` (a replace of every version) and
``# path [version] => ./dir`` (a local directory). A module is listed only when
at least one of its packages is vendored (a header alone means go.mod requires
it but no code of it is in the tree). As in go.mod, a replacement by another
module lists the replacement, and a replacement by a local directory lists the
original path without a version (``version_unknown_reason``). A malformed
header is reported only when packages follow it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from layerscan.analyzers.base import FileSpec, spec
from layerscan.analyzers.golang.names import go_package
from layerscan.analyzers.langbase import FileAnalyzer, Parsed, decode_text
from layerscan.model import Package

ANALYZER = "go-vendor-modules"
EVIDENCE = "vendor/modules.txt"


@dataclass(frozen=True)
class Module:
    """A header line resolved to what is vendored: the module path and version, or why not."""

    path: str
    version: str
    unknown_reason: str = ""
    problem: str = ""


def _is_local(path: str) -> bool:
    return path.startswith(("./", "../", "/")) or path in (".", "..")


def parse_header(fields: list[str]) -> Module:
    """Words after '# ' -> the module whose code is vendored."""
    if "=>" in fields:
        at = fields.index("=>")
        old, new = fields[:at], fields[at + 1:]
    else:
        old, new = fields, []
    if len(old) not in (1, 2) or len(new) > 2 or (not new and len(old) != 2):
        return Module("", "", problem=f"malformed module line '# {' '.join(fields)}'")
    if new and _is_local(new[0]):
        return Module(old[0], "", unknown_reason=f"replaced by local directory {new[0]}")
    if len(new) == 2:
        return Module(new[0], new[1])
    if new:
        return Module("", "", problem=f"replacement without a version in '# {' '.join(fields)}'")
    return Module(old[0], old[1])


def parse(data: bytes) -> Parsed:
    current: Module | None = None
    reported = False  # the current header's problem is already recorded
    found: dict[tuple[str, str], Package] = {}
    problems: list[str] = []
    for line in decode_text(data).splitlines():
        if line.startswith("## ") or not line.strip():
            continue
        if line.startswith("# "):
            current, reported = parse_header(line[2:].split()), False
            continue
        if current is None:
            current = Module("", "", problem="package lines before any module line")
        if current.problem:
            if not reported:
                problems.append(current.problem)
                reported = True
        elif (current.path, current.version) not in found:
            found[(current.path, current.version)] = go_package(
                current.path, current.version, file_path="", found_by="", evidence=EVIDENCE,
                version_unknown_reason=current.unknown_reason)
    return Parsed(packages=tuple(found.values()), problems=tuple(problems))


class VendorModulesAnalyzer(FileAnalyzer):
    name: ClassVar[str] = ANALYZER
    version: ClassVar[int] = 1
    description: ClassVar[str] = "vendor/modules.txt: the vendored modules"
    result_type: ClassVar[str] = "gomod-vendor"
    files: ClassVar[FileSpec] = spec(names=("modules.txt",))

    def matches(self, path: str) -> bool:
        return path == "vendor/modules.txt" or path.endswith("/vendor/modules.txt")

    def parse_file(self, path: str, data: bytes) -> Parsed:
        return parse(data)
