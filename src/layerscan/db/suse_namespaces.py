"""SUSE and openSUSE namespaces from OSV ecosystem names.

osv.dev names SUSE ecosystems after the product an update ships in:
``SUSE:Linux Enterprise Server 15 SP5``, ``SUSE:Linux Enterprise Module for
Basesystem 15 SP5``, ``SUSE:Linux Enterprise Server for SAP Applications 15 SP5``,
``SUSE:Linux Enterprise Micro 5.4``, ``openSUSE:Leap 15.5``. An image only says
``ID=sles VERSION_ID=15.5`` (or ``opensuse-leap`` / ``sle-micro``), and a service
pack has its own fixed versions, so:

* every SUSE Linux Enterprise product or module of release N service pack M is
  ``SUSE:N.M`` (``SUSE:N`` for the first release, as its VERSION_ID is ``N``);
  LTSS/ESPOS variants (``15 SP3-LTSS``, ``LTSS 15 SP3``) are the same stream;
* SLE Micro / SL Micro X.Y (their own version line) is ``SUSE:Micro:X.Y``;
* openSUSE Leap X.Y is ``openSUSE:X.Y``; Tumbleweed stays ``openSUSE:Tumbleweed``;
* anything else (SUSE Manager 4.3, Enterprise Storage 7, CaaS Platform, Leap Micro)
  keeps its name and matches no image OS.
"""

from __future__ import annotations

import re

_SLE = re.compile(r"^Linux Enterprise\b.*?\b(1[0-9])(?:\s*SP(\d+))?(?:[-\s]+(?:LTSS|ESPOS)\b.*)?$", re.IGNORECASE)
_MICRO = re.compile(r"^Linux(?: Enterprise)? Micro\b\D*?(\d+\.\d+)\b", re.IGNORECASE)
_LEAP = re.compile(r"^Leap\s+(\d+\.\d+)$", re.IGNORECASE)


def suse_namespace(product: str) -> str:
    """'Linux Enterprise Server 15 SP5' -> 'SUSE:15.5'; 'Linux Enterprise Micro 5.4' -> 'SUSE:Micro:5.4'."""
    product = " ".join(product.split())
    micro = _MICRO.match(product)
    if micro:
        return f"SUSE:Micro:{micro.group(1)}"
    sle = _SLE.match(product)
    if sle and not re.search(r"\b1[0-9]\.\d", product):
        major, sp = sle.group(1), sle.group(2)
        return f"SUSE:{major}.{int(sp)}" if sp and int(sp) > 0 else f"SUSE:{major}"
    return f"SUSE:{product}" if product else "SUSE"


def opensuse_namespace(product: str) -> str:
    """'Leap 15.5' -> 'openSUSE:15.5'; 'Tumbleweed' and others unchanged."""
    product = " ".join(product.split())
    leap = _LEAP.match(product)
    if leap:
        return f"openSUSE:{leap.group(1)}"
    return f"openSUSE:{product}" if product else "openSUSE"
