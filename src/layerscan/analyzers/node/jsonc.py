"""JSON with comments and trailing commas (JSONC), as bun writes ``bun.lock``.

Two regex passes turn JSONC into JSON without touching string contents:
comments are dropped, then commas directly before ``}`` or ``]`` are. The
result goes through :func:`~layerscan.analyzers.langbase.load_json_object`, so
bad input becomes a :class:`~layerscan.analyzers.langbase.ParseError`. Both
passes are linear in the input (no backtracking across strings).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from layerscan.analyzers.langbase import decode_text, load_json_object

# A string literal (unrolled, so long strings cost no recursion) or a comment.
_STRING = r'"[^"\\]*(?:\\.[^"\\]*)*"'
_COMMENTS = re.compile(_STRING + r"|//[^\n]*|/\*[^*]*\*+(?:[^/*][^*]*\*+)*/")
_TRAILING_COMMA = re.compile(_STRING + r"|,(?=\s*[}\]])")


def _replacing(other: str) -> Callable[[re.Match[str]], str]:
    def replace(match: re.Match[str]) -> str:
        text = match.group(0)
        return text if text.startswith('"') else other
    return replace


def strip_jsonc(text: str) -> str:
    """JSONC text -> JSON text: comments become a space, trailing commas go."""
    return _TRAILING_COMMA.sub(_replacing(""), _COMMENTS.sub(_replacing(" "), text))


def load_jsonc_object(data: bytes) -> dict[str, Any]:
    """Parse JSONC bytes to a top-level object (raises ParseError on bad input)."""
    return load_json_object(strip_jsonc(decode_text(data)).encode())
