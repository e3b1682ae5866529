"""Feed contract (DESIGN.md §2): ``fetch`` (network, base URL configurable so a
local mirror works) and a pure ``parse`` that is replayable from files."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar, Iterator

from layerscan.model import Advisory


@dataclass
class ParseStats:
    records: int = 0
    skipped: int = 0  # malformed records skipped (counted warning, never an abort)
    warnings: list[str] = field(default_factory=list)

    def skip(self, reason: str) -> None:
        self.skipped += 1
        if len(self.warnings) < 20:
            self.warnings.append(reason)


class Feed(ABC):
    name: ClassVar[str]  # "osv", "debian", "alpine", "nvd", "nodejs-security-wg", "kev", "epss", "eol"

    @abstractmethod
    def parse(self, path: Path, stats: ParseStats) -> Iterator[Advisory]:
        """Parse a file or directory in this feed's native layout."""


class SideFeed(ABC):
    """A feed of per-CVE or per-product facts (KEV, EPSS, end-of-life), not advisories."""

    name: ClassVar[str]

    @abstractmethod
    def parse(self, path: Path, stats: ParseStats) -> Iterator[object]:
        """Parse a file or directory into this feed's record type."""
