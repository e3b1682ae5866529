"""npm naming shared by the Node.js analyzers: scoped names, purls, version sanity."""

from __future__ import annotations

import re
from typing import Any

from layerscan.analyzers.langbase import lang_package
from layerscan.model import Package

# Versions that are not registry versions: git/file/link/tarball references.
_NOT_SEMVER = re.compile(r"^(?:[a-z+]+:|/|\.|~|[\w-]+/[\w.-]+(?:#.*)?$)")


def split_scope(name: str) -> tuple[str, str]:
    """'@babel/core' -> ('@babel', 'core'); 'lodash' -> ('', 'lodash')."""
    if name.startswith("@") and "/" in name:
        scope, _, rest = name.partition("/")
        return scope, rest
    return "", name


def version_problem(version: str) -> str:
    """Why this is not a registry version ('' when it is one)."""
    if not version:
        return "no version in the entry"
    if _NOT_SEMVER.match(version):
        return f"not a registry version ({version})"
    return ""


def npm_package(name: str, version: str, **fields: Any) -> Package:
    """An npm Package: the scope goes to the purl namespace; odd versions are kept as unknown."""
    reason = version_problem(version)
    scope, bare = split_scope(name)
    if reason:
        extra = fields.get("extra", ())
        fields["extra"] = extra + (("reference", version),) if version and "reference" not in dict(extra) else extra
        return lang_package("npm", name, "", namespace=scope, purl_name=bare, version_unknown_reason=reason, **fields)
    return lang_package("npm", name, version, namespace=scope, purl_name=bare, **fields)


def split_descriptor(descriptor: str) -> tuple[str, str]:
    """'@scope/name@range' -> ('@scope/name', 'range'); the first '@' of a scope is not a separator."""
    at = descriptor.find("@", 1)
    if at < 0:
        return descriptor, ""
    return descriptor[:at], descriptor[at + 1:]
