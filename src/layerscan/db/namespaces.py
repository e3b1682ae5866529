"""Namespace (OSV ecosystem + release) and package-name keys used in the database.

Stored namespaces are normalised so the matcher can build them from the OS
release alone: ``Debian:12`` (major only), ``Alpine:v3.19`` (``v`` + major.minor),
``Ubuntu:22.04`` (``:LTS`` suffix dropped), ``SUSE:15.5`` / ``openSUSE:15.5`` (see
``suse_namespaces``). Package names keep the ecosystem's
spelling; ``name_key`` is what lookups compare (PEP 503 for PyPI).
"""

from __future__ import annotations

import re

from layerscan.db.suse_namespaces import opensuse_namespace, suse_namespace
from layerscan.ecosystems import pep503

_ALPINE_RELEASE = re.compile(r"^v?(\d+)\.(\d+)")


def _debian(release: str) -> str:
    major = release.split(".")[0]
    return f"Debian:{major}" if major else "Debian"


def _alpine(release: str) -> str:
    m = _ALPINE_RELEASE.match(release)
    return f"Alpine:v{m.group(1)}.{m.group(2)}" if m else f"Alpine:{release}"


def _ubuntu(release: str) -> str:
    parts = [p for p in release.split(":") if p and p != "LTS"]
    return "Ubuntu:" + ":".join(parts) if parts else "Ubuntu"


_RELEASE_RULES = {"Debian": _debian, "Alpine": _alpine, "Ubuntu": _ubuntu,
                  "SUSE": suse_namespace, "openSUSE": opensuse_namespace}


def normalise_namespace(ecosystem: str) -> str:
    """'Debian:9.13' -> 'Debian:9'; 'Alpine:3.10' -> 'Alpine:v3.10'; 'Ubuntu:22.04:LTS' -> 'Ubuntu:22.04'."""
    ecosystem = ecosystem.strip()
    base, sep, release = ecosystem.partition(":")
    rule = _RELEASE_RULES.get(base)
    if not sep or rule is None:
        return ecosystem
    return rule(release.strip())


def base_ecosystem(namespace: str) -> str:
    return namespace.partition(":")[0]


def name_key(namespace: str, package: str) -> str:
    """The lookup key for a package name within a namespace."""
    if base_ecosystem(namespace) == "PyPI":
        return pep503(package)
    return package
