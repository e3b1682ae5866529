"""The policy: which findings are shown, which are suppressed (and why), and
whether the build fails.

Order (as Trivy users know it): package type -> status -> ignore file -> VEX ->
severity. Two thresholds: ``severities`` is what is shown; ``fail_on`` is what
fails the build (defaults to the shown set; Trivy issue #1875 asks for the
separation). Suppressed findings are kept, with their reason, for reports.

Two gates beyond Trivy narrow what fails the build without hiding anything:
``base_layers`` (findings whose package came from the base image's first N
layers are marked ``base_layer`` and do not fail; Trivy issue #1198) and
``baseline`` (findings already in a previous report are not ``new`` and do not
fail).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field, replace

from layerscan.model import Finding
from layerscan.model.advisory import SEVERITIES, STATUSES
from layerscan.model.package import OS_TYPES
from layerscan.policy.baselayers import in_base_layers
from layerscan.policy.baseline import Baseline
from layerscan.policy.ignorefile import IgnoreRule
from layerscan.policy.vex import SUPPRESSING, VexStatement
from layerscan.errors import UsageError

PKG_TYPES = ("os", "library")


@dataclass(frozen=True)
class PolicyOptions:
    severities: frozenset[str] = frozenset(SEVERITIES)
    fail_on: frozenset[str] | None = None  # None = same as severities
    exit_code: int = 0
    ignore_unfixed: bool = False
    ignore_statuses: frozenset[str] = frozenset()
    pkg_types: frozenset[str] = frozenset(PKG_TYPES)
    ignore_rules: tuple[IgnoreRule, ...] = ()
    vex: tuple[VexStatement, ...] = ()
    exit_on_eol: int = 0
    today: dt.date = field(default_factory=dt.date.today)
    base_layers: int = 0  # the first N filesystem layers are the base image's (not gating)
    baseline: Baseline | None = None  # only findings not in this report gate


@dataclass(frozen=True)
class PolicyResult:
    shown: tuple[Finding, ...]
    suppressed: tuple[Finding, ...]
    failing: tuple[Finding, ...]
    expired_rules: tuple[IgnoreRule, ...]
    eol: bool
    exit_code: int

    @property
    def base_layer_findings(self) -> int:
        return sum(1 for f in self.shown if f.base_layer)

    @property
    def new_findings(self) -> int:
        return sum(1 for f in self.shown if f.new)


def parse_severities(value: str | None, what: str = "--severity") -> frozenset[str] | None:
    if value is None or value == "":
        return None
    items = {s.strip().upper() for s in value.split(",") if s.strip()}
    bad = items - set(SEVERITIES)
    if bad:
        raise UsageError(f"{what}: unknown severity {', '.join(sorted(bad))} (use {','.join(SEVERITIES)})")
    return frozenset(items)


def parse_statuses(value: str | None) -> frozenset[str]:
    items = {s.strip().lower() for s in (value or "").split(",") if s.strip()}
    bad = items - set(STATUSES)
    if bad:
        raise UsageError(f"--ignore-status: unknown status {', '.join(sorted(bad))} (use {','.join(STATUSES)})")
    return frozenset(items)


def parse_pkg_types(value: str | None) -> frozenset[str]:
    items = {s.strip().lower() for s in (value or ",".join(PKG_TYPES)).split(",") if s.strip()}
    bad = items - set(PKG_TYPES)
    if bad:
        raise UsageError(f"--pkg-types: unknown type {', '.join(sorted(bad))} (use os,library)")
    return frozenset(items)


def _kind(finding: Finding) -> str:
    return "os" if finding.package.type in OS_TYPES else "library"


def _status_kept(finding: Finding, opts: PolicyOptions) -> bool:
    if opts.ignore_statuses:
        return finding.status not in opts.ignore_statuses
    if opts.ignore_unfixed:
        return finding.status == "fixed"
    return True


def _suppression(finding: Finding, opts: PolicyOptions, expired: dict[str, IgnoreRule]) -> str:
    for rule in opts.ignore_rules:
        if rule.applies_to(finding):
            if rule.expired(opts.today):
                expired[rule.source] = rule
                continue
            reason = f"ignored by {rule.source}"
            return reason + (f": {rule.reason}" if rule.reason else "")
    for st in opts.vex:
        if st.status in SUPPRESSING and st.applies_to(finding):
            return st.describe()
    return ""


def _mark_gating(finding: Finding, opts: PolicyOptions) -> Finding:
    """The finding with ``base_layer`` / ``new`` set from the two gating options."""
    base = in_base_layers(finding, opts.base_layers)
    new = opts.baseline is not None and not opts.baseline.contains(finding)
    return replace(finding, base_layer=base, new=new) if base or new else finding


def gates(finding: Finding, opts: PolicyOptions) -> bool:
    """Whether a (marked) finding may fail the build: not from the base layers, and new
    when a baseline is given."""
    return not finding.base_layer and (opts.baseline is None or finding.new)


def apply_policy(findings: list[Finding] | tuple[Finding, ...], opts: PolicyOptions,
                 os_eosl: bool = False) -> PolicyResult:
    fail_on = opts.severities if opts.fail_on is None else opts.fail_on
    shown: list[Finding] = []
    suppressed: list[Finding] = []
    failing: list[Finding] = []
    expired: dict[str, IgnoreRule] = {}
    for f in findings:
        if _kind(f) not in opts.pkg_types or not _status_kept(f, opts):
            continue
        why = _suppression(f, opts, expired)
        if why:
            suppressed.append(replace(f, suppressed=why))
            continue
        f = _mark_gating(f, opts)
        if f.severity in opts.severities:
            shown.append(f)
        if f.severity in fail_on and gates(f, opts):
            failing.append(f)
    eol = bool(os_eosl)
    code = 0
    if eol and opts.exit_on_eol:
        code = opts.exit_on_eol
    elif failing and opts.exit_code:
        code = opts.exit_code
    return PolicyResult(tuple(shown), tuple(suppressed), tuple(failing),
                        tuple(expired.values()), eol, code)
