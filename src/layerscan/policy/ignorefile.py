"""Ignore files: which findings a team has decided to accept, why, and until when.

Accepted forms (auto-detected):
- YAML (``.layerscanignore``): a list, or ``{ignore: [...]}``, of entries
  ``{id, purl?, path?, reason?, expires?}``; ``purls``/``paths`` lists also work.
- Trivy's ``.trivyignore.yaml``: ``{vulnerabilities: [{id, purls, paths, statement, expired_at}]}``.
- Plain text (``.trivyignore``): one ID a line, ``#`` comments, optional ``exp:YYYY-MM-DD``.

An entry past its expiry date stops suppressing and is reported as expired.
"""

from __future__ import annotations

import datetime as dt
import fnmatch
import re
from dataclasses import dataclass
from pathlib import Path

from layerscan.errors import UsageError, InputNotFoundError
from layerscan.model import Finding
from layerscan.textload import LoadError, parse_yaml

MAX_IGNOREFILE = 8 * 1024 * 1024


@dataclass(frozen=True)
class IgnoreRule:
    id: str
    purls: tuple[str, ...] = ()
    paths: tuple[str, ...] = ()
    reason: str = ""
    expires: dt.date | None = None
    source: str = ""  # "FILE:LINE" or "FILE[#N]"

    def expired(self, today: dt.date) -> bool:
        return self.expires is not None and today > self.expires

    def applies_to(self, finding: Finding) -> bool:
        ids = {finding.vulnerability_id.upper(), *(a.upper() for a in finding.aliases)}
        if self.id.upper() not in ids:
            return False
        pkg = finding.package
        if self.purls and not any(_purl_matches(p, pkg.purl) for p in self.purls):
            return False
        if self.paths and not any(fnmatch.fnmatch(pkg.file_path, p) for p in self.paths):
            return False
        return True


def _purl_matches(rule_purl: str, purl: str) -> bool:
    """A rule purl without a version matches every version of that package."""
    if not purl:
        return False
    if "@" in rule_purl:
        return purl.split("?", 1)[0] == rule_purl.split("?", 1)[0]
    return purl.split("@", 1)[0] == rule_purl.split("?", 1)[0]


def _date(value: object, where: str) -> dt.date | None:
    if value in (None, ""):
        return None
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value).strip()[:10])
    except ValueError:
        raise UsageError(f"{where}: invalid expiry date {value!r} (use YYYY-MM-DD)") from None


def _strs(value: object) -> tuple[str, ...]:
    if value in (None, ""):
        return ()
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list):
        return tuple(str(v) for v in value if v not in (None, ""))
    return (str(value),)


def _yaml_entries(doc: object) -> list | None:
    if isinstance(doc, list):
        return doc
    if isinstance(doc, dict):
        for key in ("ignore", "vulnerabilities", "ignores"):
            if isinstance(doc.get(key), list):
                return doc[key]
    return None


def _rule_from_mapping(entry: dict, where: str) -> IgnoreRule:
    vid = entry.get("id") or entry.get("vulnerability")
    if not vid or not isinstance(vid, str):
        raise UsageError(f"{where}: ignore entry without an 'id'")
    return IgnoreRule(
        id=vid.strip(),
        purls=_strs(entry.get("purl")) + _strs(entry.get("purls")),
        paths=_strs(entry.get("path")) + _strs(entry.get("paths")),
        reason=str(entry.get("reason") or entry.get("statement") or ""),
        expires=_date(entry.get("expires", entry.get("expired_at", entry.get("exp"))), where),
        source=where,
    )


_EXP = re.compile(r"\bexp:(\S+)")


def _text_rules(text: str, name: str) -> list[IgnoreRule]:
    rules = []
    for lineno, line in enumerate(text.splitlines(), 1):
        body = line.split("#", 1)[0].strip()
        if not body:
            continue
        where = f"{name}:{lineno}"
        m = _EXP.search(body)
        expires = _date(m.group(1), where) if m else None
        vid = body.split()[0]
        reason = line.split("#", 1)[1].strip() if "#" in line else ""
        rules.append(IgnoreRule(id=vid, expires=expires, reason=reason, source=where))
    return rules


def parse_ignorefile(text: str, name: str = "ignorefile") -> list[IgnoreRule]:
    stripped = text.lstrip()
    looks_yaml = stripped.startswith(("-", "{", "[")) or re.match(r"^[A-Za-z_-]+:\s*$", stripped.split("\n", 1)[0])
    if looks_yaml:
        try:
            doc = parse_yaml(text)
        except LoadError as exc:
            raise UsageError(f"{name}: not valid YAML: {exc.detail}".splitlines()[0]) from None
        entries = _yaml_entries(doc)
        if entries is None:
            raise UsageError(f"{name}: expected a list of ignore entries or an 'ignore:' / 'vulnerabilities:' list")
        rules = []
        for i, entry in enumerate(entries):
            where = f"{name}[{i}]"
            if isinstance(entry, str):
                rules.extend(_text_rules(entry, where))
            elif isinstance(entry, dict):
                rules.append(_rule_from_mapping(entry, where))
            else:
                raise UsageError(f"{where}: ignore entry must be a mapping or an ID")
        return rules
    return _text_rules(text, name)


def load_ignorefile(path: str | Path, required: bool) -> list[IgnoreRule]:
    p = Path(path)
    if not p.is_file():
        if required:
            raise InputNotFoundError("ignore file", p)
        return []
    if p.stat().st_size > MAX_IGNOREFILE:
        raise UsageError(f"ignore file {p} is larger than {MAX_IGNOREFILE // (1024 * 1024)} MiB")
    return parse_ignorefile(p.read_text(encoding="utf-8", errors="replace"), p.name)
