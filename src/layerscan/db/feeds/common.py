"""Small helpers shared by the feed importers: decoding and value normalisation."""

from __future__ import annotations

import re
from typing import Any

from layerscan.errors import FeedError
from layerscan.textload import LoadError, parse_json, parse_yaml

CVE_RE = re.compile(r"CVE-\d{4}-\d{4,}")
_ID_RE = re.compile(r"^[A-Za-z][A-Za-z0-9._:+-]{1,120}$")

# vendor words -> our SEVERITIES
_SEVERITY_WORDS = {
    "critical": "CRITICAL",
    "high": "HIGH",
    "important": "HIGH",
    "moderate": "MEDIUM",
    "medium": "MEDIUM",
    "low": "LOW",
    "negligible": "LOW",
    "unimportant": "LOW",
    "none": "UNKNOWN",
    "unknown": "UNKNOWN",
    "not yet assigned": "UNKNOWN",
}


def load_json(data: bytes, name: str) -> Any:
    try:
        return parse_json(data)
    except LoadError as exc:
        raise FeedError(f"{name}: invalid JSON ({exc.kind})") from exc


def _reject_shared_nodes(doc: Any, name: str) -> None:
    """YAML aliases make one node appear many times ("billion laughs"): walking such a
    document could take exponential time, and no feed needs them, so refuse them."""
    seen: set[int] = set()
    stack = [doc]
    while stack:
        node = stack.pop()
        if isinstance(node, (dict, list)):
            if id(node) in seen:
                raise FeedError(f"{name}: YAML aliases are not accepted in feed data")
            seen.add(id(node))
            stack.extend(node.values() if isinstance(node, dict) else node)


def load_yaml(data: bytes, name: str) -> Any:
    """YAML with every scalar kept as a string (versions must not become floats)."""
    try:
        doc = parse_yaml(data, strings_only=True)
    except LoadError as exc:
        raise FeedError(f"{name}: invalid YAML ({exc.kind})") from exc
    _reject_shared_nodes(doc, name)
    return doc


def normalise_severity(word: object) -> str:
    """'HIGH', 'moderate', 'Important', 'high**' -> one of SEVERITIES; '' if not a severity."""
    if not isinstance(word, str):
        return ""
    return _SEVERITY_WORDS.get(word.strip().strip("*").lower(), "")


def valid_id(value: object) -> bool:
    return isinstance(value, str) and bool(_ID_RE.match(value))


def str_list(value: object) -> tuple[str, ...]:
    """A list of non-empty strings; anything else yields ()."""
    if not isinstance(value, list):
        return ()
    return tuple(v.strip() for v in value if isinstance(v, str) and v.strip())


def text(value: object, limit: int = 100_000) -> str:
    return value[:limit] if isinstance(value, str) else ""


def id_prefix(vuln_id: str) -> str:
    """'CVE-2021-1' -> 'CVE', 'GHSA-xxxx' -> 'GHSA', 'ALSA-2025:1' -> 'ALSA'."""
    return re.split(r"[-:]", vuln_id, maxsplit=1)[0].upper()


def front_matter(data: bytes, name: str) -> Any:
    """The YAML front matter of a Markdown page ("---" ... "---"), or None."""
    if not data.startswith(b"---"):
        return None
    end = data.find(b"\n---", 3)
    if end < 0:
        raise FeedError(f"{name}: unterminated front matter")
    return load_yaml(data[3:end], name)


def decode_member(member: Any) -> Any:
    """Decode a feed member by its name: JSON, YAML, Markdown front matter; None for
    anything else (text formats: DSA lists, CSV). Raises FeedError when malformed."""
    name = member.name.lower()
    if name.endswith(".json"):
        return load_json(member.data, member.name)
    if name.endswith((".yaml", ".yml")):
        return load_yaml(member.data, member.name)
    if name.endswith(".md"):
        return front_matter(member.data, member.name)
    return None
