"""Conditional HTTP downloads into the feed cache.

``Fetcher.get(url, dest)`` sends ``If-None-Match`` / ``If-Modified-Since`` from
the validators remembered for ``url`` (only when ``dest`` still exists), writes
the body to a temp file next to ``dest`` with a size cap, and renames it into
place. A 304 leaves ``dest`` as it is. Each download must finish within
``timeout`` seconds (a deadline, not a per-read timeout: see layerscan.transfer);
a connection reset mid-body resumes with ``Range`` within ``retries``.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Mapping

from layerscan.cachedir import open_private, private_dir
from layerscan.errors import FeedError, network_reason
from layerscan.progress import NULL_PROGRESS, Progress
from layerscan.textload import LoadError, parse_json

if TYPE_CHECKING:  # requests is imported when a download starts: scans that skip the update never pay for it
    import requests

    from layerscan.transfer import ResumableBody

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
            doc = parse_json(raw)
            return cls(str(doc.get("etag", "")), str(doc.get("last_modified", "")))
        except (LoadError, AttributeError):
            return cls()


@dataclass(frozen=True)
class FetchResult:
    url: str
    path: Path
    changed: bool  # False on 304 Not Modified
    validators: Validators


class Fetcher:
    def __init__(self, validators: Mapping[str, Validators] | None = None, timeout: float = 300.0,
                 progress: Progress = NULL_PROGRESS, max_bytes: int = MAX_DOWNLOAD_BYTES, retries: int = 4) -> None:
        self.validators = dict(validators or {})
        self.timeout = timeout
        self.progress = progress
        self.max_bytes = max_bytes
        self.retries = retries
        import requests

        from layerscan.transfer import Watchdog, guarded_session

        self._errors = requests.RequestException
        self._watchdog = Watchdog(timeout)
        self.session = guarded_session(self._watchdog)
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
        private_dir(dest.parent)
        sent = {**(self._headers(url, dest) if remember else {}), **(headers or {})}
        self._watchdog.restart(self.timeout)
        try:
            with self.session.get(url, headers=sent, stream=True) as resp:
                if resp.status_code == 304 and url in self.validators:
                    return FetchResult(url, dest, False, self.validators[url])
                if resp.status_code != 200:
                    raise HttpStatusError(url, resp.status_code)
                found = Validators(resp.headers.get("ETag", ""), resp.headers.get("Last-Modified", ""))
                self._save(self._body(url, resp, dict(headers or {})), dest, label or url)
        except self._errors as exc:
            if self._watchdog.fired or self._watchdog.deadline.expired:
                raise self._fail(url, "", True) from None
            raise FeedError(f"{url}: {network_reason(exc)}") from exc
        finally:
            self._watchdog.stop()
        if remember:
            self.validators[url] = found
        return FetchResult(url, dest, True, found)

    def _fail(self, url: str, reason: str, timed_out: bool) -> FeedError:
        from layerscan.transfer import TIMEOUT_HINT

        if timed_out:
            return FeedError(self._watchdog.deadline.message(f"download of {url}"), hint=TIMEOUT_HINT)
        return FeedError(f"{url}: {reason}")

    def _body(self, url: str, resp: requests.Response, headers: dict[str, str]) -> ResumableBody:
        """The body; a reset mid-body asks again with Range (validators left out: no 304 then)."""
        from layerscan.transfer import ResumableBody

        def reopen(extra: dict[str, str]) -> requests.Response:
            return self.session.get(url, headers={**headers, **extra}, stream=True)

        return ResumableBody(resp, reopen, self._watchdog, self.retries,
                             lambda reason, timed_out: self._fail(url, reason, timed_out))

    def _save(self, body: ResumableBody, dest: Path, label: str) -> None:
        tmp = dest.with_name(f".{dest.name}.{os.getpid()}.part")
        total = 0
        task = self.progress.task(f"download {label}", _content_length(body.response))
        try:
            with open_private(tmp) as out:
                while chunk := body.read(_CHUNK):
                    total += len(chunk)
                    if total > self.max_bytes:
                        raise FeedError(f"{body.response.url}: larger than {self.max_bytes} bytes")
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
