"""One target version per package, from the advisory rows of its own namespace.

1. The rows are grouped by alias group (the database's primary id: CVE ↔ GHSA ↔ PYSEC ↔ DLA
   are one issue). For each wanted issue that affects the installed version, its fix is the
   highest of its records' fixes for the installed version's range branch (``match.ranges``
   gives the end of the interval the version falls in).
2. The target is the highest of those fixes, compared with the package's version scheme.
3. The target is re-checked against every row of the namespace: a row that still affects it
   and has a fix above it moves the target up, until nothing does (bounded).
4. A wanted issue without a fix, or one still affecting the final target, is residue with
   its status (affected, will_not_fix, fix_deferred, ...).

An installed version the scheme cannot read gives no target and a reason, never an error.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Collection, Iterable, Protocol, Sequence

from layerscan.match import ranges
from layerscan.model import Affected
from layerscan.versions import InvalidVersion, VersionScheme

MAX_RECHECKS = 50  # target moves; real data needs a handful
_VERSION_TOKEN = re.compile(r"[0-9][0-9A-Za-z.+~:-]*")


class RowLike(Protocol):  # db.records.AffectedRow (frozen: read-only attributes)
    @property
    def vuln_id(self) -> str: ...

    @property
    def primary_id(self) -> str: ...

    @property
    def affected(self) -> Affected: ...


@dataclass(frozen=True)
class Unfixed:
    vulnerability_id: str
    status: str
    reason: str


@dataclass(frozen=True)
class Target:
    version: str = ""  # "" when nothing fixable (or the installed version does not parse)
    fixes: tuple[str, ...] = ()  # issue ids (alias-group primary ids) the target closes
    advisories: tuple[str, ...] = ()  # records whose fixed version is the target
    moved_up: tuple[str, ...] = ()  # re-check steps: "CVE-x still affects 2.20.0 -> 2.31.0"
    unfixed: tuple[Unfixed, ...] = ()  # wanted issues left open at the target
    reason: str = ""  # why there is no target at all


def issue_id(row: RowLike) -> str:
    return row.primary_id or row.vuln_id


def fix_candidates(fixed: str, scheme: VersionScheme) -> list[str]:
    """The versions a verdict's ``fixed_version`` names: a version, or (npm security-wg)
    patched ranges such as ">= 2.0.3 < 3.0.0 || >= 3.1.1", read as the versions they
    start at that they contain."""
    out: list[str] = []
    for part in (p.strip() for p in fixed.split(", ")):
        if not part:
            continue
        if scheme.valid(part):
            out.append(part)
            continue
        satisfies = getattr(scheme, "satisfies", None)
        for token in _VERSION_TOKEN.findall(part):
            try:
                if scheme.valid(token) and (satisfies is None or satisfies(token, part)):
                    out.append(token)
            except InvalidVersion:
                continue
    return out


def _verdict(row: RowLike, version: str, scheme: VersionScheme) -> ranges.Verdict | None:
    """The row's verdict at ``version``; None when the row's own data does not parse."""
    try:
        return ranges.evaluate(row.affected, version, scheme)
    except InvalidVersion:
        return None


def _branch_fix(verdict: ranges.Verdict, above: Any, scheme: VersionScheme) -> tuple[Any, str] | None:
    """(key, version) of the lowest fix the verdict names above ``above`` (the branch's fix)."""
    keyed = sorted((scheme.key(v), v) for v in fix_candidates(verdict.fixed_version, scheme))
    keyed = [kv for kv in keyed if kv[0] > above]
    return keyed[0] if keyed else None


def _affecting(rows: Iterable[RowLike], version: str, scheme: VersionScheme) -> list[tuple[RowLike, ranges.Verdict]]:
    out = []
    for row in rows:
        verdict = _verdict(row, version, scheme)
        if verdict is not None and verdict.affected:
            out.append((row, verdict))
    return out


def own_rows(rows: Iterable[RowLike], namespace: str) -> list[RowLike]:
    """The rows of the package's own namespace (not Ubuntu Pro's, not another release's)."""
    return [r for r in rows if r.affected.namespace in ("", namespace)]


def choose_target(installed: str, rows: Sequence[RowLike], scheme: VersionScheme,
                  wanted: Collection[str] = ()) -> Target:
    """The target version for a package at ``installed`` (its compared version), given the
    rows of its own namespace; ``wanted``: the issue ids (or any alias row id) to fix — all
    the rows affecting the installed version when empty."""
    try:
        installed_key = scheme.key(installed)
    except InvalidVersion as exc:
        return Target(reason=f"version {installed!r} is not a valid {scheme.name} version ({exc})")
    hits = _affecting(rows, installed, scheme)
    want = set(wanted)
    chosen = [(r, v) for r, v in hits if not want or issue_id(r) in want or r.vuln_id in want]
    best: dict[str, tuple[Any, str, str]] = {}  # issue -> (key, version, record) of its highest branch fix
    status: dict[str, ranges.Verdict] = {}
    for row, verdict in chosen:
        fix = _branch_fix(verdict, installed_key, scheme)
        issue = issue_id(row)
        status.setdefault(issue, verdict)
        if fix is not None and (issue not in best or fix[0] > best[issue][0]):
            best[issue] = (fix[0], fix[1], row.vuln_id)
    unfixed = [Unfixed(i, v.status, v.reason or "no fixed version") for i, v in status.items() if i not in best]
    if not best:
        return Target(unfixed=tuple(sorted(unfixed, key=lambda u: u.vulnerability_id)))
    key, version, _ = max(best.values(), key=lambda b: b[0])
    moved: list[str] = []
    raised_by: set[str] = set()
    for _ in range(MAX_RECHECKS):
        still = _affecting(rows, version, scheme)
        ups = [(fix, row) for row, verdict in still if (fix := _branch_fix(verdict, key, scheme)) is not None]
        if not ups:
            break
        (key, higher), row = max(ups, key=lambda u: u[0][0])
        moved.append(f"{issue_id(row)} still affects {version} -> {higher}")
        version, raised_by = higher, {row.vuln_id}
    left = {issue_id(r) for r, _ in _affecting(rows, version, scheme)}
    fixes = sorted(i for i in best if i not in left)
    unfixed += [Unfixed(i, status[i].status, f"still affects the target {version}: no fix above it")
                for i in sorted(best) if i in left]
    records = sorted(raised_by or {b[2] for b in best.values() if b[1] == version})
    return Target(version, tuple(fixes), tuple(records), tuple(moved),
                  tuple(sorted(unfixed, key=lambda u: u.vulnerability_id)))
