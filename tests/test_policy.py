"""Policy: filters, ignore files (with expiry), VEX, fail threshold and exit codes."""

from __future__ import annotations

import datetime as dt
import itertools
import json

import pytest

from layerscan.errors import UsageError
from layerscan.model import Finding, MatchDetail, Package
from layerscan.policy import PolicyOptions, apply_policy
from layerscan.policy.decision import parse_pkg_types, parse_severities, parse_statuses
from layerscan.policy.ignorefile import parse_ignorefile
from layerscan.policy.vex import parse_vex

TODAY = dt.date(2026, 11, 26)


def finding(vid: str, severity: str, status: str = "fixed", ptype: str = "pypi",
            name: str = "urllib3", version: str = "1.24.1", aliases: tuple[str, ...] = ()) -> Finding:
    purl = f"pkg:{ptype}/{name}@{version}" if ptype != "deb" else f"pkg:deb/debian/{name}@{version}"
    pkg = Package(name=name, version=version, type=ptype, purl=purl, file_path=f"usr/lib/{name}/METADATA")
    return Finding(package=pkg, vulnerability_id=vid, aliases=aliases, severity=severity, status=status,
                   fixed_version="9.9" if status == "fixed" else "",
                   match=MatchDetail("PyPI", vid, name, "introduced 0, fixed 9.9", "osv"))


FINDINGS = [
    finding("CVE-2021-0001", "CRITICAL"),
    finding("CVE-2021-0002", "HIGH", status="affected"),
    finding("CVE-2021-0003", "MEDIUM"),
    finding("CVE-2021-0004", "LOW", status="will_not_fix", ptype="deb", name="openssl", version="1.1.1n-0"),
    finding("CVE-2021-0005", "CRITICAL", ptype="deb", name="glibc", version="2.36-9",
            aliases=("DSA-5000-1",)),
]


def ids(fs):
    return sorted(f.vulnerability_id for f in fs)


def test_severity_filter_defines_shown_and_failing():
    res = apply_policy(FINDINGS, PolicyOptions(severities=frozenset({"CRITICAL"}), exit_code=1, today=TODAY))
    assert ids(res.shown) == ["CVE-2021-0001", "CVE-2021-0005"]
    assert res.exit_code == 1


def test_fail_on_is_separate_from_shown():
    res = apply_policy(FINDINGS, PolicyOptions(fail_on=frozenset({"LOW"}), exit_code=4, today=TODAY))
    assert len(res.shown) == 5
    assert ids(res.failing) == ["CVE-2021-0004"]
    assert res.exit_code == 4
    res = apply_policy(FINDINGS[:3], PolicyOptions(fail_on=frozenset({"LOW"}), exit_code=4, today=TODAY))
    assert res.exit_code == 0 and len(res.shown) == 3


def test_ignore_unfixed_and_ignore_status():
    res = apply_policy(FINDINGS, PolicyOptions(ignore_unfixed=True, today=TODAY))
    assert ids(res.shown) == ["CVE-2021-0001", "CVE-2021-0003", "CVE-2021-0005"]
    # --ignore-status wins over --ignore-unfixed (Trivy semantics)
    res = apply_policy(FINDINGS, PolicyOptions(ignore_unfixed=True, ignore_statuses=frozenset({"will_not_fix"}),
                                               today=TODAY))
    assert "CVE-2021-0002" in ids(res.shown) and "CVE-2021-0004" not in ids(res.shown)


def test_pkg_types():
    assert ids(apply_policy(FINDINGS, PolicyOptions(pkg_types=frozenset({"os"}), today=TODAY)).shown) == [
        "CVE-2021-0004", "CVE-2021-0005"]
    assert len(apply_policy(FINDINGS, PolicyOptions(pkg_types=frozenset({"library"}), today=TODAY)).shown) == 3


def test_yaml_ignorefile_with_expiry_purl_and_alias():
    rules = parse_ignorefile("""
- id: CVE-2021-0001
  reason: not reachable
  expires: 2027-01-01
- id: CVE-2021-0003
  expires: 2026-01-01
  reason: was waiting for upstream
- id: DSA-5000-1
  purl: pkg:deb/debian/glibc
""", ".layerscanignore")
    res = apply_policy(FINDINGS, PolicyOptions(ignore_rules=tuple(rules), exit_code=1, today=TODAY))
    assert ids(res.suppressed) == ["CVE-2021-0001", "CVE-2021-0005"]
    assert "not reachable" in next(f.suppressed for f in res.suppressed if f.vulnerability_id == "CVE-2021-0001")
    assert [r.id for r in res.expired_rules] == ["CVE-2021-0003"]
    assert "CVE-2021-0003" in ids(res.shown)


