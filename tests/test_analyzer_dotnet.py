""".NET analyzers: *.deps.json, packages.lock.json, packages.config, project.assets.json and paket.lock, on the
corpus cases."""

from __future__ import annotations

import json
import struct
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import CORPUS, corpus_available
from fixtures.lang1.harness import (case_dirs, cases_with_flags, expected_set, flag_mismatches, missing_unversioned,
                                    params, run_case, versioned)
from layerscan.analyzers.dotnet.deps_json import DepsJsonAnalyzer
from layerscan.analyzers.dotnet.packages_config import PackagesConfigAnalyzer
from layerscan.analyzers.dotnet.packages_lock import PackagesLockAnalyzer
from layerscan.analyzers.dotnet.paket_lock import PaketLockAnalyzer
from layerscan.analyzers.dotnet.pe_assembly import PEAssemblyAnalyzer
from layerscan.analyzers.dotnet.project_assets import ProjectAssetsAnalyzer

ANALYZERS = [DepsJsonAnalyzer(), PackagesLockAnalyzer(), PackagesConfigAnalyzer(), ProjectAssetsAnalyzer(),
             PaketLockAnalyzer(), PEAssemblyAnalyzer()]
ALL_CASES = case_dirs(CORPUS if corpus_available() else None, "nuget")
RENAME = {
    "scalibr-depsjson-valid_application1.deps.json_file": {"valid": "app/application1.deps.json"},
    "scalibr-packagesconfig-packages-without-version": {"noversion": "packages.config"},
    "scalibr-packagesconfig-valid-packages.config-file": {"valid": "packages.config"},
}
XFAIL = {
    "trivy-config-with-development-dependency": "trivy drops developmentDependency packages; we list them with dev=True",
    "trivy-core_deps-happy-path-with-skipped-libs": "trivy skips libraries without runtime assets in 'targets' "
        "(meta-packages such as Microsoft.NETCore.App); we list every resolved package",
    "scalibr-dotnetpe-valid-.dll": "scalibr reports the AssemblyVersion 1.0.0.0; we report the ProductVersion 1.0.0 "
        "(the AssemblyInformationalVersion, i.e. the NuGet version: AssemblyVersion is often pinned, 13.0.0.0 for "
        "every Newtonsoft.Json 13.x); the rest agrees, see test_pe_assembly_corpus_dll_names_and_versions",
}
SKIP: dict[str, str] = {}
# scalibr names an assembly by its file name ("Newtonsoft.Json.dll"); we use the assembly name
# from the metadata ("Newtonsoft.Json", the NuGet id), so the comparison drops the suffix.
NORM = {"scalibr-dotnetpe-valid-.dll": lambda name: name.removesuffix(".dll")}
FLAG_XFAIL: dict[str, str] = {}


@pytest.mark.parametrize("case", params(ALL_CASES, XFAIL, SKIP))
def test_corpus_case_packages(corpus: Path, case: str) -> None:
    run = run_case(corpus / "fixtures" / "nuget" / case, ANALYZERS, RENAME.get(case))
    norm = NORM.get(case, str)
    assert versioned(run, norm) == expected_set(run, norm)
    assert missing_unversioned(run, norm) == set()


@pytest.mark.parametrize("case", params(cases_with_flags(CORPUS if corpus_available() else None, "nuget"),
                                        FLAG_XFAIL, SKIP))
def test_corpus_case_flags(corpus: Path, case: str) -> None:
    run = run_case(corpus / "fixtures" / "nuget" / case, ANALYZERS, RENAME.get(case))
    assert flag_mismatches(run, "dev") + flag_mismatches(run, "indirect") == []


