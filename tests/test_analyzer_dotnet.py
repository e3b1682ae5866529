""".NET analyzers: *.deps.json, packages.lock.json, packages.config, project.assets.json and paket.lock, on the
corpus cases."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import CORPUS, corpus_available
from fixtures.lang1.harness import (case_dirs, cases_with_flags, expected_set, flag_mismatches, missing_unversioned,
                                    params, run_case, versioned)
from layerscan.analyzers.dotnet.deps_json import DepsJsonAnalyzer
from layerscan.analyzers.dotnet.packages_config import PackagesConfigAnalyzer
from layerscan.analyzers.dotnet.packages_lock import PackagesLockAnalyzer
from layerscan.analyzers.dotnet.paket_lock import PaketLockAnalyzer
from layerscan.analyzers.dotnet.project_assets import ProjectAssetsAnalyzer

ANALYZERS = [DepsJsonAnalyzer(), PackagesLockAnalyzer(), PackagesConfigAnalyzer(), ProjectAssetsAnalyzer(),
             PaketLockAnalyzer()]
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
}
SKIP = {
    "scalibr-dotnetpe-valid-.dll": ".NET PE assembly metadata is not implemented",
}
FLAG_XFAIL: dict[str, str] = {}


@pytest.mark.parametrize("case", params(ALL_CASES, XFAIL, SKIP))
def test_corpus_case_packages(corpus: Path, case: str) -> None:
    run = run_case(corpus / "fixtures" / "nuget" / case, ANALYZERS, RENAME.get(case))
    assert versioned(run) == expected_set(run)
    assert missing_unversioned(run) == set()


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
