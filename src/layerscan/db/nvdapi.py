"""Download from the NVD CVE API 2.0 into response pages that the NVD importer reads.

The first run (no previous end date) downloads everything, page by page
(``startIndex`` / ``resultsPerPage``, until ``totalResults``). Later runs ask
only for CVEs modified since the previous run's end date, in windows of at most
120 days (``lastModStartDate`` / ``lastModEndDate``, the API's limit). Requests
are paced to NVD's rate limit (5 requests per 30 s without an API key, 50 with
``LAYERSCAN_NVD_API_KEY``, sent as the ``apiKey`` header); 403/429/503 answers
are retried with exponential backoff.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Callable, Iterator, Mapping
from urllib.parse import urlencode

from layerscan.db.fetch import Fetcher, HttpStatusError
from layerscan.errors import FeedError
from layerscan.progress import Progress
from layerscan.textload import LoadError, parse_json

DEFAULT_URL = "https://services.nvd.nist.gov/rest/json/cves/2.0"
API_KEY_ENV = "LAYERSCAN_NVD_API_KEY"
MAX_PAGE_SIZE = 2000
MAX_WINDOW = timedelta(days=120)
RETRY_STATUSES = frozenset({403, 429, 503})
PUBLIC_PAUSE = 6.0  # 5 requests / 30 s
KEYED_PAUSE = 0.6  # 50 requests / 30 s


@dataclass(frozen=True)
class NvdLimits:
    page_size: int = MAX_PAGE_SIZE
    pause: float | None = None  # seconds between requests; None: by API key
    backoff: float = 30.0  # first retry delay, doubled per retry
    retries: int = 4

    def pause_for(self, api_key: str) -> float:
        if self.pause is not None:
            return self.pause
        return KEYED_PAUSE if api_key else PUBLIC_PAUSE


@dataclass(frozen=True)
class NvdQuery:
    base: str
    api_key: str
    limits: NvdLimits
    sleep: Callable[[float], None] = time.sleep


def windows(since: datetime, until: datetime) -> Iterator[tuple[datetime, datetime]]:
    """[since, until] cut into consecutive windows of at most MAX_WINDOW."""
    start = since
    while start < until:
        end = min(start + MAX_WINDOW, until)
        yield start, end
        start = end


def nvd_date(when: datetime) -> str:
    return when.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.000+00:00")


def _window_params(window: tuple[datetime, datetime] | None) -> dict[str, str]:
    if window is None:
        return {}
    return {"lastModStartDate": nvd_date(window[0]), "lastModEndDate": nvd_date(window[1])}


def _get_page(fetcher: Fetcher, query: NvdQuery, url: str, dest: Path) -> None:
    """One request, retried with exponential backoff on 403/429/503."""
    headers = {"apiKey": query.api_key} if query.api_key else {}
    for attempt in range(query.limits.retries + 1):
        try:
            fetcher.get(url, dest, "nvd", headers=headers, remember=False)
            return
        except HttpStatusError as exc:
            if exc.status not in RETRY_STATUSES or attempt == query.limits.retries:
                raise
            query.sleep(query.limits.backoff * 2 ** attempt)


def _page_counts(dest: Path) -> tuple[int, int]:
    """(records on the page, totalResults) of a saved response page."""
    try:
        doc = parse_json(dest.read_bytes())
        return len(doc["vulnerabilities"]), int(doc["totalResults"])
    except (OSError, LoadError, ValueError, KeyError, TypeError) as exc:
        raise FeedError(f"{dest.name}: not an NVD CVE API 2.0 response page") from exc


def fetch_pages(fetcher: Fetcher, query: NvdQuery, windows_: list[tuple[datetime, datetime] | None],
                dest_dir: Path, progress: Progress) -> int:
    """Fetch every page of every window into ``dest_dir``; the number of records fetched."""
    task = progress.task("download nvd pages")
    fetched, first = 0, True
    try:
        for number, window in enumerate(windows_):
            start, total = 0, 1
            while start < total:
                if not first:
                    query.sleep(query.limits.pause_for(query.api_key))
                first = False
                params = {**_window_params(window), "resultsPerPage": str(query.limits.page_size),
                          "startIndex": str(start)}
                dest = dest_dir / f"page-{number:03d}-{start:09d}.json"
                _get_page(fetcher, query, f"{query.base}?{urlencode(params)}", dest)
                count, total = _page_counts(dest)
                fetched += count
                start += count if count else total  # an empty page ends the window
                task.advance(1)
    finally:
        task.close()
    return fetched


def query_from(base: str, env: Mapping[str, str], limits: NvdLimits,
               sleep: Callable[[float], None] = time.sleep) -> NvdQuery:
    return NvdQuery(base=base, api_key=env.get(API_KEY_ENV, "").strip(), limits=limits, sleep=sleep)
