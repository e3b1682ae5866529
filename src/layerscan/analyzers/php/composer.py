"""Composer (PHP): ``composer.lock`` (fs mode) and ``vendor/composer/installed.json`` (installed).

Both are lists of package objects (``name`` "vendor/project", ``version``,
``license``): ``composer.lock`` in ``packages`` and ``packages-dev`` (dev=True);
``installed.json`` as a bare list (Composer 1) or ``{"packages": [...],
"dev-package-names": [...]}`` (Composer 2). A leading ``v`` is kept, as
Composer writes it; ``normalized_version`` is not used. Branch versions
(``dev-main``) are listed with an empty version and the reason.
"""

from __future__ import annotations

from typing import Any, ClassVar

from layerscan.analyzers.base import FileSpec, INSTALLED, spec
from layerscan.analyzers.langbase import (FileAnalyzer, Parsed, ParseError, as_dict, as_list, as_str, basename,
                                          lang_package, load_json)
from layerscan.model import Package

LOCK_ANALYZER = "php-composer-lock"
INSTALLED_ANALYZER = "php-composer-installed"


def _licenses(entry: dict[str, Any]) -> tuple[str, ...]:
    value = entry.get("license")
    return tuple(v for v in (as_list(value) or [value]) if isinstance(v, str) and v)


def to_package(raw: Any, dev: bool) -> Package | None:
    entry = as_dict(raw)
    name, version = as_str(entry.get("name")), as_str(entry.get("version"))
    if not name:
        return None
    vendor, _, project = name.rpartition("/")
    reason = f"branch version ({version})" if version.startswith("dev-") or version.endswith(".x-dev") else ""
    return lang_package("composer", name, "" if reason else version, namespace=vendor, purl_name=project,
                        dev=dev, licenses=_licenses(entry), version_unknown_reason=reason)


def _packages(entries: list[Any], dev_names: set[str], all_dev: bool = False) -> list[Package]:
    found = [to_package(e, all_dev or as_str(as_dict(e).get("name")) in dev_names) for e in entries]
    return [p for p in found if p is not None]


def parse_lock(data: bytes) -> Parsed:
    doc = load_json(data)
    if not isinstance(doc, dict):
        raise ParseError("composer.lock is not a JSON object")
    return Parsed(packages=tuple(_packages(as_list(doc.get("packages")), set())
                                 + _packages(as_list(doc.get("packages-dev")), set(), all_dev=True)))


def parse_installed(data: bytes) -> Parsed:
    doc = load_json(data)
    if isinstance(doc, list):
        return Parsed(packages=tuple(_packages(doc, set())))
    if isinstance(doc, dict):
        dev_names = {n for n in as_list(doc.get("dev-package-names")) if isinstance(n, str)}
        return Parsed(packages=tuple(_packages(as_list(doc.get("packages")), dev_names)))
    raise ParseError("installed.json is neither a list nor an object")


class ComposerLockAnalyzer(FileAnalyzer):
    name: ClassVar[str] = LOCK_ANALYZER
    version: ClassVar[int] = 1
    description: ClassVar[str] = "Composer composer.lock"
    result_type: ClassVar[str] = "composer"
    files: ClassVar[FileSpec] = spec(names=("composer.lock",))

    def matches(self, path: str) -> bool:
        return basename(path) == "composer.lock"

    def parse_file(self, path: str, data: bytes) -> Parsed:
        return parse_lock(data)


class ComposerInstalledAnalyzer(FileAnalyzer):
    name: ClassVar[str] = INSTALLED_ANALYZER
    version: ClassVar[int] = 1
    description: ClassVar[str] = "Installed Composer packages: vendor/composer/installed.json"
    result_type: ClassVar[str] = "composer-vendor"
    files: ClassVar[FileSpec] = spec(names=("installed.json",))  # under vendor/composer (matches)
    modes: ClassVar[frozenset[str]] = INSTALLED

    def matches(self, path: str) -> bool:
        return path == "vendor/composer/installed.json" or path.endswith("/vendor/composer/installed.json")

    def parse_file(self, path: str, data: bytes) -> Parsed:
        return parse_installed(data)
