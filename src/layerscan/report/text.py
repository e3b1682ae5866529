"""Image content made safe for line- and markup-based formats (JUnit XML, SPDX
tag-value): control, C1 and bidi characters become "?" (``document.printable``),
and characters no XML 1.0 document or UTF-8 stream can hold (lone surrogates,
U+FFFE, U+FFFF) become "?" too. JSON writers need none of this: their encoder
escapes control characters."""

from __future__ import annotations

import re

from layerscan.report.document import printable

_UNENCODABLE = re.compile("[\ud800-\udfff\ufffe\uffff]")


def encodable(text: str) -> str:
    """``text`` with lone surrogates (and U+FFFE/U+FFFF) as "?": writable to any UTF-8 stream."""
    return _UNENCODABLE.sub("?", text)


def one_line(text: str) -> str:
    """``text`` on one line: whitespace runs collapsed, unsafe characters as "?"."""
    return encodable(printable(" ".join(text.split())))


def multi_line(text: str) -> str:
    """``text`` keeping its line breaks ("\\r\\n" and "\\r" become "\\n"), unsafe characters as "?"."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    return "\n".join(encodable(printable(line)) for line in lines)
