"""One entry point for every image source: archives, OCI layouts and registries."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from layerscan.errors import ImageError, InputNotFoundError
from layerscan.progress import NULL_PROGRESS, Progress
from layerscan.source.base import ImageSource, SourceOptions
from layerscan.source.blobstore import BlobStore, DirStore, NotATarError, open_tar_store
from layerscan.source.docker_archive import DockerArchiveSource, is_docker_archive
from layerscan.source.manifest import check_digest, check_image_platform
from layerscan.source.oci_layout import is_oci_layout, open_oci_store

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class InputSpec:
    """``--input`` split into the path and an optional ``:TAG`` or ``@sha256:...`` selector."""

    path: Path
    tag: str = ""
    digest: str = ""


def parse_input(text: str) -> InputSpec:
    """Split ``PATH[:TAG|@DIGEST]``; a path that exists as written wins (paths may contain ':')."""
    if Path(text).exists():
        return InputSpec(Path(text))
    head, at, digest = text.rpartition("@")
    if at and head and Path(head).exists():
        return InputSpec(Path(head), digest=check_digest(digest, f"--input {text}"))
    head, colon, tag = text.rpartition(":")
    if colon and head and tag and "/" not in tag and Path(head).exists():
        return InputSpec(Path(head), tag=tag)
    raise InputNotFoundError("--input", text)


def open_image(name: str | None = None, *, input_path: str | None = None,
               options: SourceOptions = SourceOptions(),
               progress: Progress = NULL_PROGRESS) -> ImageSource:
    """Open an image from ``input_path`` (docker archive, OCI dir/tar) or a registry ``name``."""
    if input_path:
        source = open_input(input_path, options=options, progress=progress)
    elif not name:
        raise ImageError("no image given: pass an image name or --input PATH")
    else:
        from layerscan.source.registry.source import RegistrySource

        source = RegistrySource(name, options=options, progress=progress)
    log.debug("opened %s as %s", source.name, type(source).__name__)
    if options.platform:
        try:
            check_image_platform(source.config().parsed(), options.platform, source.name)
        except BaseException:
            source.close()
            raise
    return source


def open_input(text: str, *, options: SourceOptions = SourceOptions(),
               progress: Progress = NULL_PROGRESS) -> ImageSource:
    spec = parse_input(text)
    store = _store_for(spec.path, options.limits.max_spool_bytes)
    try:
        if is_docker_archive(store) and not spec.digest:
            return DockerArchiveSource(store, text, repo_tag=spec.tag, progress=progress)
        if is_oci_layout(store):
            return open_oci_store(store, text, tag=spec.tag, digest=spec.digest,
                                  platform=options.platform, progress=progress)
    except BaseException:
        store.close()
        raise
    store.close()
    raise ImageError(f"{spec.path}: not a docker archive or OCI layout")


def _store_for(path: Path, max_spool_bytes: int) -> BlobStore:
    if path.is_dir():
        return DirStore(path)
    if not path.is_file():
        raise ImageError(f"{path}: not a regular file or directory")
    try:
        return open_tar_store(path, f"archive {path}", max_spool_bytes)
    except NotATarError:
        raise ImageError(f"{path}: not a docker archive or OCI layout") from None
