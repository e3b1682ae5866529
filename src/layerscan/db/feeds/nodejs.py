"""nodejs/security-wg advisories in their native format (``vuln/npm/<n>.json``,
``vuln/core/<n>.json``).

npm advisories carry npm semver range strings (``vulnerable_versions``,
``patched_versions``). A range made only of simple clauses (``<X``, ``<=X``,
``>=A <B``, ``>=A <=B``, ``>=A``, ``*``, an exact version) joined by ``||`` is
converted to SEMVER events. Anything else is stored as a range of type
``NPM_RANGE`` whose events are ``("vulnerable", <range>)`` and
``("patched", <range>)``: the matcher evaluates them with ``versions.npm``
(vulnerable = satisfies(vulnerable) and not satisfies(patched)).

Node.js core advisories go to namespace ``nodejs`` (package ``node``), ids
``NSWG-COR-<n>``; npm ones to ``npm``, ids ``NSWG-ECO-<n>`` (the security-wg's own naming).
"""

from __future__ import annotations

import re
from pathlib import PurePosixPath
from typing import Any, Iterator

from layerscan.db.feeds.base import Feed, ParseStats
from layerscan.db.feeds.common import normalise_severity, str_list, text, valid_id
from layerscan.db.feeds.members import Member
from layerscan.db.feeds.osv import cvss_from_vector
from layerscan.errors import FeedError
from layerscan.model import Advisory, Affected, Range, Severity

NPM_RANGE = "NPM_RANGE"
CORE_NAMESPACE = "nodejs"
CORE_PACKAGE = "node"
_VERSION = r"v?(\d+\.\d+\.\d+(?:-[0-9A-Za-z.-]+)?)"
_CLAUSES: tuple[tuple[re.Pattern[str], Any], ...] = (
    (re.compile(r"^\*$|^>=\s*0\.0\.0$"), lambda m: (("introduced", "0"),)),
    (re.compile(rf"^<\s*{_VERSION}$"), lambda m: (("introduced", "0"), ("fixed", m.group(1)))),
    (re.compile(rf"^<=\s*{_VERSION}$"), lambda m: (("introduced", "0"), ("last_affected", m.group(1)))),
    (re.compile(rf"^>=\s*{_VERSION}$"), lambda m: (("introduced", m.group(1)),)),
    (re.compile(rf"^>=\s*{_VERSION}\s+<\s*{_VERSION}$"),
     lambda m: (("introduced", m.group(1)), ("fixed", m.group(2)))),
    (re.compile(rf"^>=\s*{_VERSION}\s+<=\s*{_VERSION}$"),
     lambda m: (("introduced", m.group(1)), ("last_affected", m.group(2)))),
)
_EXACT = re.compile(rf"^=?\s*{_VERSION}$")
_NO_PATCH = ("", "<0.0.0", "*")  # "<0.0.0": no patched release


def npm_range_to_affected(vulnerable: str, patched: str) -> tuple[tuple[Range, ...], tuple[str, ...]]:
    """(ranges, explicit versions) for an npm vulnerable/patched pair."""
    events: list[tuple[str, str]] = []
    versions: list[str] = []
    for clause in (c.strip() for c in vulnerable.split("||")):
        if m := _EXACT.match(clause):
            versions.append(m.group(1))
            continue
        for pattern, build in _CLAUSES:
            if m := pattern.match(clause):
                events.extend(build(m))
                break
        else:
            raw = (("vulnerable", vulnerable),) + ((("patched", patched),) if patched else ())
            return (Range(type=NPM_RANGE, events=raw),), ()
    return ((Range(type="SEMVER", events=tuple(events)),) if events else ()), tuple(versions)


def _fixed(patched: str) -> str:
    return "" if patched.strip() in _NO_PATCH else patched.strip()


def _common(doc: dict[str, Any], vuln_id: str, cves: tuple[str, ...]) -> dict[str, Any]:
    return {
        "id": vuln_id, "source": NodejsFeed.name,
        "aliases": tuple(c for c in cves if valid_id(c)),
        "references": str_list(doc.get("references")) or str_list([doc.get("ref")]),
    }


def npm_advisory(doc: dict[str, Any], number: str) -> Advisory:
    module, vulnerable = doc.get("module_name"), doc.get("vulnerable_versions")
    if not isinstance(module, str) or not module or not isinstance(vulnerable, str):
        raise FeedError("npm advisory needs module_name and vulnerable_versions")
    raw_patched = doc.get("patched_versions")
    patched = raw_patched if isinstance(raw_patched, str) else ""
    ranges, versions = npm_range_to_affected(vulnerable, patched)
    vector = doc.get("cvss_vector")
    score = doc.get("cvss_score")
    numeric = float(score) if isinstance(score, (int, float)) else None
    cvss = cvss_from_vector(vector, "nodejs-security-wg", numeric) if isinstance(vector, str) else None
    return Advisory(
        **_common(doc, f"NSWG-ECO-{number}", str_list(doc.get("cves"))),
        summary=text(doc.get("title"), 2000), details=text(doc.get("overview")),
        cvss=(cvss,) if cvss else (),
        published=text(doc.get("publish_date"), 64), modified=text(doc.get("updated_at"), 64),
        affected=(Affected(namespace="npm", package=module, ranges=ranges, versions=versions,
                           fixed_version=_fixed(patched)),),
    )


def core_advisory(doc: dict[str, Any], number: str) -> Advisory:
    vulnerable = doc.get("vulnerable")
    if not isinstance(vulnerable, str) or not vulnerable:
        raise FeedError("core advisory needs 'vulnerable'")
    raw_patched = doc.get("patched")
    patched = raw_patched if isinstance(raw_patched, str) else ""
    level = normalise_severity(doc.get("severity"))
    raw = (("vulnerable", vulnerable),) + ((("patched", patched),) if patched else ())
    return Advisory(
        **_common(doc, f"NSWG-COR-{number}", str_list(doc.get("cve"))),
        summary=text(doc.get("description"), 2000), details=text(doc.get("overview")),
        severities=(Severity(source="nodejs-security-wg", level=level),) if level else (),
        affected=(Affected(namespace=CORE_NAMESPACE, package=CORE_PACKAGE,
                           ranges=(Range(type=NPM_RANGE, events=raw),), fixed_version=_fixed(patched),
                           severity=level),),
    )


def kind_of(name: str) -> str:
    """'npm' / 'core' from a member path like 'vuln/npm/12.json'; '' otherwise."""
    parts = PurePosixPath(name).parts
    if len(parts) >= 2 and parts[-2] in ("npm", "core") and parts[-1].endswith(".json"):
        return parts[-2]
    return ""


class NodejsFeed(Feed):
    name = "nodejs-security-wg"

    def accepts(self, member: Member, doc: object) -> bool:
        return bool(kind_of(member.name)) and PurePosixPath(member.name).stem.isdigit() and isinstance(doc, dict)

    def add(self, member: Member, doc: object, stats: ParseStats) -> Iterator[Advisory]:
        stats.records += 1
        number = PurePosixPath(member.name).stem
        try:
            assert isinstance(doc, dict)
            yield npm_advisory(doc, number) if kind_of(member.name) == "npm" else core_advisory(doc, number)
        except FeedError as exc:
            stats.skip(f"{member.name}: {exc}")
