"""Distribution records in OSV form: Ubuntu (``UBUNTU-CVE-*``, ``USN-*``), SUSE and
openSUSE (``SUSE-SU-*``, ``openSUSE-SU-*``), AlmaLinux and Rocky Linux errata
(``ALSA-``/``ALBA-``/``ALEA-``, ``RLSA-``/``RLBA-``/``RLEA-``).

Two things are added to the plain OSV conversion (``osv.record_to_advisory``):

* the vendor's own rating goes on every affected row of the distribution
  (``Affected.severity`` normalised, ``Affected.urgency`` the raw label): the
  Ubuntu priority (OSV severity type ``Ubuntu``, e.g. "medium"; a USN gives one
  per CVE in ``database_specific.cves_map``), or the erratum's level that
  AlmaLinux/Rocky state as the summary prefix ("Important: firefox security update");
* errata and Ubuntu's per-CVE records are stored per CVE (``errata.per_cve``): the
  record id becomes an alias of each CVE it names, so findings are reported under
  the CVE and KEV, EPSS and ignore files by CVE apply. The CVEs come from
  ``upstream`` (UBUNTU-CVE), ``aliases`` and ``related`` (errata), and a USN's
  ``UBUNTU-CVE-*`` aliases.
"""

from __future__ import annotations

import dataclasses
import re
from typing import Any, Iterable, Iterator

from layerscan.db.feeds.common import normalise_severity, str_list
from layerscan.db.feeds.errata import cve_ids, per_cve
from layerscan.db.namespaces import base_ecosystem
from layerscan.model import Advisory, Affected

# id prefixes of records that are per-CVE records or errata of a distribution
ERRATA_PREFIXES = (
    "UBUNTU-CVE-", "USN-",
    "SUSE-SU-", "SUSE-RU-", "SUSE-FU-", "SUSE-OU-", "openSUSE-SU-", "openSUSE-RU-",
    "ALSA-", "ALBA-", "ALEA-", "RLSA-", "RLBA-", "RLEA-",
)
_UBUNTU_CVE = "UBUNTU-"  # "UBUNTU-CVE-2021-3782" names "CVE-2021-3782"
_SUMMARY_LEVEL = re.compile(r"^\s*(Critical|Important|Moderate|Low)\s*:", re.IGNORECASE)
_VENDOR_TYPES = {"UBUNTU": "Ubuntu"}  # OSV severity type -> the ecosystem it rates


def is_distro_record(vuln_id: str) -> bool:
    return vuln_id.startswith(ERRATA_PREFIXES)


def record_cves(record: dict[str, Any]) -> tuple[str, ...]:
    """The CVEs a distribution record is about, in the order the record names them."""
    ids = [*str_list(record.get("upstream")), *str_list(record.get("aliases")), *str_list(record.get("related"))]
    ids += [i[len(_UBUNTU_CVE):] for i in ids if i.startswith(_UBUNTU_CVE + "CVE-")]
    ids += list(_cves_map(record))
    return cve_ids(ids)


def _cves_map(record: dict[str, Any]) -> dict[str, str]:
    """USN: ``affected[].database_specific.cves_map.cves[]`` -> {CVE: Ubuntu priority label}."""
    out: dict[str, str] = {}
    for item in record.get("affected") or ():
        extra = item.get("database_specific") if isinstance(item, dict) else None
        cmap = extra.get("cves_map") if isinstance(extra, dict) else None
        cves = cmap.get("cves") if isinstance(cmap, dict) else None
        for cve in cves if isinstance(cves, list) else ():
            if isinstance(cve, dict) and isinstance(cve.get("id"), str):
                out.setdefault(cve["id"].strip(), vendor_label(cve, "Ubuntu"))
    return out


def vendor_label(record: dict[str, Any], ecosystem: str) -> str:
    """The vendor's own rating word for ``ecosystem``'s rows ("medium", "Important"), or ''."""
    for entry in record.get("severity") or ():
        if isinstance(entry, dict) and isinstance(entry.get("score"), str):
            if _VENDOR_TYPES.get(str(entry.get("type", "")).upper()) == ecosystem:
                if normalise_severity(entry["score"]):
                    return entry["score"].strip()
    summary = record.get("summary")
    match = _SUMMARY_LEVEL.match(summary) if isinstance(summary, str) and ecosystem != "Ubuntu" else None
    return match.group(1) if match else ""


def _rated(rows: Iterable[Affected], labels: dict[str, str]) -> tuple[Affected, ...]:
    """Each row with its ecosystem's vendor label (rows already rated by the record keep theirs)."""
    out = []
    for row in rows:
        label = labels.get(base_ecosystem(row.namespace), "")
        if label and not row.severity:
            row = dataclasses.replace(row, severity=normalise_severity(label), urgency=label)
        out.append(row)
    return tuple(out)


def distro_advisories(record: Any, advisory: Advisory) -> Iterator[Advisory]:
    """The stored form of one converted OSV record: unchanged unless it is a distribution
    record, then vendor-rated and one Advisory per CVE."""
    if not is_distro_record(advisory.id):
        yield advisory
        return
    ecosystems = {base_ecosystem(row.namespace) for row in advisory.affected}
    labels = {eco: label for eco in ecosystems if (label := vendor_label(record, eco))}
    rated = dataclasses.replace(advisory, affected=_rated(advisory.affected, labels))
    per_cve_labels = {cve: label for cve, label in _cves_map(record).items() if label}
    levels = {cve: normalise_severity(label) for cve, label in per_cve_labels.items()}
    for one in per_cve(rated, record_cves(record), levels):
        raw = per_cve_labels.get(one.id, "")
        if raw:  # per_cve set the level; keep the raw label beside it
            one = dataclasses.replace(one, affected=tuple(
                dataclasses.replace(row, urgency=raw) for row in one.affected))
        yield dataclasses.replace(one, aliases=_own_aliases(one))


def _own_aliases(advisory: Advisory) -> tuple[str, ...]:
    """A USN names the UBUNTU-CVE record of every CVE it fixes: each CVE keeps only its own
    (another CVE's would join two CVEs' alias groups)."""
    return tuple(a for a in advisory.aliases
                 if not a.startswith(_UBUNTU_CVE + "CVE-") or a[len(_UBUNTU_CVE):] == advisory.id)