def test_trivyignore_text_and_yaml_forms():
    rules = parse_ignorefile("# comment\nCVE-2021-0002\nCVE-2021-0003 exp:2020-01-01\n", ".trivyignore")
    assert [(r.id, r.expires) for r in rules] == [("CVE-2021-0002", None), ("CVE-2021-0003", dt.date(2020, 1, 1))]
    rules = parse_ignorefile("vulnerabilities:\n  - id: CVE-2021-0002\n    statement: accepted\n"
                             "    expired_at: 2030-01-02\n", ".trivyignore.yaml")
    assert rules[0].reason == "accepted" and rules[0].expires == dt.date(2030, 1, 2)


def test_bad_ignorefile_is_a_usage_error():
    with pytest.raises(UsageError):
        parse_ignorefile("- id: CVE-1\n  expires: someday\n")
    with pytest.raises(UsageError):
        parse_ignorefile("- [unclosed\n")


def test_openvex_and_cyclonedx_vex():
    openvex = {"@context": "https://openvex.dev/ns/v0.2.0", "statements": [
        {"vulnerability": {"name": "CVE-2021-0002"}, "products": [{"@id": "pkg:pypi/urllib3@1.24.1"}],
         "status": "not_affected", "justification": "vulnerable_code_not_in_execute_path"},
        {"vulnerability": {"name": "CVE-2021-0003"}, "products": [{"@id": "pkg:pypi/other@1.0"}],
         "status": "not_affected"}]}
    st = parse_vex(json.dumps(openvex).encode(), "app.openvex.json")
    res = apply_policy(FINDINGS, PolicyOptions(vex=tuple(st), today=TODAY))
    assert ids(res.suppressed) == ["CVE-2021-0002"]
    assert "vulnerable_code_not_in_execute_path" in res.suppressed[0].suppressed
    cdx = {"bomFormat": "CycloneDX", "specVersion": "1.6",
           "components": [{"bom-ref": "c1", "purl": "pkg:deb/debian/glibc@2.36-9", "name": "glibc"}],
           "vulnerabilities": [{"id": "CVE-2021-0005", "analysis": {"state": "resolved"}, "affects": [{"ref": "c1"}]},
                               {"id": "CVE-2021-0001", "analysis": {"state": "exploitable"}}]}
    res = apply_policy(FINDINGS, PolicyOptions(vex=tuple(parse_vex(json.dumps(cdx).encode())), today=TODAY))
    assert ids(res.suppressed) == ["CVE-2021-0005"]
    with pytest.raises(UsageError):
        parse_vex(b"{not json")


@pytest.mark.parametrize("severity,fail_on,unfixed,ignore,vex,eol", list(itertools.product(
    ["CRITICAL", "LOW,MEDIUM"], [None, "CRITICAL"], [False, True], [False, True], [False, True], [False, True])))
def test_exit_code_matrix(severity, fail_on, unfixed, ignore, vex, eol):
    rules = tuple(parse_ignorefile("- id: CVE-2021-0001\n- id: CVE-2021-0005\n")) if ignore else ()
    vexst = tuple(parse_vex(json.dumps({"statements": [
        {"vulnerability": "CVE-2021-0003", "status": "fixed", "products": []}]}).encode())) if vex else ()
    opts = PolicyOptions(severities=parse_severities(severity), fail_on=parse_severities(fail_on, "--fail-on"),
                         exit_code=1, ignore_unfixed=unfixed, ignore_rules=rules, vex=vexst, exit_on_eol=5,
                         today=TODAY)
    res = apply_policy(FINDINGS, opts, end_of_life=eol)
    # independent oracle over the same findings
    fail_set = set((fail_on or severity).split(","))
    suppressed = ({"CVE-2021-0001", "CVE-2021-0005"} if ignore else set()) | ({"CVE-2021-0003"} if vex else set())
    failing = [f for f in FINDINGS
               if f.severity in fail_set and f.vulnerability_id not in suppressed
               and (not unfixed or f.status == "fixed")]
    expected = 5 if eol else (1 if failing else 0)
    assert res.exit_code == expected
    assert ids(res.failing) == ids(failing)


def test_parsers_reject_unknown_values():
    with pytest.raises(UsageError):
        parse_severities("SEVERE")
    with pytest.raises(UsageError):
        parse_statuses("broken")
    with pytest.raises(UsageError):
        parse_pkg_types("os,apps")
