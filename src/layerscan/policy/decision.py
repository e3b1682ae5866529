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

Two gates close silent passes (issue #15). ``fail_on_kev``: a KEV-listed finding
fails the build whatever its severity or status, and is shown even when
``--severity``, ``--ignore-unfixed`` or ``--ignore-status`` would hide it (a gate
must not pass on a known-exploited vulnerability it did not show); only a
suppression that names the finding (ignore file, VEX) exempts it, and the
base-layer and baseline gates apply to it as to any finding.
``fail_on_unscanned_os``: the build fails when the OS packages could not be
checked (the database has no advisories for the distribution). Both fail with
``exit_code``, or 1 when that is 0: asking for a gate is asking to fail.
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
    fail_on_kev: bool = False  # KEV-listed findings are shown and fail, whatever severity/status filters say
    fail_on_unscanned_os: bool = False  # OS packages the database has no data for fail the build


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


def _kev_gated(finding: Finding, opts: PolicyOptions) -> bool:
    """--fail-on-kev overrides the severity and status filters for KEV-listed findings."""
    return opts.fail_on_kev and finding.kev


def _status_kept(finding: Finding, opts: PolicyOptions) -> bool:
    if _kev_gated(finding, opts):
        return True
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


def gate_exit_code(opts: PolicyOptions) -> int:
    """The code an explicitly requested gate (KEV, unscanned OS) fails with: --exit-code, else 1."""
    return opts.exit_code or 1


def _exit_code(failing: list[Finding], opts: PolicyOptions, eol: bool, unscanned_os: bool) -> int:
    if eol and opts.exit_on_eol:
        return opts.exit_on_eol
    if failing and opts.exit_code:
        return opts.exit_code
    if any(_kev_gated(f, opts) for f in failing):
        return gate_exit_code(opts)
    if unscanned_os and opts.fail_on_unscanned_os:
        return gate_exit_code(opts)
    return 0


def apply_policy(findings: list[Finding] | tuple[Finding, ...], opts: PolicyOptions,
                 end_of_life: bool = False, unscanned_os: bool = False) -> PolicyResult:
    """``end_of_life``: the OS, or with --exit-on-eol a runtime, is end of life;
    ``unscanned_os``: the SBOM has OS packages that no advisory data could check."""
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
        kev = _kev_gated(f, opts)
        if f.severity in opts.severities or kev:
            shown.append(f)
        if (f.severity in fail_on or kev) and gates(f, opts):
            failing.append(f)
    eol = bool(end_of_life)
    code = _exit_code(failing, opts, eol, unscanned_os)
    return PolicyResult(tuple(shown), tuple(suppressed), tuple(failing),
                        tuple(expired.values()), eol, code)