def test_deps_json_lock_and_config_own_fixtures() -> None:
    deps = (b'{"libraries": {"app/1.0.0": {"type": "project"}, "Newtonsoft.Json/12.0.1": {"type": "package"},'
            b' "runtimepack.Microsoft.NETCore.App.Runtime.linux-x64/8.0.0": {"type": "runtimepack"},'
            b' "System.Runtime/4.0.0": {"type": "reference"}, "broken": {"type": "package"}}}')
    result = DepsJsonAnalyzer().analyze("app/app.deps.json", deps)
    assert {(p.name, p.version, p.is_application) for p in result.packages} == {
        ("app", "1.0.0", True), ("Newtonsoft.Json", "12.0.1", False),
        ("Microsoft.NETCore.App.Runtime.linux-x64", "8.0.0", False)}
    assert result.packages[1].purl == "pkg:nuget/Newtonsoft.Json@12.0.1" and len(result.unknowns) == 1
    lock = (b'{"dependencies": {"net6.0": {"A": {"type": "Direct", "resolved": "1.0.0"},'
            b' "B": {"type": "Transitive", "resolved": "2.0.0"}}, "net8.0": {"B": {"type": "Direct", "resolved": "2.0.0"}}}}')
    flags = {p.name: p.indirect for p in PackagesLockAnalyzer().analyze("packages.lock.json", lock).packages}
    assert flags == {"A": False, "B": False}
    bomb = b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa">]><packages>&a;</packages>'
    assert "DTD" in PackagesConfigAnalyzer().analyze("packages.config", bomb).unknowns[0].reason
    config = b'<packages><package id="X" version="1.0" developmentDependency="true"/><package id="Y"/></packages>'
    found = PackagesConfigAnalyzer().analyze("packages.config", config).packages
    assert [(p.name, p.version, p.dev, p.matchable) for p in found] == [("X", "1.0", True, True), ("Y", "", False, False)]


def test_project_assets_direct_indirect_and_projects() -> None:
    doc = {"version": 3,
           "libraries": {"Serilog/2.10.0": {"type": "package"}, "serilog.sinks.console/4.0.0": {"type": "package"},
                         "Lib/1.0.0": {"type": "project"}, "noversion": {"type": "package"}},
           "project": {"version": "3.1.0", "restore": {"projectName": "Api"},
                       "frameworks": {"net8.0": {"dependencies": {"SERILOG": {"target": "Package"}}}}}}
    result = ProjectAssetsAnalyzer().analyze("src/Api/obj/project.assets.json", json.dumps(doc).encode())
    assert {(p.name, p.version, p.indirect, p.is_application) for p in result.packages} == {
        ("Api", "3.1.0", False, True), ("Serilog", "2.10.0", False, False),
        ("serilog.sinks.console", "4.0.0", True, False), ("Lib", "1.0.0", False, True)}
    assert [u.reason for u in result.unknowns] == ["library key 'noversion' is not Name/Version"]
    assert "no 'libraries'" in ProjectAssetsAnalyzer().analyze("project.assets.json", b"{}").unknowns[0].reason


def test_paket_lock_groups_sections_and_bad_input() -> None:
    lock = (b"NUGET\n  remote: https://api.nuget.org/v3/index.json\n    FSharp.Core (4.3.4) - restriction: >= net45\n"
            b"      System.ValueTuple (>= 4.4)\nGITHUB\n  remote: fsprojects/FAKE\n    src/app/Globbing.fs (0341a2e6)\n"
            b"HTTP\n  remote: https://example.com\n    file.fs (/file.fs)\n"
            b"GROUP Test\nNUGET\n  remote: https://api.nuget.org/v3/index.json\n    NUnit (3.13.1)\n")
    found = PaketLockAnalyzer().analyze("paket.lock", lock).packages
    assert [(p.type, p.name, p.version, dict(p.extra)["group"]) for p in found] == [
        ("nuget", "FSharp.Core", "4.3.4", "Main"), ("github", "src/app/Globbing.fs", "0341a2e6", "Main"),
        ("nuget", "NUnit", "3.13.1", "Test")]
    assert found[1].purl == "pkg:github/fsprojects/fake@0341a2e6"
    for bad in (b"\xff\xfe\x00garbage\xd8", b"just some text\n"):
        result = PaketLockAnalyzer().analyze("paket.lock", bad)
        assert not result.packages and result.unknowns[0].reason


def test_deps_json_invalid_entries_are_unknowns_and_the_rest_kept() -> None:
    deps = (b'{"libraries": {"Good/1.0.0": {"type": "package"}, "NoVersion/": {"type": "package"},'
            b' "Str/1.0.0": "package", "Num/2.0.0": 7, "Two/1.0/x": {"type": "package"},'
            b' "Other/3.0.0": {"type": "package", "sha512": null}}}')
    result = DepsJsonAnalyzer().analyze("app/app.deps.json", deps)
    assert [(p.name, p.version) for p in result.packages] == [("Good", "1.0.0"), ("Other", "3.0.0")]
    assert sorted(u.reason for u in result.unknowns) == [
        "library 'Num/2.0.0' is a int, not an object", "library 'Str/1.0.0' is a str, not an object",
        "library key 'NoVersion/' is not Name/Version", "library key 'Two/1.0/x' is not Name/Version"]
    bad = DepsJsonAnalyzer().analyze("app.deps.json", b'{"libraries": ["A/1.0"]}')
    assert not bad.packages and "'libraries' is a list" in bad.unknowns[0].reason


