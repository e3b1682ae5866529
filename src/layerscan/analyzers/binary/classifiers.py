"""The binary classifier table: which files may be which product, and the version string
that proves it.

Each :class:`Classifier` names the files it looks at (``names``: a full match on the
lowercased basename, whose optional group ``line`` is the release line the name carries,
"3.11" in ``python3.11``; ``index_names``/``index_prefixes``: the same set for the
walker's index), the :class:`Signature`\\ s searched for (a literal ``needle`` found with
``bytes.find``, then the ``pattern`` — group ``version`` — searched only in the few bytes
around it), how far into the file to look (``max_read``) and the package it makes: purl
type/namespace/name, and the end-of-life runtime (``match.lifecycle``) it is.

The strings are the ones the projects compile in (checked on Debian 12's binaries: the
tests read them); a name that carries a release line must agree with the version found.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from layerscan.analyzers.base import MiB


@dataclass(frozen=True)
class Signature:
    needle: bytes  # literal located with bytes.find
    pattern: bytes  # searched in [needle - before, needle + len(needle) + after]; group "version"
    before: int = 0
    after: int = 64

    @property
    def regex(self) -> re.Pattern[bytes]:
        return re.compile(self.pattern)  # compiled on first use (re caches it): start-up stays fast


@dataclass(frozen=True)
class Classifier:
    product: str  # our name for it ("python", "openssl")
    names: str  # full match on the lowercased basename; group "line" = release line in the name
    index_names: tuple[str, ...]  # exact basenames and ...
    index_prefixes: tuple[str, ...]  # ... basename prefixes covering ``names`` (for the walker's index)
    signatures: tuple[Signature, ...]
    dirs: str = ""  # when set: searched in the path's directory (a JDK's "release")
    purl_type: str = "generic"
    purl_name: str = ""  # "" = product
    purl_namespace: str = ""
    runtime: str = ""  # match.lifecycle runtime name ("python", "java") or ""
    version_prefix: str = ""  # prepended to the version found ("v" for Go's stdlib)
    max_read: int = 64 * MiB  # bytes of the file searched at most

    @property
    def name(self) -> str:
        return self.purl_name or self.product

    def name_match(self, basename: str) -> re.Match[str] | None:
        return re.fullmatch(self.names, basename)

    def dir_matches(self, directory: str) -> bool:
        return not self.dirs or re.search(self.dirs, directory, re.IGNORECASE) is not None


def _sig(needle: bytes, pattern: bytes, before: int = 0, after: int = 64) -> Signature:
    return Signature(needle, pattern, before, after)


_SEMVER = rb"(?P<version>\d{1,4}\.\d{1,4}\.\d{1,4})"

CLASSIFIERS: tuple[Classifier, ...] = (
    # CPython: PY_VERSION as its own C string ("\x003.11.2\x00") in python3.X and libpython3.X.so
    Classifier("python", r"(?:lib)?python(?:(?P<line>[23](?:\.\d{1,2})?)[dmu]?)?(?:\.so(?:\.[\d.]+)?)?",
               (), ("python", "libpython"),
               (_sig(b"\x003.", rb"\x00(?P<version>3\.\d{1,2}\.\d{1,3}(?:(?:a|b|rc)\d{1,2})?)\+?\x00"),
                _sig(b"\x002.", rb"\x00(?P<version>2\.\d{1,2}\.\d{1,3}(?:(?:a|b|rc)\d{1,2})?)\+?\x00")),
               runtime="python"),
    # Node.js: process.release's source URL ("node-v20.20.2.tar.gz"); the string sits deep in the binary
    Classifier("node", r"node(?:js)?", ("node", "nodejs"), (),
               (_sig(b"/node-v", rb"/node-v" + _SEMVER + rb"(?:-headers)?\.tar\.gz"),),
               runtime="node", max_read=160 * MiB),
    # OpenJDK: the JDK/JRE's "release" file, and the VM banner in libjvm.so
    Classifier("openjdk", r"release", ("release",), (),
               (_sig(b'JAVA_VERSION="', rb'JAVA_VERSION="(?P<version>\d{1,3}(?:\.\d{1,4}){0,3})"'),),
               dirs=r"(?:^|/)(?:jvm|[^/]*(?:jdk|jre|java|temurin|corretto|zulu)[^/]*)(?:/|$)",
               runtime="java", max_read=64 * 1024),
    Classifier("openjdk", r"libjvm\.so", ("libjvm.so",), (),
               (_sig(b"OpenJDK ", rb"OpenJDK [\w -]{1,40} VM \((?P<version>\d{1,3}(?:\.\d{1,4}){0,3})[+\-)]",
                     after=80),),
               runtime="java"),
    # Go toolchain: GOROOT/VERSION ("go1.21.1\ntime ..."); compiled Go binaries are the go-binary analyzer's
    Classifier("go", r"version", ("version",), (),
               (_sig(b"go1.", rb"\Ago(?P<version>1\.\d{1,3}(?:\.\d{1,3})?)(?:\s|$)"),),
               dirs=r"(?:^|/)go(?:-?\d[\d.]*)?$", purl_type="golang", purl_name="stdlib",
               runtime="go", version_prefix="v", max_read=4096),
    Classifier("php", r"(?:php(?:-fpm|-cgi)?|libphp)(?P<line>\d(?:\.\d{1,2})?)?(?:\.so)?",
               (), ("php", "libphp"),
               (_sig(b"X-Powered-By: PHP/", rb"X-Powered-By: PHP/" + _SEMVER),), runtime="php"),
    # Ruby: RUBY_DESCRIPTION ("ruby 3.1.2p20 (2022-04-12 revision ...)") in ruby / libruby-3.1.so
    Classifier("ruby", r"(?:lib)?ruby(?:-?(?P<line>\d\.\d{1,2}))?(?:\.so(?:\.[\d.]+)?)?",
               (), ("ruby", "libruby"),
               (_sig(b"ruby ", rb"ruby " + _SEMVER + rb"(?:p\d{1,5})? \(\d{4}-\d\d-\d\d"),),
               runtime="ruby"),
    Classifier("perl", r"(?:perl(?P<line>5(?:\.\d{1,3}){0,2})?|libperl\.so(?:\.[\d.]+)?)",
               (), ("perl", "libperl.so"),
               (_sig(b"\x00v5.", rb"\x00v(?P<version>5\.\d{1,3}\.\d{1,3})\x00"),)),
    Classifier("nginx", r"nginx", ("nginx",), (),
               (_sig(b"nginx version: nginx/", rb"nginx/" + _SEMVER),)),
    Classifier("httpd", r"httpd|apache2", ("httpd", "apache2"), (),
               (_sig(b"Apache/", rb"Apache/" + _SEMVER + rb"(?: \(|\x00)"),)),
    # PostgreSQL: PG_VERSION_STR and the --version banner
    Classifier("postgresql", r"postgres", ("postgres",), (),
               (_sig(b"postgres (PostgreSQL) ", rb"\(PostgreSQL\) (?P<version>\d{1,3}\.\d{1,3}(?:\.\d{1,3})?)\b"),
                _sig(b"PostgreSQL ", rb"PostgreSQL (?P<version>\d{1,3}\.\d{1,3}(?:\.\d{1,3})?)(?: \([^)]{0,80}\))?"
                     rb" on [\w.-]{1,80}, compiled by", after=200))),
    Classifier("mariadb", r"mariadbd?|mysqld", ("mariadb", "mariadbd", "mysqld"), (),
               (_sig(b"-MariaDB", _SEMVER + rb"-MariaDB", before=16),)),
    # OpenSSL: OPENSSL_VERSION_TEXT ("OpenSSL 3.0.19 27 Jan 2026") in libcrypto (libssl 3.x has none)
    Classifier("openssl", r"openssl|lib(?:crypto|ssl)\.so(?:\.[\d.]+)?", ("openssl",),
               ("libcrypto.so", "libssl.so"),
               (_sig(b"OpenSSL ", rb"OpenSSL (?P<version>\d{1,2}\.\d{1,2}\.\d{1,2}[a-z]{0,2})(?:-[\w.-]{1,20})?"
                     rb"(?: \w{1,12})? {1,2}\d{1,2} [A-Z][a-z]{2} \d{4}"),)),
    Classifier("busybox", r"busybox", ("busybox",), (),
               (_sig(b"BusyBox v", rb"BusyBox v" + _SEMVER),)),
    # curl and libcurl: the user agent / curl_version() string ("curl/7.88.1", "libcurl/7.88.1")
    Classifier("curl", r"curl|libcurl(?:-gnutls|-nss)?\.so(?:\.[\d.]+)?", ("curl",), ("libcurl",),
               (_sig(b"curl/", rb"curl/" + _SEMVER + rb"(?:-DEV)?\x00"),)),
    # HAProxy: "... version 2.6.12-1+deb12u4, released 2026/10/17"
    Classifier("haproxy", r"haproxy", ("haproxy",), (),
               (_sig(b", released ", rb"version " + _SEMVER + rb"[\w.+~-]{0,40}, released \d{4}/\d\d/\d\d",
                     before=72, after=12),)),
)
