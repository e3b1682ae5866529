"""PEAR/PECL registry files (``.registry/**/*.reg``), image and rootfs mode.

``pecl install`` and ``pear install`` record each installed package as a PHP
``serialize()``d array under the PHP include dir, e.g.
``usr/local/lib/php/.registry/.channel.pecl.php.net/memcached.reg`` (PECL)
or ``usr/share/php/.registry/archive_tar.reg`` (PEAR). The array's ``name``,
``channel`` and ``version`` (``{release, api}`` in current files, a plain
string in old ones) identify the package; ``license`` is a string or
``{_content, attribs}``. Registries written from a package.xml 1.0 (``xsdversion``
"1.0", PEAR 1.3-era packages still installed by PEAR 1.4+) name the package in
``package``, give ``version`` as a string and the license as ``release_license``;
they have no channel (pear.php.net).

Packages get the ``pear`` purl type with the channel as namespace
(``pkg:pear/pecl.php.net/memcached@3.2.0``). No advisory feed covers PECL, so
they are listed, not matched.
"""

from __future__ import annotations

from typing import Any, ClassVar

from layerscan.analyzers.base import FileSpec, INSTALLED, spec
from layerscan.analyzers.langbase import FileAnalyzer, Parsed, ParseError, MiB, as_dict, as_str, lang_package
from layerscan.analyzers.php.serialized import loads
from layerscan.model import Package

ANALYZER = "php-pecl-registry"
DEFAULT_CHANNEL = "pear.php.net"


def _version(value: Any) -> str:
    return as_str(as_dict(value).get("release")) if isinstance(value, dict) else as_str(value)


def _license(value: Any) -> tuple[str, ...]:
    text = as_str(as_dict(value).get("_content")) if isinstance(value, dict) else as_str(value)
    return (text,) if text else ()


def parse(data: bytes) -> Parsed:
    record = loads(data)
    if not isinstance(record, dict):
        raise ParseError("not a PEAR registry file: the serialized value is not an array")
    name = as_str(record.get("name")) or as_str(record.get("package"))
    if not name:
        raise ParseError("PEAR registry entry without a name")
    channel = as_str(record.get("channel")) or DEFAULT_CHANNEL
    licenses = _license(record.get("license", record.get("release_license")))
    package: Package = lang_package("pear", name, _version(record.get("version")), namespace=channel,
                                    licenses=licenses, extra=(("channel", channel),))
    return Parsed(packages=(package,))


class PeclRegistryAnalyzer(FileAnalyzer):
    name: ClassVar[str] = ANALYZER
    version: ClassVar[int] = 2
    description: ClassVar[str] = ("Installed PECL/PEAR packages: the .registry/*.reg files (package.xml "
                                      "1.0 and 2.0 registries)")
    result_type: ClassVar[str] = "pear"
    files: ClassVar[FileSpec] = spec(extensions=("reg",))  # under a .registry directory (matches)
    modes: ClassVar[frozenset[str]] = INSTALLED
    max_file_size: ClassVar[int] = 4 * MiB

    def matches(self, path: str) -> bool:
        return path.endswith(".reg") and "/.registry/" in f"/{path}"

    def parse_file(self, path: str, data: bytes) -> Parsed:
        return parse(data)
