"""GitLab container-scanning report (-f gitlab, -f template -t @gitlab.tpl), schema 15.0.x.

The official schema is not available offline; SCHEMA below states the 15.0 container
scanning requirements (required keys, types, enums, length limits, the time format) and
the output is validated against it with jsonschema."""

from __future__ import annotations

import io
import json
import uuid
from dataclasses import replace

import pytest
from demo_cli import demo_work, scan
from fixtures.report.hostile import ESC, hostile_report
from fixtures.report.sample import FINDINGS, sample_report

from layerscan.report import gitlab

_STR = {"type": "string", "minLength": 1}
_TOOL = {"type": "object", "required": ["id", "name", "version", "vendor"],
         "properties": {"id": _STR, "name": _STR, "version": _STR, "url": {"type": "string"},
                        "vendor": {"type": "object", "required": ["name"], "properties": {"name": _STR}}}}
SCHEMA = {
    "type": "object",
    "required": ["version", "scan", "vulnerabilities"],
    "properties": {
        "version": {"type": "string", "pattern": r"^15\.\d+\.\d+$"},
        "schema": {"type": "string"},
        "scan": {
            "type": "object",
            "required": ["analyzer", "scanner", "start_time", "end_time", "status", "type"],
            "properties": {
                "analyzer": _TOOL, "scanner": _TOOL,
                "start_time": {"type": "string", "pattern": r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}$"},
                "end_time": {"type": "string", "pattern": r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}$"},
                "status": {"enum": ["success", "failure"]},
                "type": {"const": "container_scanning"},
            },
        },
        "vulnerabilities": {"type": "array", "items": {
            "type": "object",
            "required": ["id", "identifiers", "location"],
            "properties": {
                "id": _STR,
                "name": {"type": "string", "maxLength": 255},
                "description": {"type": "string", "maxLength": 1048576},
                "severity": {"enum": ["Info", "Unknown", "Low", "Medium", "High", "Critical"]},
                "solution": {"type": "string", "maxLength": 7000},
                "identifiers": {"type": "array", "minItems": 1, "maxItems": 20, "items": {
                    "type": "object", "required": ["type", "name", "value"],
                    "properties": {"type": _STR, "name": _STR, "value": _STR, "url": {"type": "string"}}}},
                "links": {"type": "array", "items": {"type": "object", "required": ["url"],
                                                     "properties": {"url": _STR, "name": {"type": "string"}}}},
                "location": {"type": "object", "required": ["dependency", "operating_system", "image"],
                             "properties": {
                                 "dependency": {"type": "object", "required": ["package"], "properties": {
                                     "package": {"type": "object", "required": ["name"],
                                                 "properties": {"name": _STR}},
                                     "version": {"type": "string"}}},
                                 "operating_system": _STR, "image": _STR}},
            },
        }},
        # as the published schema states them (all three required; fixes reference vulnerability ids)
        "remediations": {"type": "array", "items": {
            "type": "object", "required": ["fixes", "summary", "diff"],
            "properties": {"fixes": {"type": "array", "items": {"type": "object", "required": ["id"],
                                                                "properties": {"id": _STR}}},
                           "summary": _STR, "diff": _STR}}},
    },
}


def _errors(doc) -> list[str]:
    jsonschema = pytest.importorskip("jsonschema")
    validator = jsonschema.Draft7Validator(SCHEMA)
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(doc)]


def _doc(report) -> dict:
    buf = io.StringIO()
    gitlab.write(report, buf)
    return json.loads(buf.getvalue())


def test_sample_validates():
    doc = _doc(sample_report())
    assert _errors(doc) == []
    assert doc["remediations"] == [] and doc["scan"]["start_time"] == "2026-01-02T03:04:05"
    assert doc["scan"]["scanner"]["id"] == doc["scan"]["analyzer"]["id"] == "layerscan"


def test_schema_rejects_a_broken_report():
    doc = _doc(sample_report())
    doc["vulnerabilities"][0]["severity"] = "HIGH"
    del doc["vulnerabilities"][1]["location"]["image"]
    assert len(_errors(doc)) == 2


def test_one_vulnerability_per_shown_finding():
    report = sample_report()
    vulns = _doc(report)["vulnerabilities"]
    assert len(vulns) == len(report.findings) == len({v["id"] for v in vulns})
    by_primary = {v["identifiers"][0]["value"]: v for v in vulns}
    assert set(by_primary) == {f.vulnerability_id for f in FINDINGS}
    assert not {f.vulnerability_id for f in report.suppressed} & set(by_primary)
    ssl = by_primary["CVE-2023-5678"]
    assert ssl["severity"] == "Medium" and ssl["solution"] == "Upgrade libssl3 to 3.0.13-1~deb12u1"
    assert ssl["location"] == {"dependency": {"package": {"name": "libssl3"}, "version": "3.0.11-1~deb12u1"},
                               "operating_system": "debian 12.5", "image": "example.com/team/app:1.0"}
    ids = {(i["type"], i["value"]) for i in ssl["identifiers"]}
    assert {("cve", "CVE-2023-5678"), ("dsa", "DSA-5585-1"), ("cwe", "606")} <= ids
    assert {"url": "https://www.openssl.org/news/secadv/20231106.txt"} in ssl["links"]
    flask = by_primary["CVE-2018-1000656"]
    assert ("ghsa", "GHSA-562c-5r94-xh97") in {(i["type"], i["value"]) for i in flask["identifiers"]}
    assert "solution" not in by_primary["CVE-2024-2398"]  # no fix


def test_ids_are_stable_uuids():
    first, second = _doc(sample_report()), _doc(replace(sample_report(), created_at="2030-01-01T00:00:00Z"))
    assert [v["id"] for v in first["vulnerabilities"]] == [v["id"] for v in second["vulnerabilities"]]
    assert all(uuid.UUID(v["id"]).version == 5 for v in first["vulnerabilities"])


@pytest.mark.parametrize("level, word", [("CRITICAL", "Critical"), ("HIGH", "High"), ("MEDIUM", "Medium"),
                                         ("LOW", "Low"), ("UNKNOWN", "Unknown"), ("", "Unknown")])
def test_severity_words(level, word):
    f = replace(FINDINGS[0], severity=level)
    report = replace(sample_report(), results=(replace(sample_report().results[0], findings=(f,)),))
    assert _doc(report)["vulnerabilities"][0]["severity"] == word


def test_long_text_is_clipped_to_the_schema_limits():
    f = replace(FINDINGS[0], title="t" * 1000, fixed_version="9" * 8000)
    report = replace(sample_report(), results=(replace(sample_report().results[0], findings=(f,)),))
    assert _errors(_doc(report)) == []


def test_hostile_strings_stay_inert():
    buf = io.StringIO()
    gitlab.write(hostile_report(), buf)
    assert ESC[0] not in buf.getvalue()  # JSON escapes control characters
    buf.getvalue().encode("utf-8")  # no lone surrogate left to break a UTF-8 stream
    assert _errors(json.loads(buf.getvalue())) == []


def test_cli_gitlab_on_demo_image(demo_work):
    vulns = json.loads(scan(demo_work, "-f", "json").stdout)
    expected = sum(len(r.get("Vulnerabilities") or []) for r in vulns["Results"])
    for args in (("-f", "gitlab"), ("-f", "template", "-t", "@contrib/gitlab.tpl")):
        doc = json.loads(scan(demo_work, *args).stdout)
        assert _errors(doc) == []
        assert expected > 0 and len(doc["vulnerabilities"]) == expected
        assert doc["vulnerabilities"][0]["location"]["operating_system"].startswith("debian")
