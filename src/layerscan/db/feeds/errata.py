"""Distribution errata as per-CVE advisories.

RPM distributions publish *errata* (RHSA, ALSA, RLSA, ELSA, ALAS, SUSE-SU, PHSA...):
one notice fixing several CVEs in a set of packages. Users, ignore files, KEV and
EPSS speak CVE ids, so an erratum is stored once per CVE it fixes: the record's id
is the CVE, the erratum id is its alias (a bundle alias linking no two CVEs, see
``db.aliases``), and every affected row is the erratum's. Rows of one CVE from
several errata accumulate (the database keeps every affected row; the first
record's text wins), so a CVE fixed again by a later erratum keeps both fixes.

An erratum that names no CVE (a bug-fix notice, a security notice without one) is
kept under its own id: it is still a fix the image lacks.
"""

from __future__ import annotations

import dataclasses
from typing import Iterable, Iterator, Mapping

from layerscan.db.feeds.common import CVE_RE
from layerscan.model import Advisory
from layerscan.versions import get_scheme


def cve_ids(ids: Iterable[str]) -> tuple[str, ...]:
    """The well-formed CVE ids among ``ids``, first occurrence order."""
    return tuple(dict.fromkeys(i.strip() for i in ids if isinstance(i, str) and CVE_RE.fullmatch(i.strip())))


def lowest_evr(evrs: Iterable[str]) -> str:
    """The lowest rpm ``[epoch:]version-release`` of ``evrs`` (all valid): the fix of an erratum
    that ships one package name in several builds (per arch, rebuilds)."""
    return min(evrs, key=get_scheme("rpm").key)


def per_cve(erratum: Advisory, cves: Iterable[str] | None = None,
            levels: Mapping[str, str] | None = None) -> Iterator[Advisory]:
    """One Advisory per CVE of ``erratum`` (``cves``, else its aliases and related ids).

    ``levels``: the vendor's severity of each CVE (CSAF gives one per CVE); without it
    every row keeps the erratum's per-package severity.
    """
    ids = cve_ids(erratum.aliases + erratum.related if cves is None else cves)
    if not ids:
        yield erratum
        return
    for cve in ids:
        level = (levels or {}).get(cve, "")
        affected = erratum.affected if not level else tuple(
            dataclasses.replace(row, severity=level) for row in erratum.affected)
        others = tuple(a for a in erratum.aliases if a != cve and not CVE_RE.fullmatch(a))
        yield dataclasses.replace(erratum, id=cve, aliases=(erratum.id, *others), related=(), affected=affected)
