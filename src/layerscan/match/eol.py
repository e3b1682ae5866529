"""End-of-life of the image's operating system, from endoflife.date data in the DB.

Debian's LTS period (``eoes``) still receives free security updates, so a Debian
release is end-of-life only after it; for the others the regular end of
security support (``eol``) counts.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Protocol

from layerscan.model import OSInfo

# OS family -> (endoflife.date product, number of release components in a cycle)
_PRODUCTS = {
    "debian": ("debian", 1),
    "ubuntu": ("ubuntu", 2),
    "alpine": ("alpine-linux", 2),
    "redhat": ("rhel", 1),
    "centos": ("centos", 1),
    "rocky": ("rocky-linux", 1),
    "alma": ("almalinux", 1),
    "almalinux": ("almalinux", 1),
    "oracle": ("oracle-linux", 1),
    "amazon": ("amazon-linux", 1),
    "fedora": ("fedora", 1),
    "photon": ("vmware-photon", 2),
    "suse linux enterprise server": ("sles", 2),
    "opensuse-leap": ("opensuse", 2),
    "opensuse.leap": ("opensuse", 2),
}
_EXTENDED_IS_FREE = frozenset({"debian"})


class EolStore(Protocol):
    def eol(self, product: str, cycle: str): ...


@dataclass(frozen=True)
class EolStatus:
    product: str
    cycle: str
    eol_date: str  # ISO date or "" when the data has only a boolean
    is_eol: bool
    latest: str = ""


def _cycle(os_info: OSInfo, parts: int) -> str:
    release = os_info.name.split()[0] if os_info.name else ""
    if os_info.family == "amazon":
        return "2023" if release.startswith("2023") else ("2" if release.startswith("2") else release)
    return ".".join(release.split(".")[:parts])


def os_eol(os_info: OSInfo | None, store: EolStore, today: dt.date | None = None) -> EolStatus | None:
    if os_info is None or os_info.family not in _PRODUCTS:
        return None
    product, parts = _PRODUCTS[os_info.family]
    cycle = _cycle(os_info, parts)
    info = store.eol(product, cycle) if cycle else None
    if info is None:
        return None
    date = info.eoes if product in _EXTENDED_IS_FREE and len(info.eoes) >= 10 else info.eol
    today_iso = (today or dt.date.today()).isoformat()
    if date in ("true", "false"):
        return EolStatus(product, cycle, "", date == "true", info.latest)
    if len(date) < 10:
        return None
    return EolStatus(product, cycle, date[:10], date[:10] <= today_iso, info.latest)
