"""Alpine secdb (``secdb.alpinelinux.org/<branch>/<repo>.json``) and the older YAML
form of the same document (alpinelinux/alpine-secdb).

``secfixes`` maps a fixed version to the CVEs it fixes; a fixed version "0"
means the branch was never affected. Rows are keyed by the origin (source)
package in namespace ``Alpine:vX.Y``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Iterator

from layerscan.db.feeds.base import Feed, ParseStats
from layerscan.db.feeds.common import valid_id
from layerscan.db.feeds.members import Member
from layerscan.db.feeds.source import FetchOptions, Source, per_file
from layerscan.db.namespaces import normalise_namespace
from layerscan.errors import FeedError
from layerscan.model import Advisory, Affected, Range

NOT_AFFECTED = "0"
DEFAULT_BRANCHES = ("v3.16", "v3.17", "v3.18", "v3.19", "v3.20", "v3.21", "v3.22", "edge")  # db update
REPOS = ("main", "community")


def fix_ids(raw: object) -> tuple[str, ...]:
    """secfixes values: ["CVE-2019-5060 TALOS-2019-0844", "CVE-2018-14468 (FrameRelay)"] -> ids.

    The first token of each line is the id; the rest (a second id, a note) is dropped.
    """
    if not isinstance(raw, list):
        return ()
    out = []
    for line in raw:
        if isinstance(line, str) and line.split():
            token = line.split()[0]
            if valid_id(token):
                out.append(token)
    return tuple(out)


def _row(namespace: str, package: str, fixed: str) -> Affected:
    if fixed == NOT_AFFECTED:
        return Affected(namespace=namespace, package=package, status="not_affected")
    return Affected(
        namespace=namespace, package=package, status="fixed", fixed_version=fixed,
        ranges=(Range(type="ECOSYSTEM", events=(("introduced", "0"), ("fixed", fixed))),),
    )


@dataclass
class _ById:
    rows: dict[str, list[Affected]] = field(default_factory=dict)

    def add(self, vuln_id: str, row: Affected) -> None:
        self.rows.setdefault(vuln_id, []).append(row)


def alpine_namespace(doc: dict[str, Any]) -> str:
    release = doc.get("distroversion")
    if not isinstance(release, str) or not release:
        raise FeedError("secdb document without distroversion")
    return normalise_namespace(f"Alpine:{release}")


def parse_secdb(doc: object, stats: ParseStats, out: _ById,
                namespace_of: Callable[[dict[str, Any]], str] = alpine_namespace,
                fixed_ok: Callable[[str], bool] | None = None) -> None:
    """One branch/repo document (JSON or YAML shape) into per-id rows.

    ``namespace_of`` names the document's namespace (Alpine: from ``distroversion``;
    the rolling distributions sharing the format pass their own); ``fixed_ok``, when
    given, rejects secfixes keys that are not versions (counted as skipped).
    """
    if not isinstance(doc, dict):
        raise FeedError("secdb document must be a mapping")
    packages = doc.get("packages") or []  # an empty repo is written as {}, [] or nothing
    if not isinstance(packages, list):
        raise FeedError("secdb 'packages' must be a list")
    namespace = namespace_of(doc)
    for entry in packages:
        stats.records += 1
        pkg = entry.get("pkg") if isinstance(entry, dict) else None
        if not isinstance(pkg, dict) or not isinstance(pkg.get("name"), str):
            stats.skip(f"{namespace}: package entry without a name")
            continue
        secfixes: Any = pkg.get("secfixes") or {}
        if not isinstance(secfixes, dict):
            stats.skip(f"{namespace}/{pkg['name']}: secfixes is not a mapping")
            continue
        for fixed, ids in secfixes.items():
            if fixed_ok is not None and str(fixed) != NOT_AFFECTED and not fixed_ok(str(fixed)):
                stats.skip(f"{namespace}/{pkg['name']}: secfixes key {str(fixed)[:40]!r} is not a version")
                continue
            for vuln_id in fix_ids(ids):
                out.add(vuln_id, _row(namespace, pkg["name"], str(fixed)))


def looks_like_secdb(doc: object) -> bool:
    return isinstance(doc, dict) and "distroversion" in doc and "packages" in doc


def secdb_files(opts: FetchOptions) -> tuple[str, ...]:
    """``<branch>/<repo>.json`` of every branch ``db update`` fetches."""
    return tuple(f"{branch}/{repo}.json" for branch in opts.alpine_branches for repo in REPOS)


class AlpineFeed(Feed):
    name = "alpine"
    source = Source("alpine", "https://secdb.alpinelinux.org", per_file("alpine", secdb_files))

    def __init__(self) -> None:
        self._out = _ById()

    def accepts(self, member: Member, doc: object) -> bool:
        return looks_like_secdb(doc)

    def read_document(self, doc: object, stats: ParseStats, out: _ById) -> None:
        """One secdb document into ``out`` (distributions sharing the format override it)."""
        parse_secdb(doc, stats, out)

    def add(self, member: Member, doc: object, stats: ParseStats) -> Iterator[Advisory]:
        try:
            self.read_document(doc, stats, self._out)
        except FeedError as exc:
            stats.skip(f"{member.name}: {exc}")
        return iter(())

    def finish(self, stats: ParseStats) -> Iterator[Advisory]:
        out, self._out = self._out, _ById()
        for vuln_id, rows in out.rows.items():
            yield Advisory(id=vuln_id, source=self.name, affected=tuple(dict.fromkeys(rows)))
