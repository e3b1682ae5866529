"""A small OCI distribution client on ``requests``.

Why our own rather than a registry library: we need very little of the API
(manifests, blobs, monolithic uploads), but we need it done our way — layer
blobs streamed straight into the walker without buffering, every manifest and
blob digest-checked while it is read, bounded sizes and retries for hostile or
flaky registries, and credentials kept out of every message. That is a few
hundred lines here, versus a heavy dependency that buffers or trusts blobs.
"""

from __future__ import annotations

import email.utils
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO
from urllib.parse import urljoin

import requests

from layerscan.cachedir import open_private
from layerscan.errors import AuthError, ImageError, RegistryError, network_reason
from layerscan.progress import NULL_PROGRESS, Progress
from layerscan.source.base import SourceOptions, load_json_document
from layerscan.source.manifest import (
    INDEX_TYPES,
    MANIFEST_ACCEPT,
    MAX_INDEX_DEPTH,
    MAX_MANIFEST_BYTES,
    Descriptor,
    ImageManifest,
    document_media_type,
    ensure_supported,
    parse_descriptor,
    parse_image_manifest,
    parse_index,
    select_platform,
)
from layerscan.source.registry.auth import Authenticator, Credentials, parse_challenge, resolve_credentials
from layerscan.source.registry.reference import ImageReference
from layerscan.source.verify import sha256_digest, verified_stream, verify_bytes
from layerscan.transfer import TIMEOUT_HINT, ResumableBody, Watchdog, guarded_session

log = logging.getLogger(__name__)
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
LOCAL_HOSTS = frozenset({"localhost", "127.0.0.1", "[::1]"})
_CHUNK = 1024 * 1024


@dataclass(frozen=True)
class FetchedManifest:
    digest: str  # verified sha256 of ``raw``
    media_type: str
    raw: bytes
    doc: dict


OFFLINE_HINT = ("check the network and any proxy (HTTPS_PROXY); to scan without a registry, "
                "use --input with a 'docker save' archive or an OCI layout ('skopeo copy docker://IMAGE oci:DIR')")


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    if value.strip().isdigit():
        return float(value.strip())
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


