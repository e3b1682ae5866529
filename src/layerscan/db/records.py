"""Typed records of the database besides advisories: what the side feeds
produce (KEV, EPSS, end-of-life) and what the store returns for a lookup."""

from __future__ import annotations

from dataclasses import dataclass

from layerscan.model import Affected


@dataclass(frozen=True)
class KevEntry:
    """One CISA Known Exploited Vulnerabilities entry."""

    cve: str
    vendor: str = ""
    product: str = ""
    name: str = ""
    date_added: str = ""
    due_date: str = ""
    ransomware: str = ""  # "Known" / "Unknown"
    notes: str = ""


@dataclass(frozen=True)
class EpssScore:
    cve: str
    score: float
    percentile: float
    date: str = ""  # score_date of the CSV header


@dataclass(frozen=True)
class EolInfo:
    """One release cycle of an endoflife.date product.

    ``eol``/``eoes`` are ISO dates ("2026-06-10"), "true"/"false" when the
    source gives a boolean only, or "" when unknown. ``is_eol(today)`` decides.
    """

    product: str  # endoflife.date product slug: "debian", "python", "alpine-linux", ...
    cycle: str  # "12", "3.11", "3.19"
    codename: str = ""
    release_date: str = ""
    eol: str = ""
    eoes: str = ""  # end of extended support (LTS), if any
    latest: str = ""
    latest_date: str = ""
    lts: bool = False

    def is_eol(self, today: str) -> bool | None:
        """True/False when known; None when the source has no answer. ``today`` is ISO."""
        if self.eol in ("true", "false"):
            return self.eol == "true"
        if len(self.eol) >= 10:
            return self.eol[:10] <= today
        return None


@dataclass(frozen=True)
class AffectedRow:
    """One (namespace, package) row as stored, with where it came from.

    ``vuln_id`` is the record's own id (GHSA-..., DSA rows use the CVE);
    ``primary_id`` is the merged-group id to report (the CVE when one is known).
    ``matchable`` is False when no range can be evaluated by a version scheme
    (only GIT ranges); NPM_RANGE ranges carry npm range strings (see feeds.nodejs).
    """

    vuln_id: str
    primary_id: str
    source: str
    affected: Affected

    @property
    def matchable(self) -> bool:
        a = self.affected
        return bool(a.versions) or any(r.type != "GIT" for r in a.ranges) or a.status != "affected"


@dataclass(frozen=True)
class IndexEntry:
    """One image of the base-image index: the chain ID of its whole layer stack (computed over
    diff_ids, so recompression does not change it) and where it was seen. ``digest`` is what
    the tag resolved to (an index for a multi-platform tag), ``manifest`` the platform's image
    manifest; ``current`` is True while the tag still points at ``digest``."""

    chain_id: str
    layers: int  # how many filesystem layers the image has
    repo: str  # as docker prints it: "debian", "127.0.0.1:5000/base/debian"
    tag: str
    digest: str
    manifest: str
    platform: str  # "linux/amd64", "linux/arm64/v8"
    first_seen: str  # RFC 3339 UTC
    last_seen: str
    current: bool = True

    @property
    def reference(self) -> str:
        return f"{self.repo}:{self.tag}@{self.digest}"
