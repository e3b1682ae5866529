"""Which ``db update`` sources a scan needs (``--ecosystems auto``, the scan-time default).

A source key is what the ``sources`` table and ``db update`` name a download by: a feed
(``debian``, ``alpine``, ``nvd``...) or one OSV ecosystem (``osv:PyPI``). An SBOM needs
the OSV ecosystem of every language package type it holds (``ecosystems.language_namespaces``),
its distribution's own feeds and OSV ecosystem (``Distro.feeds``, ``Distro.fetched``), and
the enrichment sources every finding uses (:data:`ALWAYS`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

from layerscan.db.feeds.osv import DEFAULT_ECOSYSTEMS
from layerscan.db.feeds.registry import UPDATE_SOURCES
from layerscan.ecosystems import DISTROS, language_namespaces
from layerscan.errors import DatabaseError
from layerscan.model import Sbom

OSV = "osv"
ALWAYS = ("nvd", "kev", "epss", "eol")  # severity, exploited, exploit probability, end-of-life: any image
AUTO = "auto"  # the --ecosystems value


def osv_key(ecosystem: str) -> str:
    return f"{OSV}:{ecosystem}"


def all_source_keys() -> tuple[str, ...]:
    """Every key a full ``db update`` fetches, in download order (OSV: one per default ecosystem)."""
    return tuple(key for s in UPDATE_SOURCES
                 for key in ([osv_key(e) for e in DEFAULT_ECOSYSTEMS] if s.key == OSV else [s.key]))


def needed_sources(sbom: Sbom) -> frozenset[str]:
    """The source keys whose advisories can match ``sbom``'s packages, plus :data:`ALWAYS`."""
    namespaces = language_namespaces()
    keys = {osv_key(namespaces[p.type]) for p in sbom.packages if p.type in namespaces}
    family = sbom.os.family if sbom.os else ""
    for distro in DISTROS:
        if family and family in (distro.family, *distro.aliases):
            keys.update(distro.feeds)
            if distro.fetched:
                keys.add(osv_key(distro.namespace))
    return frozenset(keys | set(ALWAYS))


def held_sources(path: Path, *, with_failed: bool = False) -> frozenset[str]:
    """The source keys the database at ``path`` holds data of (its ``sources`` table; ones whose
    last download failed with no previous data only ``with_failed``); empty without a readable database."""
    from layerscan.db.store import Store

    if not path.is_file():
        return frozenset()
    try:
        with Store.open(path) as store:
            sources = store.metadata()["sources"]
    except DatabaseError:
        return frozenset()
    return frozenset(name for name, src in sources.items() if with_failed or src.get("status") != "failed")


@dataclass(frozen=True)
class Selection:
    """Keys split the way ``UpdateOptions`` takes them: feed sources and OSV ecosystems."""

    sources: tuple[str, ...]
    ecosystems: tuple[str, ...]

    @property
    def keys(self) -> tuple[str, ...]:
        """The keys in download order (OSV ecosystems first, as ``db update`` runs them)."""
        return tuple(osv_key(e) for e in self.ecosystems) + tuple(s for s in self.sources if s != OSV)


def select(keys: Iterable[str]) -> Selection:
    """Source keys -> (feed sources, OSV ecosystems); ``osv`` is a source when any ecosystem is wanted.
    Keys no update source fetches (e.g. ``import`` or a feed only ``db import`` reads) are dropped."""
    wanted = set(keys)
    ecosystems = tuple(sorted(k.partition(":")[2] for k in wanted if k.startswith(OSV + ":")))
    sources = [s.key for s in UPDATE_SOURCES if s.key in wanted and s.key != OSV]
    return Selection(tuple([OSV, *sources] if ecosystems else sources), ecosystems)


def update_command(keys: Iterable[str]) -> str:
    """The ``db update`` that fetches just ``keys`` into the database (the others are kept)."""
    chosen = select(keys)
    ecosystems = f" --ecosystems {','.join(chosen.ecosystems)}" if chosen.ecosystems else ""
    return f"layerscan db update --sources {','.join(chosen.sources)}{ecosystems}"


def summary(fetched: Iterable[str], total: int, shown: int = 6) -> str:
    """``3 of 31 sources for this scan: debian, osv:PyPI, nvd`` (the first ``shown`` named, then "...")."""
    names = list(fetched)
    listed = ", ".join(names[:shown]) + (", ..." if len(names) > shown else "")
    return f"{len(names)} of {total} sources for this scan" + (f": {listed}" if names else "")
