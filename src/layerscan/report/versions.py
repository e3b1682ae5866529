"""Split a full package version into Trivy's Version / Release / Epoch fields.

dpkg and rpm versions are ``[epoch:]upstream[-release]``; Trivy reports the
three parts separately (``Epoch`` as an integer, omitted when 0). Every other
package type keeps its version whole.
"""

from __future__ import annotations

from dataclasses import dataclass

SPLIT_TYPES = frozenset({"deb", "rpm"})


@dataclass(frozen=True)
class VersionParts:
    version: str
    release: str = ""
    epoch: int = 0


def split_version(pkg_type: str, full: str) -> VersionParts:
    """``split_version("deb", "1:2.3-4+b1")`` -> VersionParts("2.3", "4+b1", 1)."""
    if pkg_type not in SPLIT_TYPES or not full:
        return VersionParts(full)
    epoch, rest = _split_epoch(full)
    upstream, dash, release = rest.rpartition("-")
    if not dash or not upstream:
        return VersionParts(rest, "", epoch)
    return VersionParts(upstream, release, epoch)


def _split_epoch(full: str) -> tuple[int, str]:
    head, colon, rest = full.partition(":")
    if colon and head.isdigit() and len(head) <= 9:
        return int(head), rest
    return 0, full


def join_version(parts: VersionParts) -> str:
    """Inverse of :func:`split_version` (for tests and SBOM round-trips)."""
    text = parts.version + (f"-{parts.release}" if parts.release else "")
    return f"{parts.epoch}:{text}" if parts.epoch else text
