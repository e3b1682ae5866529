"""CISA Known Exploited Vulnerabilities catalogue (JSON)."""

from __future__ import annotations

from typing import Iterator

from layerscan.db.feeds.base import ParseStats, SideFeed
from layerscan.db.feeds.common import CVE_RE, text
from layerscan.db.feeds.members import Member
from layerscan.db.feeds.source import Source, single_file
from layerscan.db.records import KevEntry
from layerscan.errors import FeedError


def looks_like_kev(doc: object) -> bool:
    return isinstance(doc, dict) and "catalogVersion" in doc and isinstance(doc.get("vulnerabilities"), list)


def parse_catalogue(doc: object, stats: ParseStats) -> Iterator[KevEntry]:
    if not looks_like_kev(doc):
        raise FeedError("not a KEV catalogue (no catalogVersion/vulnerabilities)")
    for item in doc["vulnerabilities"]:  # type: ignore[index]
        stats.records += 1
        cve = item.get("cveID") if isinstance(item, dict) else None
        if not isinstance(cve, str) or not CVE_RE.fullmatch(cve.strip()):
            stats.skip(f"KEV entry without a CVE id: {str(item)[:60]}")
            continue
        yield KevEntry(
            cve=cve.strip(), vendor=text(item.get("vendorProject"), 200), product=text(item.get("product"), 200),
            name=text(item.get("vulnerabilityName"), 500), date_added=text(item.get("dateAdded"), 32),
            due_date=text(item.get("dueDate"), 32), ransomware=text(item.get("knownRansomwareCampaignUse"), 32),
            notes=text(item.get("notes"), 4000),
        )


def catalogue_version(doc: object) -> str:
    return str(doc.get("catalogVersion", "")) if isinstance(doc, dict) else ""


class KevFeed(SideFeed):
    name = "kev"
    source = Source("kev", "https://www.cisa.gov/sites/default/files/feeds/known_exploited_vulnerabilities.json",
                    single_file("kev", "known_exploited_vulnerabilities.json"))

    def accepts(self, member: Member, doc: object) -> bool:
        return looks_like_kev(doc)

    def add(self, member: Member, doc: object, stats: ParseStats) -> Iterator[KevEntry]:
        return parse_catalogue(doc, stats)
