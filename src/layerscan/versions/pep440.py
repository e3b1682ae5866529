"""PEP 440 ordering (PyPI), delegated to ``packaging.version``.

Legacy (non-PEP 440) versions are invalid, as in pip >= 22.
"""

from __future__ import annotations


from packaging.version import InvalidVersion as _PackagingInvalid
from packaging.version import Version

from layerscan.versions.base import InvalidVersion, VersionScheme, cached_parser, checked


@cached_parser
def pep440_key(version: str) -> Version:
    try:
        return Version(checked(version))
    except _PackagingInvalid:
        raise InvalidVersion(f"not a PEP 440 version: {version!r}") from None


class Pep440Scheme(VersionScheme):
    name = "pep440"

    def key(self, version: str) -> Version:
        return pep440_key(version)
