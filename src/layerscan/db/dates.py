"""One spelling for every date the database stores and the reports emit.

Feeds write dates many ways: a bare day (nodejs security-wg ``2020-04-27``), no
time zone (NVD API 2.0 ``2003-01-17T05:00:00.000``, which is UTC), fractions of
any length, offsets, and placeholders for "no date" (``1970-01-01``,
``0001-01-01T00:00:00Z``). Consumers such as Trivy's report reader accept only
RFC 3339 with a zone, so every date becomes ``YYYY-MM-DDTHH:MM:SSZ`` (UTC), and
a placeholder or an unreadable value becomes "" (the field is then omitted).
"""

from __future__ import annotations

from datetime import datetime, timezone
from functools import lru_cache

EARLIEST_YEAR = 1990  # anything before is a placeholder (epoch, year 1), not a real advisory date
_MAX_LEN = 64


def rfc3339(value: object) -> str:
    """'2021-12-10' -> '2021-12-10T00:00:00Z'; '2003-01-17T05:00:00.000' (no zone: UTC) ->
    '2003-01-17T05:00:00Z'; '2021-12-10T10:00:00+01:00' -> '2021-12-10T09:00:00Z';
    '1970-01-01', '0001-01-01T00:00:00Z', 'n/a', non-strings -> ''."""
    if not isinstance(value, str) or not value.strip() or len(value) > _MAX_LEN:
        return ""
    return _rfc3339(value)


@lru_cache(maxsize=8192)  # a report repeats the same advisory dates once per affected package
def _rfc3339(value: str) -> str:
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        return ""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    try:
        moment = moment.astimezone(timezone.utc)
    except OverflowError:  # an offset pushing year 1 or 9999 out of range
        return ""
    return "" if moment.year < EARLIEST_YEAR else moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def format_utc(moment: datetime) -> str:
    """The metadata spelling of a moment (``built_at``, sync points): '2024-05-01T12:00:00Z'."""
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_utc(text: str) -> datetime | None:
    """``format_utc``'s text back to an aware UTC datetime; None for anything else."""
    try:
        return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)
    except ValueError:
        return None
