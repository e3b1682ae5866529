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

from typing import Any, ClassVar, Iterator

from layerscan.db.feeds.alpine import _ById, parse_secdb
from layerscan.db.feeds.base import Feed, ParseStats
from layerscan.db.feeds.members import Member
from layerscan.errors import FeedError
from layerscan.model import Advisory
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


class _RollingSecdbFeed(Feed):
    namespace: ClassVar[str]

    def __init__(self) -> None:
        self._out = _ById()

    def accepts(self, member: Member, doc: object) -> bool:
        return rolling_namespace(doc) == self.namespace

    def add(self, member: Member, doc: object, stats: ParseStats) -> Iterator[Advisory]:
        try:
            parse_secdb(doc, stats, self._out, _namespace_of, _apk_version)
        except FeedError as exc:
            stats.skip(f"{member.name}: {exc}")
        return iter(())

    def finish(self, stats: ParseStats) -> Iterator[Advisory]:
        out, self._out = self._out, _ById()
        for vuln_id, rows in out.rows.items():
            yield Advisory(id=vuln_id, source=self.name, affected=tuple(dict.fromkeys(rows)))


class WolfiFeed(_RollingSecdbFeed):
    name = "wolfi"
    namespace = "Wolfi"


class ChainguardFeed(_RollingSecdbFeed):
    name = "chainguard"
    namespace = "Chainguard"
