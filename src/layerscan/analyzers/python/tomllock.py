"""What the TOML lockfiles of Python tools share: a ``[[package]]`` array of tables."""

from __future__ import annotations

from typing import Any

from layerscan.analyzers.langbase import ParseError, as_dict, as_list, as_str, load_toml


def package_tables(data: bytes, key: str = "package") -> list[dict[str, Any]]:
    """The ``[[<key>]]`` tables of a TOML lockfile (ParseError if the array is malformed)."""
    doc = load_toml(data)
    tables = doc.get(key, [])
    if not isinstance(tables, list):
        raise ParseError(f"'{key}' is not an array of tables")
    return [as_dict(t) for t in tables if isinstance(t, dict) and as_str(t.get("name"))]


def string_list(value: Any) -> list[str]:
    return [v for v in as_list(value) if isinstance(v, str)]
