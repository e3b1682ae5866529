"""What one parse of a feed input counted: records, skips and the first warnings.

Its own module so both the member reader (``members``) and the feed contract
(``base``) use it without importing each other in a circle.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class ParseStats:
    records: int = 0
    skipped: int = 0  # malformed records skipped (counted warning, never an abort)
    warnings: list[str] = field(default_factory=list)

    def skip(self, reason: str) -> None:
        self.skipped += 1
        if len(self.warnings) < 20:
            self.warnings.append(reason)
