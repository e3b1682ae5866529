""".NET analyzers: *.deps.json, packages.lock.json and packages.config, on the corpus cases."""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import CORPUS, corpus_available
from fixtures.lang1.harness import (case_dirs, cases_with_flags, expected_set, flag_mismatches, missing_unversioned,
                                    params, run_case, versioned)
from layerscan.analyzers.dotnet.deps_json import DepsJsonAnalyzer
from layerscan.analyzers.dotnet.packages_config import PackagesConfigAnalyzer
from layerscan.analyzers.dotnet.packages_lock import PackagesLockAnalyzer

ANALYZERS = [DepsJsonAnalyzer(), PackagesLockAnalyzer(), PackagesConfigAnalyzer()]
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
    "scalibr-paketlock-valid-paket.lock-file": "paket.lock is not implemented",
    "scalibr-projectassetsjson-valid_project.assets.json": "project.assets.json is not implemented",
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
