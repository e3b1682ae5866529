"""End-to-end SBOM of a real language-heavy image through the real CLI (issue 3, "Tests").

The image (tests/e2e_images.py) has a Debian 9 base, real pip and npm installs of old
releases, a fat jar with log4j-core nested two levels deep, a real Go binary, and a top
layer that deletes one pip package and upgrades another. Every expectation comes from
what was installed (see ExpectedPackage), never from the scanner's own code.
"""

from __future__ import annotations

import io
import json
import tarfile
from dataclasses import dataclass
from pathlib import Path

import pytest
from e2e_images import (DEB_PURGED, LOG4J, PIP_REINSTALLED, PIP_REMOVED, E2EImage, ExpectedPackage,
                        ReportedPackage, e2e, e2e_pushed, pep503, reported_packages, run_cli)  # noqa: F401
from packageurl import PackageURL

PKG_TYPES = ("deb", "pypi", "npm", "maven", "golang")


@dataclass(frozen=True)
class CliRun:
    returncode: int
    stdout: str
    stderr: str

    def json(self) -> dict:
        assert self.returncode == 0, f"exit {self.returncode}: {self.stderr[-2000:]}"
        return json.loads(self.stdout)


def scan(target_args: list[str], cache: Path, fmt: str = "json") -> CliRun:
    proc = run_cli("image", *target_args, "-f", fmt, "--list-all-pkgs", "--scanners", "none", "--cache-dir", str(cache), "--quiet")
    return CliRun(proc.returncode, proc.stdout, proc.stderr)