# ---------------------------------------------------------------- PE / CLR metadata (ECMA-335 II.24, II.25)

def _pe_assembly(assembly: tuple[str, tuple[int, int, int, int]] | None, refs: list[tuple[str, tuple[int, ...]]],
                 *, clr: bool = True, ref_rows: int | None = None, signature: bytes = b"BSJB") -> bytes:
    """A minimal PE32 file with one section holding a CLI header and metadata (#~ and #Strings)."""
    strings = bytearray(b"\0")

    def intern(name: str) -> int:
        strings.extend(name.encode() + b"\0")
        return len(strings) - len(name) - 1

    rows = b""
    valid = 0
    counts = []
    if assembly:
        valid |= 1 << 0x20
        counts.append(1)
        rows += struct.pack("<I4HIHHH", 0x8004, *assembly[1], 0, 0, intern(assembly[0]), 0)
    if refs:
        valid |= 1 << 0x23
        counts.append(len(refs) if ref_rows is None else ref_rows)
        for name, version in refs:
            rows += struct.pack("<4HIHHHH", *version, 0, 0, intern(name), 0, 0)
    tables = struct.pack("<IBBBBQQ", 0, 2, 0, 0, 1, valid, 0) + b"".join(struct.pack("<I", c) for c in counts) + rows
    tables += b"\0" * (-len(tables) % 4)
    strings_heap = bytes(strings) + b"\0" * (-len(strings) % 4)
    version = b"v4.0.30319\0\0"
    headers_size = 16 + len(version) + 4 + (8 + 4) + (8 + 12)
    root = (signature + struct.pack("<HHII", 1, 1, 0, len(version)) + version + struct.pack("<HH", 0, 2)
            + struct.pack("<II", headers_size, len(tables)) + b"#~\0\0"
            + struct.pack("<II", headers_size + len(tables), len(strings_heap)) + b"#Strings\0\0\0\0")
    metadata = root + tables + strings_heap
    section_rva, raw_ptr = 0x2000, 0x200
    cli = struct.pack("<IHHII", 72, 2, 5, section_rva + 72, len(metadata)).ljust(72, b"\0")
    body = cli + metadata
    dos = b"MZ".ljust(0x3C, b"\0") + struct.pack("<I", 0x40)
    coff = b"PE\0\0" + struct.pack("<HHIIIHH", 0x14C, 1, 0, 0, 0, 224, 0x2102)
    optional = bytearray(224)
    struct.pack_into("<H", optional, 0, 0x10B)
    struct.pack_into("<I", optional, 28, 0x400000)
    struct.pack_into("<I", optional, 92, 16)
    if clr:
        struct.pack_into("<II", optional, 96 + 8 * 14, section_rva, 72)
    section = struct.pack("<8sIIII12xI", b".text", len(body), section_rva, len(body), raw_ptr, 0x60000020)
    head = (dos + coff + bytes(optional) + section).ljust(raw_ptr, b"\0")
    return head + body


def test_pe_assembly_from_constructed_metadata() -> None:
    data = _pe_assembly(("Demo.Lib", (2, 1, 0, 7)), [("Newtonsoft.Json", (13, 0, 0, 0)), ("System.Runtime", (8, 0, 0, 0))])
    result = PEAssemblyAnalyzer().analyze("app/Demo.Lib.dll", data)
    assert result.unknowns == ()
    assert [(p.name, p.version, p.matchable, p.evidence) for p in result.packages] == [
        ("Demo.Lib", "2.1.0.7", True, "PE CLR metadata: Assembly table"),
        ("Newtonsoft.Json", "13.0.0.0", False, "PE CLR metadata: AssemblyRef table"),
        ("System.Runtime", "8.0.0.0", False, "PE CLR metadata: AssemblyRef table")]
    assert result.packages[0].purl == "pkg:nuget/Demo.Lib@2.1.0.7"
    assert all(p.file_path == "app/Demo.Lib.dll" and p.found_by == "dotnet-pe-assembly" for p in result.packages)


