"""Version schemes, one module per ecosystem's ordering rules."""

from __future__ import annotations

import importlib

from layerscan.ecosystems import distro_schemes, language_schemes
from layerscan.versions.base import InvalidVersion, VersionScheme

# scheme name -> "module:Class"
_SCHEMES: dict[str, str] = {
    "deb": "layerscan.versions.deb:DebScheme",
    "apk": "layerscan.versions.apk:ApkScheme",
    "rpm": "layerscan.versions.rpm:RpmScheme",
    "pep440": "layerscan.versions.pep440:Pep440Scheme",
    "semver": "layerscan.versions.semver:SemverScheme",
    "npm": "layerscan.versions.npm:NpmScheme",
    "maven": "layerscan.versions.maven:MavenScheme",
    "golang": "layerscan.versions.golang:GolangScheme",
    "gem": "layerscan.versions.gem:GemScheme",
    "nuget": "layerscan.versions.nuget:NugetScheme",
    "composer": "layerscan.versions.composer:ComposerScheme",
}

# package type / OSV ecosystem prefix -> scheme name, from the records in layerscan.ecosystems
ECOSYSTEM_SCHEME: dict[str, str] = {
    **distro_schemes(),  # deb/Debian/Ubuntu -> deb, ...: the OS types and the distributions (DISTROS)
    **language_schemes(),  # pypi/PyPI -> pep440, ...: the language records (ECOSYSTEMS)
}

_cache: dict[str, VersionScheme] = {}


def get_scheme(name_or_ecosystem: str) -> VersionScheme:
    """Scheme by scheme name, package type or OSV ecosystem ("Debian:12" -> deb)."""
    key = name_or_ecosystem.split(":", 1)[0]
    name = ECOSYSTEM_SCHEME.get(key, key)
    if name not in _cache:
        entry = _SCHEMES.get(name)
        if entry is None:
            raise KeyError(f"no version scheme for {name_or_ecosystem!r}")
        module_name, _, cls_name = entry.partition(":")
        _cache[name] = getattr(importlib.import_module(module_name), cls_name)()
    return _cache[name]


def compare(ecosystem: str, a: str, b: str) -> int:
    """-1, 0 or 1 as ``a`` sorts before, equal to or after ``b`` in the ecosystem's scheme.

    Raises KeyError for an unknown ecosystem and InvalidVersion for a version
    the scheme rejects.
    """
    return get_scheme(ecosystem).compare(a, b)


def scheme_names() -> list[str]:
    return sorted(_SCHEMES)


__all__ = ["ECOSYSTEM_SCHEME", "InvalidVersion", "VersionScheme", "compare", "get_scheme", "scheme_names"]
