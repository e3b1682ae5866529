"""Readers for the two small text formats found inside Java archives:
``META-INF/MANIFEST.MF`` (JAR manifest) and ``pom.properties`` (Java properties)."""

from __future__ import annotations


def parse_properties(text: str) -> dict[str, str]:
    """Java ``.properties`` subset used by Maven: ``key=value`` / ``key:value``, ``#``/``!`` comments."""
    result: dict[str, str] = {}
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line[0] in "#!":
            continue
        cut = min((i for i in (line.find("="), line.find(":")) if i >= 0), default=-1)
        if cut <= 0:
            continue
        result.setdefault(line[:cut].strip(), line[cut + 1 :].strip())
    return result


def parse_manifest(text: str) -> dict[str, str]:
    """JAR manifest attributes. Continuation lines (leading space) are joined.
    Main-section attributes win; later (per-entry) sections only fill gaps, and
    the first section's ``Name:`` is kept as ``Name``."""
    merged: dict[str, str] = {}
    for section in _sections(text):
        for key, value in section.items():
            merged.setdefault(key, value)
    return merged


def _sections(text: str) -> list[dict[str, str]]:
    sections: list[dict[str, str]] = []
    current: dict[str, str] = {}
    last_key = ""
    for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n"):
        if not line:
            if current:
                sections.append(current)
            current, last_key = {}, ""
        elif line.startswith(" ") and last_key:
            current[last_key] += line[1:]
        elif ":" in line:
            key, _, value = line.partition(":")
            last_key = key.strip()
            current.setdefault(last_key, value.strip())
    if current:
        sections.append(current)
    return sections