@pytest.fixture(scope="module")
def empty_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A cache root without a database: these scans list packages only (--scanners none)."""
    return tmp_path_factory.mktemp("e2e-sbom-cache")


@pytest.fixture(scope="module")
def archive_run(e2e: E2EImage, empty_cache: Path) -> CliRun:
    return scan(["--input", str(e2e.archive)], empty_cache)


@pytest.fixture(scope="module")
def registry_run(e2e_pushed: str, empty_cache: Path) -> CliRun:
    return scan([e2e_pushed, "--insecure"], empty_cache)


@pytest.fixture(scope="module")
def cyclonedx_run(e2e: E2EImage, empty_cache: Path) -> CliRun:
    return scan(["--input", str(e2e.archive)], empty_cache, fmt="cyclonedx")


def same_name(expected: ExpectedPackage, reported: str) -> bool:
    if expected.type == "pypi":  # PEP 503: "Flask" and "flask" are one project
        return pep503(expected.name) == pep503(reported)
    return expected.name == reported


def candidates(expected: ExpectedPackage, reported: list[ReportedPackage]) -> list[ReportedPackage]:
    return [r for r in reported if same_name(expected, r.doc.get("Name", ""))
            and (r.purl_type or expected.type) == expected.type]


def deb_purl_ok(purl: str, expected: ExpectedPackage) -> bool:
    try:
        parsed = PackageURL.from_string(purl)
    except ValueError:
        return False
    return (parsed.type, parsed.namespace, parsed.name, parsed.version) == ("deb", "debian", expected.name,
                                                                            expected.version)


def problems(expected: ExpectedPackage, found: list[ReportedPackage], e2e: E2EImage) -> list[str]:
    """What is wrong with the reported package(s) for ``expected`` ([] when all is right)."""
    label = f"{expected.type}/{expected.name}@{expected.version}"
    if len(found) != 1:
        return [f"{label}: reported {len(found)} times "
                f"({[(r.doc.get('Version'), r.doc.get('FilePath')) for r in found]})"]
    got = found[0]
    out = []
    version = got.doc["ID"].split("@", 1)[1] if "@" in got.doc.get("ID", "") else got.doc.get("Version", "")
    if version != expected.version:
        out.append(f"{label}: version {version!r}")
    if expected.purl and got.purl != expected.purl:
        out.append(f"{label}: purl {got.purl!r}, want {expected.purl!r}")
    if expected.type == "deb" and not deb_purl_ok(got.purl, expected):
        out.append(f"{label}: purl {got.purl!r}")
    if expected.type == "deb" and got.doc.get("SrcName", expected.name) != expected.src_name:
        out.append(f"{label}: SrcName {got.doc.get('SrcName')!r}, want {expected.src_name!r}")
    layer = got.doc.get("Layer", {})
    if layer.get("Index") != expected.layer:
        out.append(f"{label}: layer {layer.get('Index')}, want {expected.layer}")
    if layer.get("DiffID") != e2e.image.diff_ids[expected.layer]:
        out.append(f"{label}: DiffID {layer.get('DiffID')!r}")
    if layer.get("CreatedBy") != e2e.created_by(expected.layer):
        out.append(f"{label}: CreatedBy {layer.get('CreatedBy')!r}")
    if expected.path and not got.doc.get("FilePath", "").lstrip("/").startswith(expected.path):
        out.append(f"{label}: FilePath {got.doc.get('FilePath')!r}, want {expected.path!r}...")
    return out


# ---- the docker archive ----------------------------------------------------------------------

def test_archive_scan_identifies_debian9_and_layers(archive_run: CliRun, e2e: E2EImage) -> None:
    report = archive_run.json()
    os_info = report["Metadata"].get("OS", {})
    assert (os_info.get("Family"), os_info.get("Name")) == (e2e.os_family, e2e.os_name)
    layers = report["Metadata"]["Layers"]
    assert [layer["DiffID"] for layer in layers] == e2e.image.diff_ids
    assert [layer["CreatedBy"] for layer in layers] == [e2e.created_by(i) for i in range(len(layers))]
    assert [layer["Index"] for layer in layers] == list(range(len(e2e.image.layers)))


@pytest.mark.parametrize("pkg_type", PKG_TYPES)
def test_every_installed_package_with_version_purl_and_layer(archive_run: CliRun, e2e: E2EImage,
                                                             pkg_type: str) -> None:
    reported = reported_packages(archive_run.json())
    expected = [p for p in e2e.of_type(pkg_type) if not p.application]
    assert expected, f"the image has no {pkg_type} packages"
    wrong = [msg for p in expected for msg in problems(p, candidates(p, reported), e2e)]
    assert not wrong, "\n".join(wrong[:40])


@pytest.mark.parametrize("pkg_type", PKG_TYPES)
def test_no_unexpected_packages(archive_run: CliRun, e2e: E2EImage, pkg_type: str) -> None:
    def norm(name: str) -> str:
        return pep503(name) if pkg_type == "pypi" else name

    reported = [r for r in reported_packages(archive_run.json()) if r.purl_type == pkg_type]
    allowed = {norm(p.name) for p in e2e.of_type(pkg_type)}
    extra = sorted({r.doc["Name"] for r in reported if norm(r.doc["Name"]) not in allowed})
    assert not extra, f"{pkg_type} packages not in the image: {extra}"


def test_deleted_package_is_absent(archive_run: CliRun, e2e: E2EImage) -> None:
    reported = reported_packages(archive_run.json())
    assert {(p.type, pep503(p.name)) for p in e2e.removed} == {("pypi", PIP_REMOVED), ("deb", DEB_PURGED)}
    for gone in e2e.removed:
        assert candidates(gone, reported) == [], f"{gone.name} was deleted by a whiteout in layer 5"


def test_upgraded_package_moves_to_the_upgrade_layer(archive_run: CliRun, e2e: E2EImage) -> None:
    reported = reported_packages(archive_run.json())
    assert e2e.superseded
    for old in e2e.superseded:
        found = candidates(old, reported)
        versions = {r.doc.get("Version") for r in found}
        assert old.version not in versions, f"{old.name} {old.version} was upgraded in layer 5"
        new = next(p for p in e2e.packages if p.type == "pypi" and pep503(p.name) == pep503(old.name))
        assert [r.layer_index for r in found] == [new.layer] == [5]
        assert found[0].doc["Layer"]["CreatedBy"] == e2e.created_by(5)


def test_unchanged_rewrite_keeps_the_oldest_layer(archive_run: CliRun, e2e: E2EImage) -> None:
    """Layer 5 rewrites Flask's dist-info and the dpkg status: unchanged packages stay where they came from."""
    top = tarfile.open(fileobj=io.BytesIO(e2e.image.layers[5].tar))
    rewritten = {m.name for m in top.getmembers()}
    flask = e2e.find("pypi", next(p.name for p in e2e.of_type("pypi")
                                  if pep503(p.name) == pep503(PIP_REINSTALLED.split("==")[0])))
    assert f"{flask.path}/METADATA" in rewritten and "var/lib/dpkg/status" in rewritten
    reported = reported_packages(archive_run.json())
    assert [r.layer_index for r in candidates(flask, reported)] == [1]
    debs = [r for r in reported if r.purl_type == "deb"]
    assert debs and {r.layer_index for r in debs} == {0}


def test_log4j_nested_two_levels_in_the_fat_jar(archive_run: CliRun, e2e: E2EImage) -> None:
    log4j = e2e.find("maven", LOG4J)
    found = candidates(log4j, reported_packages(archive_run.json()))
    assert [r.purl for r in found] == ["pkg:maven/org.apache.logging.log4j/log4j-core@2.14.1"] == [log4j.purl]
    assert found[0].doc["FilePath"].lstrip("/") == log4j.path
    assert log4j.path.count("!/") == 2
    assert found[0].layer_index == 3


