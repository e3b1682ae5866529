"""JUnit XML (-f junit, and -f template -t @junit.tpl): Trivy's junit.tpl shape, one suite per
result, one failing case per shown finding; hostile strings stay text."""

from __future__ import annotations

import io
import json
import xml.etree.ElementTree as ET

from demo_cli import demo_work, scan
from fixtures.report.hostile import DESCRIPTION, ESC, NAME, TITLE, hostile_report
from fixtures.report.sample import sample_report

from layerscan.report import get_writer, junit
from layerscan.report.text import multi_line, one_line


def _xml(report) -> str:
    buf = io.StringIO()
    get_writer("junit")(report, buf)
    return buf.getvalue()


def test_one_suite_per_result_one_case_per_finding():
    report = sample_report()
    text = _xml(report)
    assert text.startswith('<?xml version="1.0" encoding="UTF-8"?>\n')
    root = ET.fromstring(text)
    assert root.tag == "testsuites" and root.get("name") == "layerscan"
    assert root.get("tests") == root.get("failures") == str(len(report.findings))
    suites = root.findall("testsuite")
    assert [s.get("name") for s in suites] == [r.target for r in report.results]
    for suite, result in zip(suites, report.results):
        count = str(len(result.findings))
        assert (suite.get("tests"), suite.get("failures"), suite.get("errors"), suite.get("skipped")) == \
            (count, count, "0", "0")
        assert suite.find("properties/property[@name='type']").get("value") == result.type
        cases = suite.findall("testcase")
        assert len(cases) == len(result.findings)
        for case, f in zip(cases, result.findings):
            assert case.get("classname") == f"{f.package.name}-{f.package.version}"
            assert case.get("name") == f"[{f.severity}] {f.vulnerability_id}"
            failure = case.find("failure")
            assert failure.get("message") == f.title and failure.get("type") == "description"
            assert (failure.text or "") == f.description


def test_suppressed_findings_are_not_failures():
    report = sample_report()
    root = ET.fromstring(_xml(report))
    names = {c.get("name") for c in root.iter("testcase")}
    assert report.suppressed and not any(f.vulnerability_id in n for f in report.suppressed for n in names)


def test_sbom_only_report_has_empty_suites():
    root = ET.fromstring(_xml(sample_report(scanned=False)))
    assert root.get("tests") == "0" and not list(root.iter("testcase"))


def test_hostile_strings_stay_text():
    text = _xml(hostile_report())
    assert ESC[0] not in text and "\x00" not in text and "\u202e" not in text and "\ud800" not in text
    root = ET.fromstring(text)  # well-formed
    assert [e.tag for e in root.iter()] == ["testsuites", "testsuite", "properties", "property",
                                            "testcase", "failure"]
    case = root.find("testsuite/testcase")
    assert case.get("classname").startswith(one_line(NAME))
    failure = case.find("failure")
    assert failure.get("message") == one_line(TITLE)
    assert failure.text == multi_line(DESCRIPTION)
    assert "</testcase>" in failure.text  # kept as text, escaped in the file
    assert root.find("testsuite").get("name") == one_line(hostile_report().results[0].target)


def test_writer_is_registered():
    assert get_writer("junit") is junit.write


def test_cli_junit_on_demo_image(demo_work):
    vulns = json.loads(scan(demo_work, "-f", "json").stdout)
    expected = sum(len(r.get("Vulnerabilities") or []) for r in vulns["Results"])
    for args in (("-f", "junit"), ("-f", "template", "-t", "@contrib/junit.tpl")):
        root = ET.fromstring(scan(demo_work, *args).stdout)
        cases = list(root.iter("testcase"))
        assert expected > 0 and len(cases) == expected == int(root.get("tests"))
        assert all(c.find("failure") is not None for c in cases)
