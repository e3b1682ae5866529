"""Python wheels (``*.whl`` files) found in an image: the ``<name>-<version>.dist-info/METADATA``
member at the top of the zip (the wheel format, PEP 427 / the binary distribution spec).

A wheel left in an image (a ``/wheels`` directory of a multi-stage build, a pip
cache, a vendored installer) ships code that may be installed at run time, so it
is inventoried as scalibr does; Trivy does not read wheels. When a (malformed)
wheel holds several top-level ``.dist-info`` directories, the one named as the
wheel file is used. The zip is read bounded by
:mod:`layerscan.analyzers.python.zipdist`; a large wheel reaches the analyzer
as a stream and is read through its central directory, never whole.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import BinaryIO, ClassVar

from layerscan.analyzers.base import INSTALLED, AnalysisResult, FileSpec, MiB, spec
from layerscan.analyzers.langbase import FileAnalyzer, Parsed, basename, pep503
from layerscan.analyzers.python import metadata
from layerscan.analyzers.python.zipdist import read_member

ANALYZER = "python-wheel"
_SUFFIX = ".dist-info/METADATA"


def _stem(name: str) -> str:
    """'Foo_Bar-1.0' -> 'foo-bar-1.0': the name part PEP 503-normalised, the version kept."""
    distribution, _, version = name.partition("-")
    return f"{pep503(distribution)}-{version.split('-')[0]}"


def choose_metadata(wheel_name: str) -> Callable[[list[str]], str | None]:
    """The member picker for a wheel file named ``wheel_name``."""
    wanted = _stem(basename(wheel_name))

    def choose(names: list[str]) -> str | None:
        candidates = [n for n in names if n.count("/") == 1 and n.endswith(_SUFFIX)]
        named = [n for n in candidates if _stem(n[: -len(_SUFFIX)]) == wanted]
        return next(iter(named or candidates), None)

    return choose


def parse(path: str, data: bytes | BinaryIO) -> Parsed:
    """The package a wheel (bytes or a seekable stream) named ``path`` describes."""
    member, content = read_member(data, choose_metadata(path), "top-level *.dist-info/METADATA")
    parsed = metadata.parse(content)
    return Parsed(packages=tuple(replace(p, evidence=f"wheel {member}") for p in parsed.packages),
                  problems=parsed.problems)


class PythonWheelAnalyzer(FileAnalyzer):
    name: ClassVar[str] = ANALYZER
    version: ClassVar[int] = 1
    result_type: ClassVar[str] = "python-pkg"
    files: ClassVar[FileSpec] = spec(extensions=("whl",))
    modes: ClassVar[frozenset[str]] = INSTALLED
    max_file_size: ClassVar[int] = 512 * MiB  # as Java archives: a large one is read through its member list
    streams: ClassVar[bool] = True
    description: ClassVar[str] = "Python wheel files (*.whl): the top-level dist-info/METADATA"

    def matches(self, path: str) -> bool:
        return path.lower().endswith(".whl")

    def parse_file(self, path: str, data: bytes) -> Parsed:
        return parse(path, data)

    def analyze_stream(self, path: str, stream: BinaryIO) -> AnalysisResult:
        return self.run_parser(path, lambda: parse(path, stream))
