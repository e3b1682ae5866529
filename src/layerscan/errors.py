"""Error types that the CLI turns into one clear line and a documented exit code."""

from __future__ import annotations


class LayerscanError(Exception):
    """Base of every error we expect and explain to the user (no traceback)."""

    exit_code = 3  # runtime error
    hint = ""  # what to do next, shown after the message

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message)
        if hint:
            self.hint = hint


class UsageError(LayerscanError):
    exit_code = 2


class InputNotFoundError(UsageError):
    """A path the user named does not exist (or is a directory where a file was asked for).
    Exit 2 whatever the command or flag named it."""

    def __init__(self, what: str, path: object) -> None:
        from pathlib import Path

        p = Path(str(path))
        reason = ("is a directory, not a file" if p.is_dir() else
                  "is not a regular file" if p.exists() else "no such file or directory")
        super().__init__(f"{what} {path}: {reason}")


class ImageError(LayerscanError):
    """Image cannot be opened/read: unknown image, corrupt archive, unsupported media type."""


class DigestMismatchError(ImageError):
    pass


class UnreadableLayerError(ImageError):
    """One layer's content cannot be read (truncated, corrupt, unsupported compression): an
    image scan goes on without it, warning and exiting 4 (docs/cli.md, "Exit codes")."""


class RegistryError(ImageError):
    pass


class AuthError(RegistryError):
    hint = "check --username/--password, LAYERSCAN_USERNAME/LAYERSCAN_PASSWORD or ~/.docker/config.json"


class DatabaseError(LayerscanError):
    hint = "run 'layerscan db update' (or 'layerscan db import PATH' offline)"


class FeedError(LayerscanError):
    pass


def network_reason(exc: Exception) -> str:
    """A network failure in a few words (requests' own text is a nested urllib3 repr)."""
    import requests

    kinds = ((requests.exceptions.ProxyError, "proxy unreachable"),
             (requests.exceptions.SSLError, "TLS error"),
             (requests.exceptions.Timeout, "timed out"),
             (requests.exceptions.ConnectionError, "cannot connect (network or DNS)"))
    for kind, words in kinds:
        if isinstance(exc, kind):
            return words
    return f"{exc.__class__.__name__}: {str(exc)[:200]}"
