"""deb822 control-file stanzas (dpkg/opkg ``status``), tolerant of damage.

A stanza is a run of ``Field: value`` lines ended by a blank line; lines that
start with a space or tab continue the previous field. CRLF line ends are
accepted. Lines that fit neither shape are reported as problems of their
stanza, and the rest of the stanza is kept.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

MAX_PROBLEMS_PER_STANZA = 5


@dataclass(frozen=True)
class Stanza:
    line: int  # 1-based line of the stanza's first line
    fields: Mapping[str, str] = field(hash=False)  # lower-cased field name -> value
    problems: tuple[str, ...] = ()

    def get(self, name: str) -> str:
        return self.fields.get(name.lower(), "")


class _Builder:
    def __init__(self, line: int) -> None:
        self.line = line
        self.fields: dict[str, list[str]] = {}  # joined by build(): += on a long value is quadratic
        self.last = ""
        self.problems: list[str] = []

    def problem(self, text: str) -> None:
        if len(self.problems) < MAX_PROBLEMS_PER_STANZA:
            self.problems.append(text)

    def add(self, lineno: int, line: str) -> None:
        if line[0] in " \t":
            if self.last:
                self.fields[self.last].append(line.strip())
            else:
                self.problem(f"line {lineno}: continuation line without a field")
            return
        name, sep, value = line.partition(":")
        name = name.strip()
        if not sep or not name or any(c.isspace() for c in name):
            self.problem(f"line {lineno}: not a 'Field: value' line")
            self.last = ""
            return
        self.last = name.lower()
        self.fields[self.last] = [value.strip()]

    def build(self) -> Stanza:
        fields = {name: "\n".join(parts) for name, parts in self.fields.items()}
        return Stanza(line=self.line, fields=fields, problems=tuple(self.problems))


def iter_stanzas(data: bytes) -> Iterator[Stanza]:
    """Stanzas in file order; undecodable bytes are replaced, never fatal."""
    builder: _Builder | None = None
    for index, raw in enumerate(data.split(b"\n"), start=1):
        line = raw.rstrip(b"\r").decode("utf-8", errors="replace")
        if not line.strip():
            if builder is not None:
                yield builder.build()
                builder = None
            continue
        if line.startswith("#") and builder is None:
            continue
        if builder is None:
            builder = _Builder(index)
        builder.add(index, line)
    if builder is not None:
        yield builder.build()
