"""A bounded reader for PHP's ``serialize()`` format (as PEAR/PECL registry files store it).

Supported values: ``N;`` null, ``b:0;`` bool, ``i:1;`` int, ``d:1.5;`` float,
``s:3:"abc";`` byte string (decoded as UTF-8 with replacement) and
``a:2:{key;value;...}`` arrays (read as dicts). Objects and references are
refused. Every value consumes input, so time is linear in the input; nesting is
capped at :data:`MAX_DEPTH`. Bad input raises :class:`ParseError`.
"""

from __future__ import annotations

from typing import Any

from layerscan.analyzers.langbase import ParseError

MAX_DEPTH = 64
Scalar = str | int | float | bool | None


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def fail(self, what: str) -> ParseError:
        return ParseError(f"invalid PHP serialized data: {what} at byte {self.pos}")

    def expect(self, token: bytes) -> None:
        if not self.data.startswith(token, self.pos):
            raise self.fail(f"expected {token.decode()!r}")
        self.pos += len(token)

    def until(self, stop: bytes) -> bytes:
        end = self.data.find(stop, self.pos)
        if end < 0:
            raise self.fail(f"missing {stop.decode()!r}")
        text, self.pos = self.data[self.pos:end], end + len(stop)
        return text

    def number(self, stop: bytes) -> int:
        text = self.until(stop)
        if not text.lstrip(b"-").isdigit() or len(text) > 20:
            raise self.fail(f"bad number {text[:20]!r}")
        return int(text)

    def string(self) -> str:
        length = self.number(b":")
        if length < 0 or self.pos + length + 2 > len(self.data):
            raise self.fail(f"string length {length} runs past the end")
        self.expect(b'"')
        text = self.data[self.pos:self.pos + length].decode("utf-8", "replace")
        self.pos += length
        self.expect(b'";')
        return text

    def kind(self) -> bytes:
        """The two-byte type tag of the next value ('s:', 'a:', 'N;', ...)."""
        if self.pos >= len(self.data):
            raise self.fail("unexpected end of data")
        tag = self.data[self.pos:self.pos + 2]
        self.pos += 2
        return tag

    def value(self, depth: int) -> Any:
        if depth > MAX_DEPTH:
            raise self.fail(f"nested deeper than {MAX_DEPTH}")
        kind = self.kind()
        if kind == b"N;":
            return None
        if kind == b"s:":
            return self.string()
        if kind == b"i:":
            return self.number(b";")
        if kind == b"b:":
            return self.number(b";") != 0
        if kind == b"d:":
            return self.float()
        if kind == b"a:":
            return self.array(depth)
        raise self.fail(f"unsupported value type {kind[:1]!r}")

    def key(self) -> str | int:
        kind = self.kind()
        if kind == b"s:":
            return self.string()
        if kind == b"i:":
            return self.number(b";")
        raise self.fail("array key is not a string or integer")

    def float(self) -> float:
        text = self.until(b";")
        try:
            return float(text.decode("ascii"))
        except (UnicodeDecodeError, ValueError):
            raise self.fail(f"bad float {text[:20]!r}") from None

    def array(self, depth: int) -> dict[Scalar, Any]:
        count = self.number(b":")
        self.expect(b"{")
        result: dict[Scalar, Any] = {}
        for _ in range(count):
            key = self.key()  # before the value: Python evaluates an assignment's right side first
            result[key] = self.value(depth + 1)
        self.expect(b"}")
        return result


def loads(data: bytes) -> Any:
    """One serialized value (raises ParseError on anything else, including trailing bytes)."""
    reader = _Reader(data.strip())
    value = reader.value(0)
    if reader.pos != len(reader.data):
        raise reader.fail("trailing data")
    return value
