"""Conditional HTTP downloads into the feed cache.

``Fetcher.get(url, dest)`` sends ``If-None-Match`` / ``If-Modified-Since`` from
the validators remembered for ``url`` (only when ``dest`` still exists), writes
the body to a temp file next to ``dest`` with a size cap, and renames it into
place. A 304 leaves ``dest`` as it is.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Mapping

from layerscan.errors import FeedError, network_reason
from layerscan.progress import NULL_PROGRESS, Progress

if TYPE_CHECKING:  # requests is imported when a download starts: scans that skip the update never pay for it
    import requests

MAX_DOWNLOAD_BYTES = 4 * 1024 ** 3
_CHUNK = 1 << 20


class HttpStatusError(FeedError):
    """The server answered, but not with 200 or 304 (``status`` tells which)."""

    def __init__(self, url: str, status: int) -> None:
        super().__init__(f"{url}: HTTP {status}")
        self.status = status


@dataclass(frozen=True)
class Validators:
    etag: str = ""
    last_modified: str = ""

    def encode(self) -> str:
        return json.dumps({"etag": self.etag, "last_modified": self.last_modified})

    @classmethod
    def decode(cls, raw: str) -> "Validators":
        try:
            doc = json.loads(raw)
            return cls(str(doc.get("etag", "")), str(doc.get("last_modified", "")))
        except (ValueError, AttributeError):
            return cls()


@dataclass(frozen=True)
class FetchResult:
    url: str
    path: Path
    changed: bool  # False on 304 Not Modified
    validators: Validators


class Fetcher:
    def __init__(self, validators: Mapping[str, Validators] | None = None, timeout: float = 60.0,
                 progress: Progress = NULL_PROGRESS, max_bytes: int = MAX_DOWNLOAD_BYTES) -> None:
        self.validators = dict(validators or {})
        self.timeout = timeout
        self.progress = progress
        self.max_bytes = max_bytes
        import requests

        self._errors = requests.RequestException
        self.session = requests.Session()
        self.session.headers["User-Agent"] = "layerscan-db-update"

    def _headers(self, url: str, dest: Path) -> dict[str, str]:
        known = self.validators.get(url)
        if known is None or not dest.exists():
            return {}
        headers = {}
        if known.etag:
            headers["If-None-Match"] = known.etag
        if known.last_modified:
            headers["If-Modified-Since"] = known.last_modified
        return headers

    def get(self, url: str, dest: Path, label: str = "", *, headers: Mapping[str, str] | None = None,
            remember: bool = True) -> FetchResult:
        """Download ``url`` to ``dest`` unless unchanged. Raises FeedError on any failure
        (HttpStatusError for an unexpected status). ``headers`` are sent as well;
        ``remember=False`` neither sends nor keeps validators (one-off API queries)."""
        dest.parent.mkdir(parents=True, exist_ok=True)
        sent = {**(self._headers(url, dest) if remember else {}), **(headers or {})}
        try:
            with self.session.get(url, headers=sent, timeout=self.timeout, stream=True) as resp:
                if resp.status_code == 304 and url in self.validators:
                    return FetchResult(url, dest, False, self.validators[url])
                if resp.status_code != 200:
                    raise HttpStatusError(url, resp.status_code)
                self._save(resp, dest, label or url)
                found = Validators(resp.headers.get("ETag", ""), resp.headers.get("Last-Modified", ""))
        except self._errors as exc:
            raise FeedError(f"{url}: {network_reason(exc)}") from exc
        if remember:
            self.validators[url] = found
        return FetchResult(url, dest, True, found)

    def _save(self, resp: requests.Response, dest: Path, label: str) -> None:
        tmp = dest.with_name(f".{dest.name}.{os.getpid()}.part")
        total = 0
        task = self.progress.task(f"download {label}", _content_length(resp))
        try:
            with open(tmp, "wb") as out:
                for chunk in resp.iter_content(_CHUNK):
                    total += len(chunk)
                    if total > self.max_bytes:
                        raise FeedError(f"{resp.url}: larger than {self.max_bytes} bytes")
                    out.write(chunk)
                    task.advance(len(chunk))
            os.replace(tmp, dest)
        finally:
            task.close()
            if tmp.exists():
                tmp.unlink()


def _content_length(resp: requests.Response) -> int | None:
    value = resp.headers.get("Content-Length", "")
    return int(value) if value.isdigit() else None
