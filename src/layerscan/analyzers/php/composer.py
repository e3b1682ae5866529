"""Composer (PHP): ``composer.lock`` (fs mode) and ``vendor/composer/installed.json`` (installed).

Both are lists of package objects (``name`` "vendor/project", ``version``,
``license``): ``composer.lock`` in ``packages`` and ``packages-dev`` (dev=True);
``installed.json`` as a bare list (Composer 1) or ``{"packages": [...],
"dev-package-names": [...]}`` (Composer 2). A leading ``v`` is kept, as
Composer writes it; ``normalized_version`` is not used. Branch versions
(``dev-main``) are listed with an empty version and the reason.

A composer.lock does not say which packages the project requires itself: with the
``composer.json`` beside it (a sibling file, when present), a package named in neither
its ``require`` nor its ``require-dev`` is ``indirect``, as Trivy reads it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any, ClassVar

from layerscan.analyzers.base import FileSpec, INSTALLED, spec
from layerscan.analyzers.langbase import (FileAnalyzer, Parsed, ParseError, as_dict, as_list, as_str, basename,
                                          lang_package, load_json)
from layerscan.model import Package

LOCK_ANALYZER = "php-composer-lock"
COMPOSER_JSON = "composer.json"
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


def required_names(data: bytes) -> set[str]:
    """The package names a composer.json requires itself (``require`` and ``require-dev``)."""
    doc = load_json(data)
    if not isinstance(doc, dict):
        raise ParseError("composer.json is not a JSON object")
    return {name.lower() for key in ("require", "require-dev") for name in as_dict(doc.get(key))}


def parse_lock(data: bytes, siblings: Mapping[str, bytes] | None = None) -> Parsed:
    """``siblings``: the files beside the composer.lock, of which ``composer.json`` is read."""
    doc = load_json(data)
    if not isinstance(doc, dict):
        raise ParseError("composer.lock is not a JSON object")
    packages = (_packages(as_list(doc.get("packages")), set())
                + _packages(as_list(doc.get("packages-dev")), set(), all_dev=True))
    problems: tuple[str, ...] = ()
    if siblings and COMPOSER_JSON in siblings:
        try:
            direct = required_names(siblings[COMPOSER_JSON])
            packages = [replace(p, indirect=p.name.lower() not in direct) for p in packages]
        except ParseError as exc:
            problems = (f"{COMPOSER_JSON} beside it is unreadable ({exc}): read without it",)
    return Parsed(packages=tuple(packages), problems=problems)


def _nameless(entries: list[Any]) -> tuple[str, ...]:
    skipped = sum(1 for e in entries if not as_str(as_dict(e).get("name")))
    return (f"{skipped} package entries without a name skipped",) if skipped else ()


def parse_installed(data: bytes) -> Parsed:
    """Composer 1 (a bare list of packages) or Composer 2 (``{"packages": [...], "dev-package-names": [...]}``)."""
    doc = load_json(data)
    if isinstance(doc, dict):
        if not isinstance(doc.get("packages"), list):
            raise ParseError("installed.json object without a 'packages' list (Composer 2 format)")
        entries: list[Any] = doc["packages"]
        dev_names = {n for n in as_list(doc.get("dev-package-names")) if isinstance(n, str)}
    elif isinstance(doc, list):
        entries, dev_names = doc, set()
    else:
        raise ParseError("installed.json is neither a list (Composer 1) nor an object (Composer 2)")
    return Parsed(packages=tuple(_packages(entries, dev_names)), problems=_nameless(entries))


class ComposerLockAnalyzer(FileAnalyzer):
    name: ClassVar[str] = LOCK_ANALYZER
    version: ClassVar[int] = 2
    description: ClassVar[str] = "Composer composer.lock (direct dependencies from the composer.json beside it)"
    result_type: ClassVar[str] = "composer"
    files: ClassVar[FileSpec] = spec(names=("composer.lock",))
    siblings: ClassVar[frozenset[str]] = frozenset({COMPOSER_JSON})

    def matches(self, path: str) -> bool:
        return basename(path) == "composer.lock"

    def keeps_sibling(self, path: str) -> bool:
        return "/vendor/" not in f"/{path}"  # packages' own composer.json files under vendor/

    def parse_file(self, path: str, data: bytes) -> Parsed:
        return parse_lock(data)

    def parse_with_siblings(self, path: str, data: bytes, siblings: Mapping[str, bytes]) -> Parsed:
        return parse_lock(data, siblings)


class ComposerInstalledAnalyzer(FileAnalyzer):
    name: ClassVar[str] = INSTALLED_ANALYZER
    version: ClassVar[int] = 2
    description: ClassVar[str] = ("Installed Composer packages: vendor/composer/installed.json (Composer 1 "
                                      "list, Composer 2 object)")
    result_type: ClassVar[str] = "composer-vendor"
    files: ClassVar[FileSpec] = spec(names=("installed.json",))  # under vendor/composer (matches)
    modes: ClassVar[frozenset[str]] = INSTALLED

    def matches(self, path: str) -> bool:
        return path == "vendor/composer/installed.json" or path.endswith("/vendor/composer/installed.json")

    def parse_file(self, path: str, data: bytes) -> Parsed:
        return parse_installed(data)
