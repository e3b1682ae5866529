"""`layerscan sbom FILE` input: CycloneDX / SPDX documents from Trivy, Syft and us."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from packageurl import PackageURL

from conftest import FIXTURES
from layerscan.errors import ImageError, LayerscanError, UsageError
from layerscan.model import Sbom
from layerscan.report.cyclonedx import bom
from layerscan.report.document import build_report
from layerscan.source.sbom_input import load_sbom, parse_sbom

SBOMS = FIXTURES / "sbom"
JSON_FIXTURES = ["small-trivy.cdx.json", "small-syft.cdx.json", "small-trivy.spdx.json", "small-syft.spdx.json"]


def _raw(name: str) -> dict:
    return json.loads((SBOMS / name).read_text())


def _file_purls(doc: dict) -> set[str]:
    """The package purls a document lists (the artifact's own oci purl excluded)."""
    if doc.get("bomFormat") == "CycloneDX":
        purls = {c["purl"] for c in doc["components"] if c.get("purl")}
    else:
        purls = {r["referenceLocator"] for p in doc["packages"] for r in p.get("externalRefs", [])
                 if r["referenceType"] == "purl"}
    return {p for p in purls if not p.startswith("pkg:oci/")}


def _pkg_by_name(sbom: Sbom) -> dict[str, object]:
    return {p.name: p for p in sbom.packages}


# ---------------------------------------------------------------- corpus (Trivy's test table)

def _corpus_cases() -> list[str]:
    from conftest import CORPUS
    base = CORPUS / "fixtures" / "sbom"
    return sorted(p.name for p in base.iterdir()) if base.is_dir() else ["absent"]


@pytest.mark.parametrize("case", _corpus_cases())
def test_corpus_case(corpus: Path, case: str) -> None:
    folder = corpus / "fixtures" / "sbom" / case
    expected = json.loads((folder / "expected.json").read_text())
    sbom = load_sbom(folder / expected["inputs"][0])
    # the table lists each package, then its purl parts (entries without an ID)
    want = [(e, f) for e, f in zip(expected["packages"], expected["peer_fields"]) if "ID" in f]
    assert want
    got = sorted((p.name, p.version) for p in sbom.packages)
    assert got == sorted((e["name"], e["version"]) for e, _ in want)
    by_name = _pkg_by_name(sbom)
    for _, fields in want:
        pkg = by_name[fields["Name"]]
        assert pkg.arch == fields.get("Arch", pkg.arch)
        assert pkg.src_name == fields.get("SrcName", pkg.src_name)
        assert pkg.src_version == fields.get("SrcVersion", pkg.src_version)
        purl = PackageURL.from_string(pkg.purl)
        assert purl.name == fields["Identifier.PURL.Name"]
        assert purl.namespace == fields.get("Identifier.PURL.Namespace")
        # FilePath in the peer test is prefixed by where Trivy found the SBOM inside an image;
        # a standalone `layerscan sbom FILE` has no such location, so it is not compared.


def test_corpus_os_from_os_package(corpus: Path) -> None:
    path = corpus / "fixtures/sbom/trivy-sbom-valid-ca-certificates-spdx-file/ca-certificates.spdx.json"
    raw = json.loads(path.read_text())
    os_pkg = next(p for p in raw["packages"] if p.get("primaryPackagePurpose") == "OPERATING-SYSTEM")
    sbom = load_sbom(path)
    assert sbom.os is not None
    assert (sbom.os.family, sbom.os.name) == (os_pkg["name"], os_pkg["versionInfo"])


# ---------------------------------------------------------------- Trivy / Syft documents

@pytest.mark.parametrize("name", JSON_FIXTURES)
def test_package_set_equals_components(name: str) -> None:
    sbom = load_sbom(SBOMS / name)
    assert {p.purl for p in sbom.packages} == _file_purls(_raw(name))
    assert len(sbom.packages) == len(_file_purls(_raw(name)))
    assert sbom.artifact_type == "sbom"
    assert all(p.type == "deb" and p.version and p.src_name for p in sbom.packages)


def test_tag_value_equals_json() -> None:
    text = (SBOMS / "small-trivy.spdx").read_text()
    purls = {line.split()[3] for line in text.splitlines() if line.startswith("ExternalRef: PACKAGE-MANAGER purl ")}
    sbom = load_sbom(SBOMS / "small-trivy.spdx")
    assert {p.purl for p in sbom.packages} == purls
    as_json = load_sbom(SBOMS / "small-trivy.spdx.json")
    assert sorted((p.name, p.version, p.src_name, p.src_version) for p in sbom.packages) == \
        sorted((p.name, p.version, p.src_name, p.src_version) for p in as_json.packages)
    assert sbom.os == as_json.os


def test_trivy_cyclonedx_fields() -> None:
    raw = _raw("small-trivy.cdx.json")
    sbom = load_sbom(SBOMS / "small-trivy.cdx.json")
    os_comp = next(c for c in raw["components"] if c["type"] == "operating-system")
    assert (sbom.os.family, sbom.os.name) == (os_comp["name"], os_comp["version"])
    root_props = raw["metadata"]["component"]["properties"]
    diff_ids = [p["value"] for p in root_props if p["name"] == "aquasecurity:trivy:DiffID"]
    assert sbom.image is not None and list(sbom.image.diff_ids) == diff_ids
    assert sbom.artifact_name == raw["metadata"]["component"]["name"]
    by_purl = {p.purl: p for p in sbom.packages}
    for comp in raw["components"]:
        if comp["type"] == "operating-system":
            continue
        props = {p["name"]: p["value"] for p in comp["properties"]}
        pkg = by_purl[comp["purl"]]
        assert pkg.version == comp["version"]  # Trivy's full version: epoch included
        assert pkg.src_name == props["aquasecurity:trivy:SrcName"]
        assert pkg.src_version.split(":")[-1].startswith(props["aquasecurity:trivy:SrcVersion"])
        assert pkg.layer is not None
        assert pkg.layer.diff_id == props["aquasecurity:trivy:LayerDiffID"]
        assert pkg.layer.index == diff_ids.index(props["aquasecurity:trivy:LayerDiffID"])
    # Trivy writes the DiffID properties sorted by value, not stacked: the order is not known
    assert not sbom.image.layer_order_known
    assert [u.reason for u in sbom.unknowns if "order" not in u.reason] == []


def _syft_upstream(purl: str) -> str:
    quals = PackageURL.from_string(purl).qualifiers
    return quals.get("upstream", "").split("@")[0] if isinstance(quals, dict) else ""


@pytest.mark.parametrize("name", ["small-syft.cdx.json", "small-syft.spdx.json"])
def test_syft_source_names(name: str) -> None:
    sbom = load_sbom(SBOMS / name)
    for pkg in sbom.packages:
        # Syft names the source only when it differs from the binary package
        assert pkg.src_name == (_syft_upstream(pkg.purl) or pkg.name)
    assert not [u for u in sbom.unknowns if "source package" in u.reason]
    distro = PackageURL.from_string(sbom.packages[0].purl).qualifiers["distro"]
    assert sbom.os is not None and f"{sbom.os.family}-{sbom.os.name}" == distro


def test_syft_layers_are_read_but_their_order_is_a_note() -> None:
    raw = _raw("small-syft.cdx.json")
    layer_ids = {p["value"] for c in raw["components"] for p in c.get("properties", [])
                 if p["name"] == "syft:location:0:layerID"}
    sbom = load_sbom(SBOMS / "small-syft.cdx.json")
    assert {p.layer.diff_id for p in sbom.packages if p.layer} == layer_ids
    assert any("order" in u.reason for u in sbom.unknowns)


def test_trivy_and_syft_agree() -> None:
    def key(s: Sbom) -> list[tuple[str, str, str]]:
        return sorted((p.name, p.version, p.src_name) for p in s.packages)

    sboms = [load_sbom(SBOMS / n) for n in JSON_FIXTURES]
    assert all(key(s) == key(sboms[0]) for s in sboms)


# ---------------------------------------------------------------- our own CycloneDX, round trip

def test_roundtrip_our_cyclonedx(tmp_path: Path) -> None:
    source = load_sbom(SBOMS / "small-trivy.cdx.json")
    report = build_report(source, created_at="2026-01-01T00:00:00Z", tool_version="test")
    out = tmp_path / "ours.cdx.json"
    out.write_text(json.dumps(bom(report)))
    again = load_sbom(out)

    def key(s: Sbom) -> list[tuple]:
        return sorted((p.name, p.version, p.type, p.purl, p.src_name, p.src_version,
                       p.layer.index if p.layer else None, p.layer.diff_id if p.layer else "")
                      for p in s.packages)

    assert key(again) == key(source)
    assert again.os == source.os
    assert again.artifact_name == source.artifact_name
    assert not again.unknowns


# ---------------------------------------------------------------- purl mapping

def _cdx(*components: dict, **extra: object) -> bytes:
    return json.dumps({"bomFormat": "CycloneDX", "specVersion": "1.4", "version": 1,
                       "components": list(components), **extra}).encode()


def test_purl_naming_and_nested_components() -> None:
    purls = {
        "pkg:maven/org.apache.logging.log4j/log4j-core@2.14.1": ("maven", "org.apache.logging.log4j:log4j-core"),
        "pkg:npm/%40babel/core@7.0.0": ("npm", "@babel/core"),
        "pkg:golang/github.com/buildpacks/lifecycle@v0.20.2": ("golang", "github.com/buildpacks/lifecycle"),
        "pkg:pypi/requests@2.19.0": ("pypi", "requests"),
        "pkg:composer/monolog/monolog@1.0.0": ("composer", "monolog/monolog"),
    }
    comps = [{"type": "library", "name": "x", "purl": p} for p in purls]
    nested = {"type": "application", "name": "app.jar", "components": comps[:1]}
    sbom = parse_sbom(_cdx(nested, *comps[1:]), "mem")
    assert {p.purl: (p.type, p.name) for p in sbom.packages} == purls


def test_group_joins_the_name_as_the_ecosystem_writes_it() -> None:
    # cyclonedx-npm / Trivy put the npm scope in group, cyclonedx-maven the groupId;
    # without a purl the component is skipped and the note names it in full
    comps = [{"type": "library", "group": "@babel", "name": "core", "version": "7.0.0"},
             {"type": "library", "group": "commons-io", "name": "commons-io", "version": "2.6"}]
    (note,) = [u.reason for u in parse_sbom(_cdx(*comps), "mem").unknowns]
    assert "@babel/core" in note and "commons-io:commons-io" in note


def test_pypi_keeps_the_projects_spelling() -> None:
    comps = [{"type": "library", "name": "Jinja2", "purl": "pkg:pypi/jinja2@2.10"},
             {"type": "library", "name": "something-else", "purl": "pkg:pypi/markupsafe@1.0"}]
    assert sorted(p.name for p in parse_sbom(_cdx(*comps)).packages) == ["Jinja2", "markupsafe"]


def test_deb_epoch_qualifier_and_distro_os() -> None:
    comp = {"type": "library", "name": "bsdutils",
            "purl": "pkg:deb/debian/bsdutils@2.38.1-5?arch=amd64&epoch=1&distro=debian-12.5&upstream=util-linux"}
    sbom = parse_sbom(_cdx(comp), "mem")
    (pkg,) = sbom.packages
    assert (pkg.version, pkg.arch, pkg.src_name, pkg.src_version) == ("1:2.38.1-5", "amd64", "util-linux", "1:2.38.1-5")
    assert (sbom.os.family, sbom.os.name) == ("debian", "12.5")


def test_alpine_os_from_distro() -> None:
    comp = {"type": "library", "name": "musl", "purl": "pkg:apk/alpine/musl@1.2.4-r2?arch=x86_64&distro=alpine-3.19.1"}
    sbom = parse_sbom(_cdx(comp), "mem")
    assert (sbom.os.family, sbom.os.name) == ("alpine", "3.19.1")


def test_missing_source_name_falls_back_with_a_note() -> None:
    comp = {"type": "library", "name": "libc6", "purl": "pkg:deb/debian/libc6@2.36-9?distro=debian-12"}
    lockfile = {"type": "application", "name": "package-lock.json"}  # no purl by design: no note
    sbom = parse_sbom(_cdx(comp, lockfile, {"type": "library", "name": "nopurl", "version": "1"}), "x.json")
    (pkg,) = sbom.packages
    assert pkg.src_name == "libc6"
    reasons = " | ".join(u.reason for u in sbom.unknowns)
    assert "no source package" in reasons and "libc6" in reasons
    assert "without a purl" in reasons and "nopurl" in reasons and "package-lock" not in reasons
    assert all(u.path == "x.json" for u in sbom.unknowns)


def test_in_toto_attestation_is_unwrapped() -> None:
    inner = json.loads(_cdx({"type": "library", "name": "a", "purl": "pkg:npm/a@1.0.0"}))
    wrapped = {"_type": "https://in-toto.io/Statement/v0.1", "predicateType": "https://cyclonedx.org/bom",
               "subject": [], "predicate": inner}
    assert [p.name for p in parse_sbom(json.dumps(wrapped).encode()).packages] == ["a"]


# ---------------------------------------------------------------- hostile input

@pytest.mark.parametrize("data, message", [
    (b"{not json", "invalid JSON"),
    (b"root:x:0:0:root:/root:/bin/bash\n", "neither JSON nor SPDX tag-value"),
    (b"[1, 2]", "not a CycloneDX or SPDX"),
    (b'{"hello": "world"}', "not a CycloneDX or SPDX"),
    (b"<?xml version='1.0'?><bom/>", "XML"),
    (b"\xff\xfe\x00garbage", "not UTF-8"),
    (b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
    (b'{"bomFormat": "CycloneDX", "components": "nope"}', None),
])
def test_bad_documents(data: bytes, message: str | None) -> None:
    if message is None:  # malformed but harmless: an empty SBOM, no crash
        assert parse_sbom(data, "bad").packages == ()
        return
    with pytest.raises(ImageError, match=message):
        parse_sbom(data, "bad")


def test_deeply_nested_components_are_refused() -> None:
    comp: dict = {"type": "library", "name": "leaf", "purl": "pkg:npm/leaf@1.0.0"}
    for _ in range(200):
        comp = {"type": "library", "name": "n", "components": [comp]}
    with pytest.raises(ImageError, match="nested deeper"):
        parse_sbom(_cdx(comp), "deep")


def test_malformed_fields_do_not_crash() -> None:
    comps = [{"type": "library", "name": 5, "purl": ["x"]}, "string", None,
             {"type": "library", "name": "bad", "purl": "pkg:"},
             {"type": "library", "name": "p", "purl": "pkg:npm/p@1", "properties": [{"name": 1}, "x"],
              "licenses": [None, {"license": 3}]}]
    sbom = parse_sbom(_cdx(*comps, metadata={"component": "nope"}), "m")
    assert [p.name for p in sbom.packages] == ["p"]
    assert any("invalid purl" in u.reason for u in sbom.unknowns)


def test_file_errors(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="no such file or directory"):
        load_sbom(tmp_path / "missing.json")
    with pytest.raises(UsageError, match="directory"):
        load_sbom(tmp_path)
    big = tmp_path / "big.json"
    big.write_bytes(b" " * 2048 + _cdx())
    with pytest.raises(ImageError, match="larger than"):
        load_sbom(big, max_bytes=1024)
    assert load_sbom(big, max_bytes=1 << 20).packages == ()


def test_errors_are_layerscan_errors() -> None:
    with pytest.raises(LayerscanError):
        parse_sbom(b"\x00\x01binary", "b")


def test_trivy_spdx_annotations_give_the_same_layers_as_its_cyclonedx() -> None:
    def layers(s: Sbom) -> dict[str, tuple[int, str]]:
        return {p.name: (p.layer.index, p.layer.diff_id) for p in s.packages}

    spdx = load_sbom(SBOMS / "small-trivy.spdx.json")
    cdx = load_sbom(SBOMS / "small-trivy.cdx.json")
    assert layers(spdx) == layers(cdx)
    assert spdx.image.diff_ids == cdx.image.diff_ids and spdx.image.image_id == cdx.image.image_id


def test_malformed_spdx_does_not_crash() -> None:
    doc = {"spdxVersion": "SPDX-2.3", "packages": [
        None, "x", {"name": "a", "externalRefs": "nope"},
        {"name": "b", "externalRefs": [None, {"referenceType": "purl", "referenceLocator": 7}]},
        {"name": "c", "annotations": [None, {"annotator": "Tool: trivy", "comment": 5}],
         "externalRefs": [{"referenceType": "purl", "referenceLocator": "pkg:cargo/c@1.0.0"}]}],
        "relationships": [None, {"relationshipType": "DESCRIBES"}], "documentDescribes": "x"}
    sbom = parse_sbom(json.dumps(doc).encode(), "s")
    assert [(p.name, p.type) for p in sbom.packages] == [("c", "cargo")]
    assert any("without a purl" in u.reason for u in sbom.unknowns)


def test_tag_value_multiline_text_and_purpose() -> None:
    text = "\n".join([
        "SPDXVersion: SPDX-2.3", "DocumentName: demo", "",
        "PackageName: alpine", "SPDXID: SPDXRef-os", "PackageVersion: 3.19.1",
        "PrimaryPackagePurpose: OPERATING-SYSTEM", "",
        "PackageName: musl", "SPDXID: SPDXRef-musl", "PackageVersion: 1.2.4-r2",
        "PackageSourceInfo: <text>built package from: musl 1.2.4-r2", "second line</text>",
        "ExternalRef: PACKAGE-MANAGER purl pkg:apk/alpine/musl@1.2.4-r2?arch=x86_64", ""])
    sbom = parse_sbom(text.encode(), "t.spdx")
    (pkg,) = sbom.packages
    assert (pkg.name, pkg.type, pkg.src_name, pkg.src_version) == ("musl", "apk", "musl", "1.2.4-r2")
    assert (sbom.os.family, sbom.os.name, sbom.artifact_name) == ("alpine", "3.19.1", "demo")


def test_component_count_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    from layerscan.source.sbom import cyclonedx, spdx

    monkeypatch.setattr(cyclonedx, "MAX_COMPONENTS", 5)
    monkeypatch.setattr(spdx, "MAX_COMPONENTS", 5)
    comps = [{"type": "library", "name": f"p{i}", "purl": f"pkg:npm/p{i}@1.0.0"} for i in range(6)]
    with pytest.raises(ImageError, match="more than 5 components"):
        parse_sbom(_cdx(*comps), "many")
    assert len(parse_sbom(_cdx(*comps[:5]), "few").packages) == 5
    doc = {"spdxVersion": "SPDX-2.3", "packages": [{"name": "x"}] * 6}
    with pytest.raises(ImageError, match="more than 5 packages"):
        parse_sbom(json.dumps(doc).encode(), "many")


def test_layers_the_document_does_not_order_go_on_top() -> None:
    listed = "sha256:" + "1" * 64
    stray = "sha256:" + "2" * 64
    root = {"type": "container", "name": "img", "properties": [{"name": "aquasecurity:trivy:DiffID", "value": listed}]}
    comps = [{"type": "library", "name": n, "purl": f"pkg:npm/{n}@1.0.0",
              "properties": [{"name": "aquasecurity:trivy:LayerDiffID", "value": d}]}
             for n, d in (("a", stray), ("b", listed))]
    sbom = parse_sbom(_cdx(*comps, metadata={"component": root}), "m")
    assert {p.name: p.layer.index for p in sbom.packages} == {"b": 0, "a": 1}
    assert any("order" in u.reason for u in sbom.unknowns)


# ---------------------------------------------------------------- Syft JSON (syft -o syft-json)

def _syft_json(**changes: object) -> dict:
    doc = _raw("sample-syft.syft.json")
    doc["source"]["metadata"].update(changes)
    return doc


def test_syft_json_layers_in_stacking_order() -> None:
    import base64

    from imagebuild import sample_image

    raw = _raw("sample-syft.syft.json")
    sbom = load_sbom(SBOMS / "sample-syft.syft.json")
    built = sample_image()
    config = json.loads(base64.b64decode(raw["source"]["metadata"]["config"]))
    assert [x.diff_id for x in sbom.image.layers] == [x.diff_id for x in built.layers] == config["rootfs"]["diff_ids"]
    assert [x.created_by for x in sbom.image.layers] == [x.created_by for x in built.layers]
    assert sbom.image.layer_order_known and sbom.image.image_id == raw["source"]["metadata"]["imageID"]
    assert json.loads(sbom.image.config_json) == config and dict(sbom.image.labels) == config["config"]["Labels"]
    by_name = {a["name"]: a for a in raw["artifacts"]}
    for pkg in sbom.packages:
        layer_id = by_name[pkg.name]["locations"][0]["layerID"]
        assert (pkg.layer.index, pkg.layer.diff_id) == (config["rootfs"]["diff_ids"].index(layer_id), layer_id)
        assert pkg.purl == by_name[pkg.name]["purl"] and pkg.version == by_name[pkg.name]["version"]
        assert pkg.src_name == (by_name[pkg.name]["metadata"]["source"] or pkg.name)
    assert (sbom.os.family, sbom.os.name) == (raw["distro"]["id"], raw["distro"]["versionID"])
    assert not sbom.unknowns


@pytest.mark.parametrize("changes", [
    {"layers": "not a list"}, {"layers": [{"digest": 7}]}, {"layers": [{"digest": "sha256:a"}, {"digest": "sha256:a"}]},
    {"layers": []}])
def test_syft_json_with_an_unreadable_layer_list_has_no_order(changes: dict) -> None:
    sbom = parse_sbom(json.dumps(_syft_json(**changes)).encode(), "syft.json")
    assert sbom.image is not None and not sbom.image.layer_order_known  # the packages still name their layer
    assert any("not their order" in u.reason for u in sbom.unknowns)


@pytest.mark.parametrize("config", ["%%% not base64", "bm90IGpzb24=", "W10=", "x" * (6 * 1024 * 1024)])
def test_syft_json_with_a_bad_config_keeps_the_order(config: str) -> None:
    sbom = parse_sbom(json.dumps(_syft_json(config=config)).encode(), "syft.json")
    assert sbom.image.layer_order_known and sbom.image.config_json == ""
    assert [x.created_by for x in sbom.image.layers] == ["", "", "", ""]


def test_syft_json_hostile_artifacts_are_skipped() -> None:
    doc = _raw("sample-syft.syft.json")
    doc["artifacts"] += [None, 5, {"name": "x", "purl": 3, "locations": "no"}, {"metadata": [1]}]
    sbom = parse_sbom(json.dumps(doc).encode(), "syft.json")
    assert len(sbom.packages) == 3


def test_tag_value_annotations_attach_to_the_package_they_name() -> None:
    text = "\n".join([
        "SPDXVersion: SPDX-2.3", "DocumentName: d", "AnnotationComment: before any Annotator: dropped",
        "PackageName: zlib", "SPDXID: SPDXRef-z", "PackageVersion: 1.3",
        "ExternalRef: PACKAGE-MANAGER purl pkg:npm/zlib@1.3",
        "Annotator: Tool: layerscan-1", "SPDXREF: SPDXRef-z",
        "AnnotationComment: <text>layerscan:layer:diff_id=sha256:" + "a" * 64 + "</text>",
        "Annotator: Tool: layerscan-1", "SPDXREF: SPDXRef-nowhere", "AnnotationComment: layerscan:layer:index=9",
        "Annotator: Tool: layerscan-1", "AnnotationComment: layerscan:layer:index=5",  # no SPDXREF
    ])
    sbom = parse_sbom(text.encode(), "t.spdx")
    (pkg,) = sbom.packages
    assert pkg.layer is not None and pkg.layer.diff_id == "sha256:" + "a" * 64
    assert not sbom.image.layer_order_known  # a layer without an index or an image layer list
