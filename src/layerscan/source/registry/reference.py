"""Image references: ``[registry[:port]/]repository[:tag][@digest]``.

Docker Hub short names are expanded as the docker CLI does:
``python:3.9`` -> ``registry-1.docker.io/library/python:3.9``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from layerscan.errors import ImageError
from layerscan.source.manifest import check_digest

DOCKER_HUB = "registry-1.docker.io"
DOCKER_HUB_ALIASES = frozenset({"docker.io", "index.docker.io", "registry-1.docker.io", "registry.hub.docker.com"})
_REPO_RE = re.compile(r"^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$")
_TAG_RE = re.compile(r"^[\w][\w.-]{0,127}$")
_HOST_RE = re.compile(r"^(?:[a-zA-Z0-9-]+(?:\.[a-zA-Z0-9-]+)*|\[[0-9a-fA-F:]+\])(?::[0-9]{1,5})?$")


@dataclass(frozen=True)
class ImageReference:
    registry: str  # host[:port]; Docker Hub is registry-1.docker.io
    repository: str  # e.g. library/python, team/app
    tag: str = ""  # "" only when a digest pins the image
    digest: str = ""

    @property
    def reference(self) -> str:
        """What goes after /manifests/: the digest when pinned, else the tag."""
        return self.digest or self.tag

    @property
    def host(self) -> str:
        return self.registry.rsplit(":", 1)[0] if not self.registry.endswith("]") else self.registry

    def with_digest(self, digest: str) -> "ImageReference":
        return ImageReference(self.registry, self.repository, self.tag, digest)

    def __str__(self) -> str:
        out = f"{self.registry}/{self.repository}"
        if self.tag:
            out += f":{self.tag}"
        if self.digest:
            out += f"@{self.digest}"
        return out


def _looks_like_host(component: str) -> bool:
    return "." in component or ":" in component or component == "localhost" or component.startswith("[")


def parse_reference(text: str) -> ImageReference:
    """Parse an image reference; raises ImageError with the reason when it is invalid."""
    raw = text.strip()
    if not raw or len(raw) > 1024:
        raise ImageError(f"invalid image reference {text[:100]!r}")
    name, at, digest = raw.partition("@")
    if at:
        check_digest(digest, f"image reference {raw}")
    registry, _, remainder = name.partition("/")
    if not remainder or not _looks_like_host(registry):
        registry, remainder = DOCKER_HUB, name
    elif not _HOST_RE.match(registry):
        raise ImageError(f"invalid registry host {registry!r} in {raw!r}")
    repository, tag = remainder, ""
    last = remainder.rsplit("/", 1)[-1]
    if ":" in last:
        repository, _, tag = remainder.rpartition(":")
        if not _TAG_RE.match(tag):
            raise ImageError(f"invalid tag {tag!r} in {raw!r}")
    if registry in DOCKER_HUB_ALIASES:
        registry = DOCKER_HUB
        if "/" not in repository:
            repository = f"library/{repository}"
    if not _REPO_RE.match(repository):
        raise ImageError(f"invalid repository name {repository!r} in {raw!r} (lowercase letters, digits, . _ - /)")
    if not tag and not digest:
        tag = "latest"
    return ImageReference(registry=registry, repository=repository, tag=tag, digest=digest)


def familiar_repository(ref: ImageReference) -> str:
    """The name as docker prints it: ``python`` for Docker Hub's library/python."""
    if ref.registry != DOCKER_HUB:
        return f"{ref.registry}/{ref.repository}"
    return ref.repository.removeprefix("library/")
