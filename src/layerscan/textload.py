"""Bounded loading of JSON, TOML and YAML documents, and reading values out of them.

Every loader here raises one exception, :class:`LoadError`, for every way the
bytes can fail to be the document they claim to be: bad encoding, bad syntax,
nesting deep enough to exhaust the parser's recursion (``RecursionError``), a
YAML value its constructor refuses. No library exception escapes. Callers
translate it into their own error: analyzers into ``ParseError`` (an Unknown),
feeds into ``FeedError``, image and SBOM readers into ``ImageError``, user files
into ``UsageError``; callers for which bad data just means "absent" catch it
and go on.

TOML and YAML parsers are imported only when such a document is loaded (start-up time). This
module imports nothing from layerscan: it sits at the bottom of the import order.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import cache
from typing import Any

TOO_DEEP = "nested too deeply"


class LoadError(Exception):
    """The data is not a valid document of its format.

    ``str()`` is a short reason ("invalid JSON: Expecting value at line 1 column 1",
    "invalid YAML: nested too deeply"); ``detail`` is the parser's own message
    (:data:`TOO_DEEP` for a recursion overflow), ``kind`` the class name of what the
    parser raised and ``fmt`` the format ("JSON", "TOML", "YAML" or "text").
    """

    def __init__(self, fmt: str, message: str, cause: BaseException) -> None:
        super().__init__(message)
        self.fmt = fmt
        self.kind = type(cause).__name__
        self.too_deep = isinstance(cause, RecursionError)
        self.detail = TOO_DEEP if self.too_deep else str(cause)


def _error(fmt: str, cause: BaseException) -> LoadError:
    if isinstance(cause, RecursionError):
        reason = TOO_DEEP
    elif isinstance(cause, json.JSONDecodeError):
        reason = f"{cause.msg} at line {cause.lineno} column {cause.colno}"
    else:
        text = str(cause)
        reason = text.splitlines()[0] if text else type(cause).__name__
    return LoadError(fmt, f"invalid {fmt}: {reason}", cause)


def decode_text(data: bytes, *, strict: bool = True) -> str:
    """Decode UTF-8 (with or without BOM) or BOM-marked UTF-16.

    ``strict=False`` replaces undecodable bytes; ``strict=True`` raises :class:`LoadError`.
    """
    encoding = "utf-16" if data.startswith((b"\xff\xfe", b"\xfe\xff")) else "utf-8-sig"
    try:
        return data.decode(encoding, errors="strict" if strict else "replace")
    except UnicodeDecodeError as exc:
        raise LoadError("text", f"not valid {encoding.removesuffix('-sig').upper()} text (byte {exc.start})",
                        exc) from None


def parse_json(data: bytes | str, *, parse_constant: Callable[[str], Any] | None = None) -> Any:
    """``json.loads`` (bytes in any encoding it detects, or text); :class:`LoadError` on bad input."""
    try:
        return json.loads(data, parse_constant=parse_constant)
    except (ValueError, RecursionError) as exc:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise _error("JSON", exc) from exc


def parse_toml(data: bytes | str) -> dict[str, Any]:
    """A TOML document (bytes must be UTF-8); :class:`LoadError` on bad input."""
    import tomllib

    try:
        return tomllib.loads(data.decode("utf-8") if isinstance(data, bytes) else data)
    except (ValueError, RecursionError) as exc:  # TOMLDecodeError and UnicodeDecodeError are ValueErrors
        raise _error("TOML", exc) from exc


@cache
def _loader(strings_only: bool, aliases: bool) -> Any:
    import yaml

    if aliases:  # libyaml's BaseLoader when present (feed files are large); safe_load's own loader otherwise
        return getattr(yaml, "CBaseLoader", yaml.BaseLoader) if strings_only else yaml.SafeLoader
    base: Any = yaml.BaseLoader if strings_only else yaml.SafeLoader  # pure Python: compose_node is overridable

    class NoAliasLoader(base):  # type: ignore[misc, valid-type]
        """No anchors/aliases: the documents we read never need them, "billion laughs" bombs do."""

        def compose_node(self, parent: Any, index: Any) -> Any:
            if self.check_event(yaml.AliasEvent):
                event = self.peek_event()
                raise yaml.composer.ComposerError(None, None, "YAML aliases are not accepted", event.start_mark)
            return super().compose_node(parent, index)

    return NoAliasLoader


def parse_yaml_documents(data: bytes | str, *, strings_only: bool = False, aliases: bool = True) -> list[Any]:
    """Every document of a YAML stream (empty documents left out); :class:`LoadError` on bad input.

    Safe YAML (no objects built); ``strings_only`` keeps every scalar a string
    (versions must not become floats); ``aliases=False`` refuses anchors and aliases.
    """
    import yaml

    try:
        return [doc for doc in yaml.load_all(data, Loader=_loader(strings_only, aliases)) if doc is not None]
    except (yaml.YAMLError, ValueError, RecursionError) as exc:  # ValueError: a date the constructor refuses
        raise _error("YAML", exc) from exc


def parse_yaml(data: bytes | str, *, strings_only: bool = False, aliases: bool = True) -> Any:
    """One YAML document (None when empty), as :func:`parse_yaml_documents` reads it."""
    import yaml

    try:
        return yaml.load(data, Loader=_loader(strings_only, aliases))  # noqa: S506 - safe/base loaders only
    except (yaml.YAMLError, ValueError, RecursionError) as exc:
        raise _error("YAML", exc) from exc


# ---------------------------------------------------------------- values


def as_dict(value: Any) -> dict[str, Any]:
    """``value`` if it is a JSON object / mapping, else an empty dict."""
    return value if isinstance(value, dict) else {}


def as_list(value: Any) -> list[Any]:
    """``value`` if it is a list, else an empty list."""
    return value if isinstance(value, list) else []


def as_str(value: Any) -> str:
    """``value`` stripped if it is a string, else ""."""
    return value.strip() if isinstance(value, str) else ""