def test_go_binary_stdlib_and_modules(archive_run: CliRun, e2e: E2EImage) -> None:
    reported = reported_packages(archive_run.json())
    stdlib = e2e.find("golang", "stdlib")
    found = candidates(stdlib, reported)
    assert [(r.doc["ID"], r.layer_index) for r in found] == [(f"stdlib@{stdlib.version}", 4)]
    deps = [p for p in e2e.of_type("golang") if p.name != "stdlib" and not p.application]
    assert deps and all(len(candidates(p, reported)) == 1 for p in deps)


def test_applications_are_flagged_not_dependencies(archive_run: CliRun, e2e: E2EImage) -> None:
    reported = reported_packages(archive_run.json())
    npm_app = next(p for p in e2e.applications if p.type == "npm")
    found = candidates(npm_app, reported)
    assert len(found) == 1, "the app's own package.json must be listed (as the application)"
    assert found[0].doc.get("Excluded") == "application"
    assert found[0].doc.get("FilePath", "").lstrip("/") == npm_app.path
    for dep in e2e.of_type("npm"):
        if not dep.application:
            assert all(r.doc.get("Excluded", "") == "" for r in candidates(dep, reported))
    go_main = [p for p in e2e.applications if p.type == "golang"]
    for app in go_main:  # main module built without a version: listed, not matched
        assert all(r.doc.get("Excluded") for r in candidates(app, reported))


# ---- the registry and CycloneDX ------------------------------------------------------------

def package_keys(report: dict) -> set[tuple]:
    return {(r.doc.get("ID"), r.purl, r.doc.get("FilePath", ""), r.layer_index, r.doc.get("Layer", {}).get("DiffID"))
            for r in reported_packages(report)}


def test_registry_scan_gives_the_same_sbom(archive_run: CliRun, registry_run: CliRun, e2e: E2EImage) -> None:
    from_archive, from_registry = package_keys(archive_run.json()), package_keys(registry_run.json())
    assert from_archive and from_archive == from_registry
    layers = registry_run.json()["Metadata"]["Layers"]
    stored_plain = [built.media_type.endswith(".tar") for built in e2e.image.layers]
    assert [layer.get("Digest", "") for layer in layers] == \
        ["" if plain else built.digest for plain, built in zip(stored_plain, e2e.image.layers)]


def test_cyclonedx_lists_every_language_package(cyclonedx_run: CliRun, e2e: E2EImage) -> None:
    bom = cyclonedx_run.json()
    assert bom.get("bomFormat") == "CycloneDX"
    purls = {c.get("purl") for c in iter_components(bom.get("components") or [])}
    want = {p.purl for p in e2e.packages if p.type != "deb" and p.purl and not p.application}
    assert want - purls == set()
    gone = {p.purl for p in e2e.removed + e2e.superseded}
    assert gone & purls == set()
    deb_purls = {p for p in purls if p and PackageURL.from_string(p).type == "deb"}
    assert len(deb_purls) == len(e2e.of_type("deb"))


def iter_components(components: list[dict]):
    for comp in components:
        yield comp
        yield from iter_components(comp.get("components") or [])


# ---- the image itself (no pipeline needed) ---------------------------------------------------

def test_image_archive_and_registry_copy_open_with_the_sources(e2e: E2EImage, e2e_pushed: str) -> None:
    from layerscan.source.base import SourceOptions
    from layerscan.source.open import open_image

    for name, path, opts in ((None, str(e2e.archive), SourceOptions()),
                             (e2e_pushed, None, SourceOptions(insecure=True))):
        with open_image(name, input_path=path, options=opts) as source:
            layers = source.layers()
            assert [layer.diff_id for layer in layers] == e2e.image.diff_ids
            assert [layer.created_by for layer in layers] == [e2e.created_by(i) for i in range(len(layers))]


def test_expectations_come_from_the_installs(e2e: E2EImage) -> None:
    """The builder's expectations are what pip/npm put on disk (guards the derivation itself)."""
    pypi = {pep503(p.name): p for p in e2e.of_type("pypi")}
    assert {"flask", "requests", "jinja2", "urllib3"} <= set(pypi)
    assert pypi["urllib3"].layer == 5 and [p.layer for p in e2e.superseded] == [1]
    assert {p.name for p in e2e.of_type("npm") if not p.application} >= {"lodash", "minimist"}
    assert len(e2e.of_type("deb")) > 400 and all(p.layer == 0 for p in e2e.of_type("deb"))


def test_a_well_formed_image_has_no_unknowns(archive_run: CliRun) -> None:
    unknowns = [u for r in archive_run.json()["Results"] for u in r.get("Unknowns") or []]
    assert unknowns == []
