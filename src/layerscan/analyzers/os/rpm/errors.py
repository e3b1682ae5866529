"""Errors of the rpm database readers."""

from __future__ import annotations


class RpmDbError(ValueError):
    """The database file is damaged or not in a format we read."""
