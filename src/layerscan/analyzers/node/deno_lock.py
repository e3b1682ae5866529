"""Deno ``deno.lock`` (lockfile versions 2 to 5), fs mode.

Where each version keeps its packages:

- v2: ``npm.packages`` (``name@version`` keys) and ``remote`` (URL -> hash);
- v3: ``packages.npm`` and ``packages.jsr``, plus ``remote``;
- v4/v5: top-level ``npm`` and ``jsr``, plus ``remote``.

npm keys may carry peer suffixes (``typedoc@0.28.19_typescript@6.0.3``, or
``(...)`` in newer files), which are dropped. npm packages are ``npm``
packages; JSR packages (``@std/bytes@1.0.2``) are ``jsr`` packages, and
versioned remote modules (``https://deno.land/std@0.140.0/...``,
``https://deno.land/x/oak@v12.0.0/...``) are ``deno`` packages named after
their host and path: both are listed, but no advisory namespace covers them,
so they are not matched as npm packages of the same name.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any, ClassVar

from layerscan.analyzers.base import FileSpec, spec
from layerscan.analyzers.langbase import (FileAnalyzer, Parsed, ParseError, as_dict, as_str, basename,
                                          lang_package, load_json_object)
from layerscan.analyzers.node.npm import npm_package, split_descriptor, split_scope
from layerscan.model import Package

ANALYZER = "node-deno-lock"
# https://deno.land/std@0.140.0/path/mod.ts, https://deno.land/x/oak@v12.0.0/mod.ts
_REMOTE = re.compile(r"^https?://(?P<host>[^/@]+)/(?P<path>[^@?#]+?)@(?P<version>[^/?#]+)/")


def _sections(doc: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(npm, jsr) package maps for the lockfile's version."""
    version = as_str(doc.get("version"))
    if version == "2":
        return as_dict(as_dict(doc.get("npm")).get("packages")), {}
    if version == "3":
        packages = as_dict(doc.get("packages"))
        return as_dict(packages.get("npm")), as_dict(packages.get("jsr"))
    if version and not version.isdigit():
        raise ParseError(f"unrecognised deno.lock version {version!r}")
    return as_dict(doc.get("npm")), as_dict(doc.get("jsr"))


def _name_version(key: str) -> tuple[str, str]:
    name, version = split_descriptor(key)
    return name, re.split(r"[_(]", version, maxsplit=1)[0]


def _npm(entries: dict[str, Any]) -> Iterator[Package]:
    for key in entries:
        name, version = _name_version(key)
        yield npm_package(name, version)


def _jsr(entries: dict[str, Any]) -> Iterator[Package]:
    for key in entries:
        name, version = _name_version(key)
        scope, bare = split_scope(name)
        yield lang_package("jsr", name, version, namespace=scope, purl_name=bare)


def _remote(urls: dict[str, Any]) -> Iterator[Package]:
    seen: set[tuple[str, str]] = set()
    for url in urls:
        match = _REMOTE.match(url)
        if match is None:
            continue
        name = f"{match['host']}/{match['path']}"
        if (name, match["version"]) not in seen:
            seen.add((name, match["version"]))
            host_ns, _, rest = name.rpartition("/")
            yield lang_package("deno", name, match["version"], namespace=host_ns, purl_name=rest,
                               extra=(("url", url),))


def parse(data: bytes) -> Parsed:
    doc = load_json_object(data)
    if "version" not in doc:
        raise ParseError("not a deno.lock: no 'version'")
    npm, jsr = _sections(doc)
    packages = [*_npm(npm), *_jsr(jsr), *_remote(as_dict(doc.get("remote")))]
    return Parsed(packages=tuple(packages))


class DenoLockAnalyzer(FileAnalyzer):
    name: ClassVar[str] = ANALYZER
    version: ClassVar[int] = 1
    description: ClassVar[str] = "Deno deno.lock"
    result_type: ClassVar[str] = "deno"
    files: ClassVar[FileSpec] = spec(names=("deno.lock",))

    def matches(self, path: str) -> bool:
        return basename(path) == "deno.lock" and "node_modules/" not in path

    def parse_file(self, path: str, data: bytes) -> Parsed:
        return parse(data)