def test_pe_assembly_corpus_dll_names_and_versions(corpus: Path) -> None:
    data = (corpus / "fixtures/nuget/scalibr-dotnetpe-valid-.dll/HelloWorldApp.dll").read_bytes()
    result = PEAssemblyAnalyzer().analyze("app/HelloWorldApp.dll", data)
    assert result.unknowns == ()
    app = result.packages[0]
    assert (app.name, app.version, app.matchable, app.evidence) == (
        "HelloWorldApp", "1.0.0", True, "PE CLR metadata: version resource ProductVersion")
    assert dict(app.extra) == {"assembly_version": "1.0.0.0", "file_version": "1.0.0.0", "product_version": "1.0.0"}
    expected = json.loads((corpus / "fixtures/nuget/scalibr-dotnetpe-valid-.dll/expected.json").read_text())
    assert {(p.name + ".dll", p.version) for p in result.packages[1:]} | {("HelloWorldApp.dll", "1.0.0.0")} == {
        (p["name"], p["version"]) for p in expected["packages"]}
    assert not any(p.matchable for p in result.packages[1:])
    # a broken version resource: an Unknown, the assembly still reported from its Assembly table
    at = data.find("VS_VERSION_INFO".encode("utf-16-le")) - 6
    broken = PEAssemblyAnalyzer().analyze("app/HelloWorldApp.dll", data[:at] + b"\xff\xff" + data[at + 2 :])
    assert broken.packages[0].version in ("1.0.0", "1.0.0.0")
    rsrc = data.find(b".rsrc")
    unreadable = PEAssemblyAnalyzer().analyze("a.dll", data[:rsrc + 12] + b"\xff\xff\xff\x7f" + data[rsrc + 16 :])
    assert unreadable.packages[0].version == "1.0.0.0"
    assert "version resource unreadable" in unreadable.unknowns[0].reason


def test_pe_without_clr_header_or_not_pe_is_ignored() -> None:
    analyzer = PEAssemblyAnalyzer()
    assert analyzer.analyze("native.dll", _pe_assembly(("X", (1, 0, 0, 0)), [], clr=False)).empty
    assert analyzer.analyze("readme.dll", b"not a PE file at all").empty
    assert analyzer.wants("usr/share/app/Lib.DLL", 0o100644, 10) and not analyzer.wants("lib.so", 0o100644, 10)
    framework = "usr/share/dotnet/shared/Microsoft.NETCore.App/8.0.1/System.Text.Json.dll"
    assert not analyzer.wants(framework, 0o100644, 10)  # its Microsoft.NETCore.App.deps.json lists it


@pytest.mark.parametrize("data, reason", [
    (_pe_assembly(("X", (1, 0, 0, 0)), [("Y", (1, 0, 0, 0))], ref_rows=0x7FFFFFFF), "claims"),
    (_pe_assembly(("X", (1, 0, 0, 0)), [("Y", (1, 0, 0, 0))], ref_rows=40), "truncated"),
    (_pe_assembly(("X", (1, 0, 0, 0)), [], signature=b"XXXX"), "BSJB"),
    (_pe_assembly(("X", (1, 0, 0, 0)), [])[:0x230], "PE file unreadable"),
    (b"MZ" + b"\xff" * 200, "PE file unreadable"),
    (_pe_assembly(None, [("Y", (1, 0, 0, 0))]), "no Assembly row"),
])
def test_hostile_pe_is_unknown(data: bytes, reason: str) -> None:
    result = PEAssemblyAnalyzer().analyze("bad.dll", data)
    assert result.unknowns and reason in result.unknowns[0].reason, result.unknowns
    assert all(not p.matchable for p in result.packages)


def test_cli_rootfs_lists_the_assembly(tmp_path: Path) -> None:
    (tmp_path / "app").mkdir()
    (tmp_path / "app" / "Demo.Lib.dll").write_bytes(_pe_assembly(("Demo.Lib", (2, 1, 0, 7)), [("Dep", (1, 0, 0, 0))]))
    (tmp_path / "app" / "broken.dll").write_bytes(b"MZ" + b"\xff" * 100)
    run = subprocess.run([sys.executable, "-m", "layerscan", "rootfs", str(tmp_path), "--sbom-only",
                          "--list-all-pkgs", "-f", "json", "-q"], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    assert "Traceback" not in run.stderr
    results = {r["Target"]: r for r in json.loads(run.stdout)["Results"]}
    assert {(p["Name"], p["Version"]) for p in results["app/Demo.Lib.dll"]["Packages"]} == {
        ("Demo.Lib", "2.1.0.7"), ("Dep", "1.0.0.0")}
