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


class ImageError(LayerscanError):
    """Image cannot be opened/read: unknown image, corrupt archive, unsupported media type."""


class DigestMismatchError(ImageError):
    pass


class RegistryError(ImageError):
    pass


class AuthError(RegistryError):
    hint = "check --username/--password, LAYERSCAN_USERNAME/LAYERSCAN_PASSWORD or ~/.docker/config.json"


class DatabaseError(LayerscanError):
    hint = "run 'layerscan db update' (or 'layerscan db import PATH' offline)"


class FeedError(LayerscanError):
    pass
