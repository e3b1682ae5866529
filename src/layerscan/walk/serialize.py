"""JSON round trip of analysis results (for the layer cache).

Leaf model objects (Package, OSInfo, Unknown) hold only strings, booleans and
tuples of those; they are written as objects of their non-default fields. The
``layer`` field is never stored: layer attribution happens after the cache.
Reading validates every field's type, so a damaged cache entry raises
ValueError instead of producing odd objects.
"""

from __future__ import annotations

from dataclasses import MISSING, fields
from typing import Any, TypeVar

from layerscan.analyzers.base import AnalysisResult
from layerscan.model import OSInfo, Package, Unknown

T = TypeVar("T")
_NOT_STORED = frozenset({"layer"})


def _plain(value: Any) -> Any:
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    return value


def _tupled(value: Any) -> Any:
    if isinstance(value, list):
        return tuple(_tupled(v) for v in value)
    if isinstance(value, dict):
        raise ValueError("unexpected object")
    return value


_STORED: dict[type, tuple[tuple[str, Any, type], ...]] = {}


def _stored(cls: type) -> tuple[tuple[str, Any, type], ...]:
    """(name, default or MISSING, the type a stored value must have) of each stored field, in
    order: ``fields()`` once per class, not once per object (a layer holds hundreds)."""
    found = _STORED.get(cls)
    if found is None:
        found = _STORED[cls] = tuple((f.name, f.default, str if f.default is MISSING else type(f.default))
                                     for f in fields(cls) if f.name not in _NOT_STORED)
    return found


def leaf_to_json(obj: Package | OSInfo | Unknown) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, default, _ in _stored(type(obj)):
        value = getattr(obj, name)
        if default is not MISSING and value == default:
            continue
        out[name] = _plain(value)
    return out


def leaf_from_json(cls: type[T], data: Any) -> T:
    if not isinstance(data, dict):
        raise ValueError(f"{cls.__name__}: expected an object")
    kwargs: dict[str, Any] = {}
    for name, default, expected in _stored(cls):
        if name not in data:
            if default is MISSING:
                raise ValueError(f"{cls.__name__}: missing {name}")
            continue
        value = data[name]
        if type(value) is not str:  # strings (most values) are already what they must be
            value = _tupled(value)
            if not isinstance(value, expected) or not _scalars_ok(value):
                raise ValueError(f"{cls.__name__}.{name}: bad value")
        elif expected is not str:
            raise ValueError(f"{cls.__name__}.{name}: bad value")
        kwargs[name] = value
    return cls(**kwargs)


def _scalars_ok(value: Any) -> bool:
    if isinstance(value, tuple):
        return all(_scalars_ok(v) for v in value)
    return isinstance(value, (str, bool, int, float))


def result_to_json(result: AnalysisResult) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if result.packages:
        out["packages"] = [leaf_to_json(p) for p in result.packages]
    if result.os is not None:
        out["os"] = leaf_to_json(result.os)
    if result.owned_files:
        out["owned_files"] = [[key, list(files)] for key, files in result.owned_files]
    if result.unknowns:
        out["unknowns"] = [leaf_to_json(u) for u in result.unknowns]
    return out


def result_from_json(data: Any) -> AnalysisResult:
    if not isinstance(data, dict):
        raise ValueError("analysis result: expected an object")
    owned = _tupled(data.get("owned_files", []))
    if not isinstance(owned, tuple) or not all(
            isinstance(o, tuple) and len(o) == 2 and isinstance(o[0], str) and isinstance(o[1], tuple)
            and all(isinstance(f, str) for f in o[1]) for o in owned):
        raise ValueError("analysis result: bad owned_files")
    os_data = data.get("os")
    return AnalysisResult(
        packages=tuple(leaf_from_json(Package, p) for p in json_list(data.get("packages", []))),
        os=leaf_from_json(OSInfo, os_data) if os_data is not None else None,
        owned_files=owned,
        unknowns=tuple(leaf_from_json(Unknown, u) for u in json_list(data.get("unknowns", []))),
    )


def json_list(value: Any) -> list[Any]:
    """A JSON array from a cache entry; ValueError otherwise (the entry is then discarded)."""
    if not isinstance(value, list):
        raise ValueError("expected a list")
    return value
