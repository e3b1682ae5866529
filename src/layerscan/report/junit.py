"""JUnit XML in the shape of Trivy's bundled ``junit.tpl``: one <testsuite> per
result (target) with its type as a property, one failing <testcase> per shown
finding (classname "name-version", name "[SEVERITY] ID", the title as the
failure message and the description as its text). Suppressed findings are not
listed. Text goes through ElementTree (escaped) after ``report.text`` replaced
the characters XML cannot hold; ``time`` is "0" (not empty) so parsers that read
it as a number accept it."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import TextIO

from layerscan.model import Finding
from layerscan.report.document import Result, ScanReport
from layerscan.report.text import multi_line, one_line

SUITES_NAME = "layerscan"


def testcase(f: Finding) -> ET.Element:
    p = f.package
    case = ET.Element("testcase", {"classname": one_line(f"{p.name}-{p.version}"),
                                   "name": one_line(f"[{f.severity or 'UNKNOWN'}] {f.vulnerability_id}"),
                                   "time": "0"})
    message = f.title or f"{f.vulnerability_id} in {p.name} {p.version}"
    failure = ET.SubElement(case, "failure", {"message": one_line(message), "type": "description"})
    failure.text = multi_line(f.description)
    return case


def testsuite(r: Result) -> ET.Element:
    count = str(len(r.findings))
    suite = ET.Element("testsuite", {"tests": count, "failures": count, "name": one_line(r.target),
                                     "errors": "0", "skipped": "0", "time": "0"})
    if r.type:
        props = ET.SubElement(suite, "properties")
        ET.SubElement(props, "property", {"name": "type", "value": one_line(r.type)})
    suite.extend(testcase(f) for f in r.findings)
    return suite


def testsuites(report: ScanReport) -> ET.Element:
    total = str(len(report.findings))
    root = ET.Element("testsuites", {"name": SUITES_NAME, "tests": total, "failures": total})
    root.extend(testsuite(r) for r in report.results)
    return root


def write(report: ScanReport, stream: TextIO) -> None:
    tree = ET.ElementTree(testsuites(report))
    ET.indent(tree)
    stream.write('<?xml version="1.0" encoding="UTF-8"?>\n')
    tree.write(stream, encoding="unicode", xml_declaration=False)
    stream.write("\n")
