"""Binary classifiers: runtimes and servers shipped without package metadata (a
distroless image's ``python3.11``, a copied ``nginx``, a vendored ``libcrypto.so.3``),
identified by the version string the project compiles in (``classifiers.CLASSIFIERS``).

Only files whose basename a classifier names are offered (never every file). The search
is bounded: at most ``Classifier.max_read`` bytes of the file, in ``WINDOW`` windows that
overlap by the longest signature context, each located with ``bytes.find`` on a literal
needle; the regular expression runs only on the few bytes around a needle, at most
``MAX_HITS`` times per file. It stops at the first match. Large files come as a stream
(``Analyzer.streams``), so a huge file is never held whole for this.

A package is reported with a purl (``pkg:generic/python@3.11.2``; Go's ``VERSION`` file as
``pkg:golang/stdlib``, matched in the Go namespace), the file as ``file_path`` and the
matched string with its offset as ``evidence``; ``extra`` carries ``binary_product`` and
``eol_runtime`` (``match.lifecycle`` reads the latter). A file an OS package owns is that
package already: the squash step drops the classifier's package for it
(``Analyzer.superseded_by_os_package``).

Modes: all (a binary in a project tree ships just the same).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import BinaryIO, Callable, ClassVar

from layerscan.analyzers.base import ALL_MODES, AnalysisResult, Analyzer, FileSpec, MiB, spec, unknown
from layerscan.analyzers.binary.classifiers import CLASSIFIERS, Classifier
from layerscan.analyzers.langbase import lang_package
from layerscan.model import Package

NAME = "binary-classifier"
WINDOW = 1 * MiB
MAX_HITS = 4096  # needle occurrences tried per file and classifier
MAX_EVIDENCE = 120
PRODUCT, EOL_RUNTIME = "binary_product", "eol_runtime"  # Package.extra keys (match.lifecycle reads the runtime)

Reader = Callable[[int, int], bytes]  # (offset, size) -> at most size bytes from offset


@dataclass(frozen=True)
class Found:
    classifier: Classifier
    version: str
    offset: int  # of the matched string in the file
    text: str  # the matched string, NULs trimmed


def classifiers_for(path: str) -> tuple[tuple[Classifier, str], ...]:
    """(classifier, release line the name carries or "") for each classifier naming ``path``."""
    head, _, base = path.rpartition("/")
    lower = base.lower()
    out = []
    for c in CLASSIFIERS:
        m = c.name_match(lower)
        if m and c.dir_matches(head):
            out.append((c, m.groupdict().get("line") or ""))
    return tuple(out)


def _agrees(version: str, line: str) -> bool:
    return not line or version == line or version.startswith(line + ".")


def search(read: Reader, size: int, classifier: Classifier, line: str = "") -> Found | None:
    """The first signature match in the first ``classifier.max_read`` bytes (None: none)."""
    limit = min(size, classifier.max_read)
    before = max(s.before for s in classifier.signatures)
    after = max(len(s.needle) + s.after for s in classifier.signatures)
    hits = 0
    for start in range(0, limit, WINDOW):
        lo, end = max(0, start - before), min(start + WINDOW, limit)
        buf = read(lo, min(end + after, size) - lo)
        for sig in classifier.signatures:
            stop = end - lo + len(sig.needle) - 1  # a needle starting before ``end`` is this window's
            at = buf.find(sig.needle, start - lo, stop)
            while at >= 0:
                hits += 1
                if hits > MAX_HITS:
                    return None
                m = sig.regex.search(buf, max(0, at - sig.before), at + len(sig.needle) + sig.after)
                if m and _agrees(m.group("version").decode("ascii"), line):
                    text = m.group(0).strip(b"\x00").decode("latin-1")[:MAX_EVIDENCE]
                    return Found(classifier, m.group("version").decode("ascii"), lo + m.start(), text)
                at = buf.find(sig.needle, at + 1, stop)
    return None


def package(found: Found, path: str) -> Package:
    c = found.classifier
    extra = ((PRODUCT, c.product),) + (((EOL_RUNTIME, c.runtime),) if c.runtime else ())
    evidence = f"version string {found.text!r} at offset {found.offset}"
    return lang_package(c.purl_type, c.name, c.version_prefix + found.version, namespace=c.purl_namespace,
                        file_path=path, found_by=NAME, evidence=evidence, extra=extra)


def classify(path: str, size: int, read: Reader) -> tuple[Package, ...]:
    """Pure: the packages the classifiers naming ``path`` find in its content."""
    packages = []
    for classifier, line in classifiers_for(path):
        found = search(read, size, classifier, line)
        if found is not None:
            packages.append(package(found, path))
    return tuple(packages)


def bytes_reader(data: bytes) -> Reader:
    return lambda offset, size: data[offset: offset + size]


def stream_reader(stream: BinaryIO) -> Reader:
    def read(offset: int, size: int) -> bytes:
        stream.seek(offset)
        return stream.read(size)
    return read


def _index_spec() -> FileSpec:
    return spec(names=tuple(n for c in CLASSIFIERS for n in c.index_names),
                prefixes=tuple(p for c in CLASSIFIERS for p in c.index_prefixes))


class BinaryClassifierAnalyzer(Analyzer):
    name: ClassVar[str] = NAME
    version: ClassVar[int] = 1
    description: ClassVar[str] = ("Binaries without package metadata (python, node, openjdk, go, php, ruby, perl, "
                                  "nginx, httpd, postgres, mariadb, openssl, busybox, curl, haproxy): version strings")
    result_type: ClassVar[str] = "binary"
    files: ClassVar[FileSpec] = _index_spec()
    modes: ClassVar[frozenset[str]] = ALL_MODES
    streams: ClassVar[bool] = True
    max_file_size: ClassVar[int] = 1 << 40  # never read whole: each classifier reads its max_read at most
    superseded_by_os_package: ClassVar[bool] = True

    def wants(self, path: str, mode: int, size: int) -> bool:
        return size > 0 and bool(classifiers_for(path))

    def analyze(self, path: str, data: bytes) -> AnalysisResult:
        return AnalysisResult(packages=classify(path, len(data), bytes_reader(data)))

    def analyze_stream(self, path: str, stream: BinaryIO) -> AnalysisResult:
        try:
            size = stream.seek(0, os.SEEK_END)
            return AnalysisResult(packages=classify(path, size, stream_reader(stream)))
        except OSError as exc:
            return unknown(path, f"unreadable: {exc}", self.name)