class RegistryClient:
    """One registry host. Methods take repository names and digests/tags."""

    def __init__(self, registry: str, options: SourceOptions = SourceOptions(), *,
                 credentials: Credentials | None = None, session: requests.Session | None = None,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.registry = registry
        self.options = options
        self._watchdog = Watchdog(options.timeout)  # --timeout bounds the whole pull
        self._session = guarded_session(self._watchdog, session)
        self._session.headers.setdefault("User-Agent", "layerscan")
        self._sleep = sleep
        host = registry.rsplit(":", 1)[0] if not registry.endswith("]") else registry
        self._scheme = "http" if options.insecure and host in LOCAL_HOSTS else "https"
        creds = credentials or resolve_credentials(registry, options)
        self._auth = Authenticator(self._session, registry, creds, options.timeout, verify=not options.insecure)

    # -- transport -------------------------------------------------------------------------

    def close(self) -> None:
        self._watchdog.stop()
        self._session.close()

    def url(self, path: str) -> str:
        return f"{self._scheme}://{self.registry}{path}"

    def _backoff(self, attempt: int, retry_after: str | None) -> float:
        wait = _retry_after(retry_after)
        if wait is None:
            wait = 0.5 * (2 ** attempt)
        return self._watchdog.deadline.wait(min(wait, self.options.retry_max_wait))

    def _timed_out(self, what: str = "") -> RegistryError:
        return RegistryError(self._watchdog.deadline.message(what or f"pull from {self.registry}"),
                             hint=TIMEOUT_HINT)

    def _send(self, method: str, url: str, **kwargs: object) -> requests.Response:
        """One request with retries on 429/5xx/connection errors; insecure https->http fallback."""
        attempt = 0
        while True:
            try:
                resp = self._session.request(method, url, timeout=self._watchdog.timeout(),
                                             verify=not self.options.insecure, **kwargs)  # type: ignore[arg-type]
            except requests.exceptions.SSLError:
                if self._watchdog.fired:  # the deadline cut the TLS handshake
                    raise self._timed_out() from None
                if self.options.insecure and url.startswith("https://"):
                    self._scheme = "http"
                    url = "http://" + url.removeprefix("https://")
                    continue
                raise RegistryError(f"TLS connection to {self.registry} failed (untrusted certificate, "
                                    "or a plain-HTTP registry)",
                                    hint="use --insecure for plain HTTP or a self-signed certificate") from None
            except (requests.ConnectionError, requests.Timeout) as exc:
                log.debug("%s %s: %s (attempt %d)", method, url, type(exc).__name__, attempt + 1)
                if self._watchdog.fired or self._watchdog.deadline.expired:
                    raise self._timed_out() from None
                if attempt >= self.options.retries:
                    raise RegistryError(f"cannot reach registry {self.registry} ({network_reason(exc)})",
                                        hint=OFFLINE_HINT) from None
                self._sleep(self._backoff(attempt, None))
                attempt += 1
                continue
            except requests.RequestException as exc:
                raise RegistryError(f"request to {self.registry} failed: {type(exc).__name__}") from None
            log.debug("%s %s: HTTP %d", method, url, resp.status_code)
            if resp.status_code in RETRY_STATUSES and attempt < self.options.retries:
                wait = self._backoff(attempt, resp.headers.get("Retry-After"))
                resp.close()
                self._sleep(wait)
                attempt += 1
                continue
            return resp

    def request(self, method: str, path_or_url: str, scope: str, *,
                headers: dict[str, str] | None = None, **kwargs: object) -> requests.Response:
        """Authenticated request: answers a 401 challenge once, caching the answer per scope."""
        url = path_or_url if "://" in path_or_url else self.url(path_or_url)
        hdrs = dict(headers or {})
        cached = self._auth.cached(scope)
        if cached:
            hdrs["Authorization"] = cached
        resp = self._send(method, url, headers=hdrs, **kwargs)
        if resp.status_code == 401:
            challenge = parse_challenge(resp.headers.get("WWW-Authenticate", ""))
            resp.close()
            if challenge is None:
                raise AuthError(f"{self.registry}: authentication required (no usable WWW-Authenticate challenge)")
            self._auth.forget(scope)
            try:
                hdrs["Authorization"] = self._auth.respond(challenge, scope)
            except RegistryError:
                if self._watchdog.fired:  # the deadline cut the token request
                    raise self._timed_out() from None
                raise
            resp = self._send(method, url, headers=hdrs, **kwargs)
            if resp.status_code == 401:
                resp.close()
                raise AuthError(f"{self.registry}: authentication failed for {scope.split(':')[1]}")
        if resp.status_code == 403:
            resp.close()
            raise AuthError(f"{self.registry}: access denied to {scope.split(':')[1]}")
        return resp

    def _body(self, resp: requests.Response, path: str, scope: str, headers: dict[str, str],
              what: str) -> ResumableBody:
        """``resp``'s body; a reset or stall mid-body asks again (Range) within the retry budget."""
        def reopen(extra: dict[str, str]) -> requests.Response:
            return self.request("GET", path, scope, headers={**headers, **extra}, stream=True)

        def fail(reason: str, timed_out: bool) -> RegistryError:
            if timed_out:
                return self._timed_out(f"download of {what}")
            return RegistryError(f"download of {what} failed: {reason}")

        return ResumableBody(resp, reopen, self._watchdog, self.options.retries, fail, self._sleep)

    def _read_limited(self, body: ResumableBody, limit: int, what: str) -> bytes:
        try:
            data = body.read_at_most(limit)
        finally:
            body.close()
        if len(data) > limit:
            raise ImageError(f"{what} is larger than {limit} bytes")
        return data

    # -- pulling ---------------------------------------------------------------------------

    def get_manifest(self, repo: str, reference: str) -> FetchedManifest:
        """GET a manifest or index by tag or digest; its digest is verified."""
        what = f"{self.registry}/{repo}:{reference}" if ":" not in reference else f"{self.registry}/{repo}@{reference}"
        path, scope = f"/v2/{repo}/manifests/{reference}", f"repository:{repo}:pull"
        headers = {"Accept": MANIFEST_ACCEPT}
        resp = self.request("GET", path, scope, headers=headers, stream=True)
        if resp.status_code == 404:
            resp.close()
            raise ImageError(f"{what}: not found (no such repository, tag or digest)")
        if resp.status_code != 200:
            resp.close()
            raise RegistryError(f"{what}: registry answered HTTP {resp.status_code} for the manifest")
        content_type = resp.headers.get("Content-Type", "").split(";")[0].strip()
        header_digest = resp.headers.get("Docker-Content-Digest", "")
        raw = self._read_limited(self._body(resp, path, scope, headers, f"manifest {what}"), MAX_MANIFEST_BYTES,
                                 f"manifest {what}")
        pinned = reference.startswith(("sha256:", "sha512:"))
        if pinned:
            verify_bytes(raw, reference, f"manifest {what}")
        elif header_digest.startswith("sha256:"):
            verify_bytes(raw, header_digest, f"manifest {what}")
        doc = load_json_document(raw, f"manifest {what}")
        media_type = document_media_type(doc, "" if content_type in ("application/json", "") else content_type)
        ensure_supported(media_type, f"manifest {what}")
        return FetchedManifest(reference if pinned else sha256_digest(raw), media_type, raw, doc)

    def head_manifest(self, repo: str, reference: str) -> str:
        """The digest a tag resolves to, by HEAD (no body): "" when the registry does not say."""
        resp = self.request("HEAD", f"/v2/{repo}/manifests/{reference}", f"repository:{repo}:pull",
                            headers={"Accept": MANIFEST_ACCEPT})
        resp.close()
        if resp.status_code == 404:
            raise ImageError(f"{self.registry}/{repo}:{reference}: not found (no such repository or tag)")
        if resp.status_code != 200:
            raise RegistryError(f"{self.registry}/{repo}:{reference}: registry answered HTTP {resp.status_code} "
                                "for the manifest")
        digest = resp.headers.get("Docker-Content-Digest", "").strip()
        return digest if digest.startswith("sha256:") and len(digest) == 71 else ""

    def list_tags(self, repo: str, max_pages: int, page_size: int = 1000,
                  warn: Callable[[str], None] = log.warning) -> list[str]:
        """Every tag of ``repo`` (``/tags/list``), following ``Link: <...>; rel="next"``. Stops,
        with a warning, after ``max_pages`` pages or when a next link repeats one already read."""
        url = self.url(f"/v2/{repo}/tags/list?n={page_size}")
        seen: set[str] = set()
        tags: dict[str, None] = {}
        for _ in range(max_pages):
            seen.add(url)
            resp = self.request("GET", url, f"repository:{repo}:pull", stream=True)
            if resp.status_code == 404:
                resp.close()
                raise ImageError(f"{self.registry}/{repo}: no such repository")
            if resp.status_code != 200:
                resp.close()
                raise RegistryError(f"{self.registry}/{repo}: registry answered HTTP {resp.status_code} "
                                    "for the tag list")
            link = resp.links.get("next", {}).get("url", "")
            body = self._body(resp, url, f"repository:{repo}:pull", {}, f"tag list of {repo}")
            doc = load_json_document(self._read_limited(body, MAX_MANIFEST_BYTES, f"tag list of {repo}"),
                                     f"tag list of {repo}")
            page = doc.get("tags") or []
            if not isinstance(page, list):
                raise ImageError(f"{self.registry}/{repo}: tag list is not a list")
            tags.update((t, None) for t in page if isinstance(t, str))
            if not link:
                return list(tags)
            url = urljoin(self.url("/"), link)
            if not url.startswith(self.url("/")):
                raise RegistryError(f"{self.registry}/{repo}: tag list links to another host")
            if url in seen:
                warn(f"{self.registry}/{repo}: the tag list links back to a page already read; "
                     f"stopped at {len(tags)} tags")
                return list(tags)
        warn(f"{self.registry}/{repo}: the tag list has more than {max_pages} pages; "
             f"stopped at {len(tags)} tags")
        return list(tags)

    def resolve_image(self, ref: ImageReference, platform: str = "") -> tuple[ImageManifest, FetchedManifest]:
        """The platform's image manifest for ``ref``, and the top-level manifest/index fetched."""
        top = fetched = self.get_manifest(ref.repository, ref.reference)
        for _ in range(MAX_INDEX_DEPTH + 1):
            what = f"manifest {ref.repository}@{fetched.digest}"
            if fetched.media_type not in INDEX_TYPES:
                return parse_image_manifest(fetched.doc, fetched.digest, fetched.media_type, what), top
            entry = select_platform(parse_index(fetched.doc, what), platform, f"{ref}")
            fetched = self.get_manifest(ref.repository, entry.digest)
        raise ImageError(f"{ref}: indexes nested deeper than {MAX_INDEX_DEPTH}")

    def _open_blob(self, repo: str, digest: str, what: str) -> ResumableBody:
        path, scope = f"/v2/{repo}/blobs/{digest}", f"repository:{repo}:pull"
        resp = self.request("GET", path, scope, stream=True)
        if resp.status_code == 404:
            resp.close()
            raise ImageError(f"{self.registry}/{repo}: blob {digest} not found")
        if resp.status_code != 200:
            resp.close()
            raise RegistryError(f"{self.registry}/{repo}: HTTP {resp.status_code} for blob {digest}")
        return self._body(resp, path, scope, {}, what)

    def fetch_blob(self, repo: str, digest: str, limit: int, what: str = "") -> bytes:
        """A small blob (config, artifact layer) in memory, digest-verified."""
        what = what or f"blob {digest}"
        raw = self._read_limited(self._open_blob(repo, digest, what), limit, what)
        return verify_bytes(raw, digest, what)

    def open_blob(self, repo: str, digest: str, size: int = -1, *, what: str = "",
                  progress: Progress = NULL_PROGRESS, description: str = "") -> BinaryIO:
        """Stream a blob (redirects followed); DigestMismatchError at EOF if it does not verify."""
        what = what or f"blob {digest}"
        stream = self._open_blob(repo, digest, what)
        return verified_stream(stream, digest, what, size=size, progress=progress,  # type: ignore[arg-type]
                               description=description)

    def download_blob(self, repo: str, descriptor: Descriptor, dest: Path) -> Path:
        """Stream a blob to ``dest`` (written to a sibling temp name, renamed when verified)."""
        partial = dest.with_name(dest.name + ".partial")
        try:
            with self.open_blob(repo, descriptor.digest, descriptor.size) as src, open_private(partial) as out:
                while chunk := src.read(_CHUNK):
                    out.write(chunk)
            partial.replace(dest)
        finally:
            partial.unlink(missing_ok=True)
        return dest

    def pull_artifact(self, ref: ImageReference) -> tuple[FetchedManifest, list[Descriptor]]:
        """An OCI artifact's manifest and its layer descriptors (read them with fetch_blob/download_blob)."""
        fetched = self.get_manifest(ref.repository, ref.reference)
        if fetched.media_type in INDEX_TYPES:
            raise ImageError(f"{ref}: is an index, not an artifact manifest")
        layers = fetched.doc.get("layers")
        if not isinstance(layers, list):
            raise ImageError(f"{ref}: artifact manifest has no layers")
        return fetched, [parse_descriptor(item, f"{ref} layer {i}") for i, item in enumerate(layers)]

    # -- pushing ---------------------------------------------------------------------------

    def blob_exists(self, repo: str, digest: str) -> bool:
        resp = self.request("HEAD", f"/v2/{repo}/blobs/{digest}", f"repository:{repo}:pull,push")
        resp.close()
        return resp.status_code == 200

    def push_blob(self, repo: str, data: bytes) -> str:
        """Monolithic upload (POST then PUT ?digest=); returns the digest. Skips blobs already there."""
        digest = sha256_digest(data)
        if self.blob_exists(repo, digest):
            return digest
        scope = f"repository:{repo}:pull,push"
        resp = self.request("POST", f"/v2/{repo}/blobs/uploads/", scope)
        resp.close()
        location = resp.headers.get("Location", "")
        if resp.status_code != 202 or not location:
            raise RegistryError(f"{self.registry}/{repo}: upload not accepted (HTTP {resp.status_code})")
        resp = self.request("PUT", urljoin(self.url("/"), location), scope, params={"digest": digest},
                            data=data, headers={"Content-Type": "application/octet-stream"})
        resp.close()
        if resp.status_code != 201:
            raise RegistryError(f"{self.registry}/{repo}: blob upload failed (HTTP {resp.status_code})")
        return digest

    def push_manifest(self, ref: ImageReference, manifest: bytes, media_type: str) -> str:
        """PUT a manifest under ``ref``'s tag (or digest); returns its digest."""
        resp = self.request("PUT", f"/v2/{ref.repository}/manifests/{ref.reference}",
                            f"repository:{ref.repository}:pull,push",
                            data=manifest, headers={"Content-Type": media_type})
        resp.close()
        if resp.status_code not in (200, 201):
            raise RegistryError(f"{ref}: manifest upload failed (HTTP {resp.status_code})")
        return sha256_digest(manifest)
