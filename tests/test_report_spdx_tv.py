"""SPDX 2.3 tag-value (-f spdx): the spdx-json document rendered as tag-value. spdx-tools
(test extra) parses it back and validates it; the parsed document equals the JSON one."""

from __future__ import annotations

import io
import json
import re

import pytest
from demo_cli import demo_work, scan
from fixtures.report.hostile import ESC, NAME, hostile_report
from fixtures.report.sample import SBOM, sample_report

from layerscan.report import SBOM_FORMATS, spdx, spdx_tv


def _tv(report) -> str:
    buf = io.StringIO()
    spdx_tv.write(report, buf)
    return buf.getvalue()


def _parse_tv(text: str):
    pytest.importorskip("spdx_tools")
    from spdx_tools.spdx.parser.tagvalue.parser import Parser

    return Parser().parse(text)


def _validate(document) -> list[str]:
    from spdx_tools.spdx.validation.document_validator import (
        validate_full_spdx_document,
    )

    return [m.validation_message for m in validate_full_spdx_document(document)]


def _from_json(doc: dict):
    from spdx_tools.spdx.parser.jsonlikedict.json_like_dict_parser import (
        JsonLikeDictParser,
    )

    return JsonLikeDictParser().parse(doc)


def test_every_json_package_key_is_rendered():
    for report in (sample_report(), hostile_report(surrogate=False)):
        for pkg in spdx.document(report)["packages"]:
            assert set(pkg) <= set(spdx_tv.PACKAGE_FIELDS), set(pkg) - set(spdx_tv.PACKAGE_FIELDS)


def test_tag_value_parses_and_validates():
    document = _parse_tv(_tv(sample_report()))
    assert _validate(document) == []


def test_same_content_as_spdx_json():
    report = sample_report()
    tv = _parse_tv(_tv(report))
    js = _from_json(spdx.document(report))
    assert tv.creation_info == js.creation_info
    assert sorted(tv.packages, key=lambda p: p.spdx_id) == sorted(js.packages, key=lambda p: p.spdx_id)
    key = lambda r: (r.spdx_element_id, r.relationship_type.name, r.related_spdx_element_id)
    assert sorted(map(key, tv.relationships)) == sorted(map(key, js.relationships))
    akey = lambda a: (a.spdx_id, a.annotation_comment)
    assert sorted(map(akey, tv.annotations)) == sorted(map(akey, js.annotations))
    purls = {ref.locator for p in tv.packages for ref in p.external_references}
    assert purls == {p.purl for p in SBOM.packages}


def test_text_layout():
    text = _tv(sample_report())
    assert text.startswith("SPDXVersion: SPDX-2.3\nDataLicense: CC0-1.0\n")  # as Trivy's
    assert "ExternalRef: PACKAGE-MANAGER purl pkg:pypi/flask@0.12\n" in text
    assert "Relationship: SPDXRef-DOCUMENT DESCRIBES SPDXRef-Artifact\n" in text
    assert "PackageLicenseComments: <text>declared: Apache-2.0</text>\n" in text


def test_hostile_strings_stay_inert():
    report = hostile_report(surrogate=False)
    text = _tv(report)
    assert ESC[0] not in text and "\x00" not in text and "\u202e" not in text
    text.encode("utf-8")
    # outside <text> blocks (free text may span lines), no injected tag line
    lines = re.sub(r"<text>.*?</text>", "<text/>", text, flags=re.DOTALL).splitlines()
    assert not any(line.startswith("PackageName: injected") for line in lines)
    rels = [line for line in lines if line.startswith("Relationship:")]
    assert len(rels) == len(spdx.document(report)["relationships"])
    assert all("SPDXRef-X" not in r for r in rels)
    assert text.count("<text>") == text.count("</text>")
    document = _parse_tv(text)
    assert _validate(document) == []
    assert len(document.relationships) == len(rels)
    names = {p.name for p in document.packages}
    assert any(n.startswith("evil?") and "Relationship" in n for n in names)  # one line, inert
    assert not any(n == NAME for n in names)
    [evil] = [p for p in document.packages if p.name.startswith("evil")]
    assert [r.locator for r in evil.external_references] == [
        "pkg:npm/evil@1.0%20ExternalRef:%20PACKAGE-MANAGER%20purl%20pkg:npm/x"]


def test_is_an_sbom_format():
    assert "spdx" in SBOM_FORMATS and "spdx-json" in SBOM_FORMATS


def test_cli_spdx_on_demo_image(demo_work):
    js = json.loads(scan(demo_work, "-f", "spdx-json").stdout)
    text = scan(demo_work, "-f", "spdx").stdout
    document = _parse_tv(text)
    assert _validate(document) == []
    assert {p.spdx_id for p in document.packages} == {p["SPDXID"] for p in js["packages"]}
    assert len(document.relationships) == len(js["relationships"]) > 1
