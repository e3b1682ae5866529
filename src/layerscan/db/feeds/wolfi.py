"""Wolfi and Chainguard secdb (``https://packages.wolfi.dev/os/security.json``,
``https://packages.cgr.dev/chainguard/security.json``).

The document has Alpine's secdb shape (``packages[].pkg.secfixes`` mapping a fixed
version, or "0" for never affected, to the ids it fixes; parsed by
``alpine.parse_secdb``), but the distributions are rolling: there is no
``distroversion``, only the repository (``urlprefix``, ``reponame``, ``apkurl``).
Rows go to namespace ``Wolfi`` or ``Chainguard``, what ``os_namespace`` builds for
os-release ``ID=wolfi`` / ``ID=chainguard``, keyed by the origin package as in
Alpine. secfixes keys that are not apk versions are skipped and counted.
"""

from __future__ import annotations

from typing import Any, ClassVar

from layerscan.db.feeds.alpine import AlpineFeed, _ById, parse_secdb
from layerscan.db.feeds.base import ParseStats
from layerscan.db.feeds.members import Member
from layerscan.db.feeds.source import Source, single_file
from layerscan.errors import FeedError
from layerscan.versions import get_scheme

# repository domain / reponame -> namespace (Chainguard serves packages.cgr.dev, libraries.cgr.dev, ...)
_DOMAINS = {"wolfi.dev": "Wolfi", "cgr.dev": "Chainguard"}
_REPOS = {"os": "Wolfi", "chainguard": "Chainguard", "extras": "Chainguard"}


def rolling_namespace(doc: object) -> str:
    """'Wolfi' / 'Chainguard' for a rolling secdb document, '' for anything else
    (Alpine's documents carry a distroversion)."""
    if not isinstance(doc, dict) or "packages" not in doc or "distroversion" in doc:
        return ""
    prefix = doc.get("urlprefix")
    if isinstance(prefix, str) and prefix:
        host = prefix.split("://", 1)[-1].split("/", 1)[0].split(":", 1)[0].lower()
        return next((ns for domain, ns in _DOMAINS.items() if host == domain or host.endswith("." + domain)), "")
    repo = doc.get("reponame")
    return _REPOS.get(repo, "") if isinstance(repo, str) and "apkurl" in doc else ""


def _apk_version(text: str) -> bool:
    return get_scheme("apk").valid(text)


def _namespace_of(doc: dict[str, Any]) -> str:
    namespace = rolling_namespace(doc)
    if not namespace:
        raise FeedError("not a Wolfi/Chainguard secdb document")
    return namespace


class _RollingSecdbFeed(AlpineFeed):
    """Alpine's reader with the rolling namespace and version-checked secfixes keys."""

    namespace: ClassVar[str]

    def accepts(self, member: Member, doc: object) -> bool:
        return rolling_namespace(doc) == self.namespace

    def read_document(self, doc: object, stats: ParseStats, out: _ById) -> None:
        parse_secdb(doc, stats, out, _namespace_of, _apk_version)


class WolfiFeed(_RollingSecdbFeed):
    name = "wolfi"
    source = Source("wolfi", "https://packages.wolfi.dev/os/security.json", single_file("wolfi", "security.json"))
    namespace = "Wolfi"


class ChainguardFeed(_RollingSecdbFeed):
    name = "chainguard"
    source = Source("chainguard", "https://packages.cgr.dev/chainguard/security.json",
                    single_file("chainguard", "security.json"))
    namespace = "Chainguard"
