"""VMware/Broadcom Photon OS CVE metadata
(``https://packages.broadcom.com/photon/photon_cve_metadata/cve_data_photon<X.Y>.json``,
formerly ``packages.vmware.com``).

One JSON list per release; each entry is one (CVE, package) pair::

    {"cve_id": "CVE-2023-38545", "pkg": "curl", "cve_score": 9.8,
     "aff_ver": "all versions before 7.88.1-4.ph4 are vulnerable", "res_ver": "7.88.1-4.ph4",
     "status": "Fixed"}

- ``res_ver`` an rpm version: fixed there (range introduced 0 / fixed ``res_ver``); several
  entries of one (CVE, package) keep the lowest;
- ``status`` "Not Affected": a not_affected row;
- a fix without a version (``res_ver`` "NA" or empty): there is nothing to compare with, so
  the entry is skipped and counted, as are entries without a well-formed id
  (``CVE-YYYY-N``, or another ``PREFIX-YYYY-N`` advisory such as Black Duck's ``BDSA-``) or
  package name.

The release is not inside the document: it comes from the file name
(``cve_data_photon4.0.json``), else from the ``.phN`` dist tags of the fixed versions
when they all agree. Namespace ``Photon OS:<major>``, what ``os_namespace`` builds for
``ID=photon VERSION_ID=4.0``. ``pkg`` is the spec (source package) name, so Photon rows
are matched by the installed package's source rpm name, as Trivy does. The only rating
is ``cve_score`` (a CVSS base score): its band (9.0+ CRITICAL, 7.0+ HIGH, 4.0+ MEDIUM,
above 0 LOW) is the vendor level, the score itself the row's label.
"""

from __future__ import annotations

import re
from pathlib import PurePosixPath
from typing import Any, Iterator

from layerscan.db.cvss import level_from_score
from layerscan.db.feeds import errata
from layerscan.db.feeds.base import Feed, ParseStats
from layerscan.db.feeds.members import Member
from layerscan.db.feeds.source import Source, per_file
from layerscan.model import Advisory, Affected, Range
from layerscan.versions import get_scheme

ECOSYSTEM = "Photon OS"
FETCHED_RELEASES = ("3.0", "4.0", "5.0")  # db update: one cve_data_photon<X.Y>.json each
_FILE_RELEASE = re.compile(r"cve_data_photon(\d+)\.\d+\.json$", re.IGNORECASE)
_DIST_TAG = re.compile(r"\.ph(\d+)$")
_ID = re.compile(r"^[A-Z][A-Z0-9]*-\d{4}-\d{1,12}$")
_NO_VERSION = ("", "na", "n/a", "none")
_MAX_NAME = 200


def _is_entry(value: object) -> bool:
    return isinstance(value, dict) and "cve_id" in value and "pkg" in value


def is_photon_document(doc: object) -> bool:
    """A list of {cve_id, pkg, ...} entries (judged by its first entries)."""
    return isinstance(doc, list) and bool(doc) and all(_is_entry(e) for e in doc[:3])


def release_from_name(name: str) -> str:
    m = _FILE_RELEASE.search(PurePosixPath(name).name)
    return m.group(1) if m else ""


def release_from_dist_tags(entries: list[Any]) -> str:
    """The release all fixed versions' dist tags agree on ('.ph4' -> '4'); '' if none or mixed."""
    tags = {m.group(1) for e in entries if isinstance(e, dict) and isinstance(e.get("res_ver"), str)
            and (m := _DIST_TAG.search(e["res_ver"].strip()))}
    return tags.pop() if len(tags) == 1 else ""


def _score(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        return None
    try:
        score = float(value)
    except ValueError:
        return None
    return score if 0.0 <= score <= 10.0 else None


def _str(entry: dict[str, Any], key: str) -> str:
    value = entry.get(key)
    return value.strip() if isinstance(value, str) else ""


class _Rows:
    """(id, package) -> fixed versions / not affected, with the entry's score, in first-seen order."""

    def __init__(self) -> None:
        self.fixed: dict[tuple[str, str], list[str]] = {}
        self.not_affected: dict[tuple[str, str], None] = {}
        self.scores: dict[tuple[str, str], float | None] = {}

    def add(self, entry: object, stats: ParseStats) -> None:
        stats.records += 1
        if not isinstance(entry, dict):
            stats.skip(f"entry is a {type(entry).__name__}, not an object")
            return
        vuln_id, pkg, fixed = _str(entry, "cve_id"), _str(entry, "pkg"), _str(entry, "res_ver")
        if not _ID.match(vuln_id):
            stats.skip(f"{vuln_id or '(no id)'}: not a CVE or advisory id")
            return
        if not pkg or len(pkg) > _MAX_NAME or any(c.isspace() for c in pkg):
            stats.skip(f"{vuln_id}: invalid package name {pkg[:40]!r}")
            return
        key = (vuln_id, pkg)
        self.scores.setdefault(key, _score(entry.get("cve_score")))
        if _str(entry, "status").lower() == "not affected":
            self.not_affected.setdefault(key, None)
        elif fixed.lower() in _NO_VERSION:
            stats.skip(f"{vuln_id}: {pkg}: no fixed version ({fixed or 'empty'!r})")
        elif not get_scheme("rpm").valid(fixed):
            stats.skip(f"{vuln_id}: {pkg}: invalid fixed version {fixed[:60]!r}")
        else:
            self.fixed.setdefault(key, []).append(fixed)

    def rows(self, namespace: str) -> dict[str, list[Affected]]:
        out: dict[str, list[Affected]] = {}
        for key in dict.fromkeys((*self.fixed, *self.not_affected)):
            vuln_id, pkg = key
            score = self.scores.get(key)
            level = level_from_score(score) if score is not None else ""
            label = f"{score:g}" if score is not None else ""
            if key in self.fixed:
                fixed = errata.lowest_evr(self.fixed[key])
                row = Affected(namespace=namespace, package=pkg, status="fixed", fixed_version=fixed,
                               ranges=(Range(type="ECOSYSTEM", events=(("introduced", "0"), ("fixed", fixed))),),
                               severity=level, urgency=label)
            else:
                row = Affected(namespace=namespace, package=pkg, status="not_affected", severity=level, urgency=label)
            out.setdefault(vuln_id, []).append(row)
        return out


def advisories(doc: list[Any], name: str, stats: ParseStats, source: str = "photon") -> Iterator[Advisory]:
    release = release_from_name(name) or release_from_dist_tags(doc)
    if not release:
        stats.skip(f"{name}: no Photon OS release in the file name or the fixed versions' dist tags")
        return
    rows = _Rows()
    for entry in doc:
        rows.add(entry, stats)
    for vuln_id, affected in rows.rows(f"{ECOSYSTEM}:{release}").items():
        yield Advisory(id=vuln_id, source=source, affected=tuple(affected))


class PhotonFeed(Feed):
    name = "photon"
    source = Source("photon", "https://packages.broadcom.com/photon/photon_cve_metadata",
                    per_file("photon", lambda opts: tuple(f"cve_data_photon{r}.json" for r in FETCHED_RELEASES)))

    def accepts(self, member: Member, doc: object) -> bool:
        return is_photon_document(doc)

    def add(self, member: Member, doc: object, stats: ParseStats) -> Iterator[Advisory]:
        if isinstance(doc, list):
            yield from advisories(doc, member.name, stats, self.name)
