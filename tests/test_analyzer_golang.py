"""Go analyzers: build info of real Go binaries and every go.mod case of the corpus,
plus build info blobs and hostile binaries built here."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import CORPUS
from conftest_paths import corpus_params
from layerscan.analyzers.base import AnalysisResult
from layerscan.analyzers.golang import buildinfo, gomod, vendor_modules
from layerscan.model import Package

GO = CORPUS / "fixtures" / "go"
CASES = sorted(p.name for p in GO.iterdir()) if GO.is_dir() else []

XFAIL = {
    "scalibr-gomod-test-extractor-for-go-1.16-2":
        "the peer reads a go.sum that the fixture does not ship (go < 1.17 lists no indirect deps)",
    "trivy-mod-go-1.16":
        "Trivy's parser drops '// indirect' requires of go < 1.17 modules; we keep what go.mod declares",
}


def _gomod(path: str, data: bytes, go_sum: bytes | None = None) -> AnalysisResult:
    """The analyzer on a go.mod, with the go.sum beside it as the walker hands it over."""
    analyzer = gomod.GoModAnalyzer()
    return analyzer.analyze_with_siblings(path, data, {"go.sum": go_sum}) if go_sum is not None else \
        analyzer.analyze(path, data)


def _buildinfo(path: str, data: bytes) -> AnalysisResult:
    """The pure build-info parser run through the analyzer (without its executable sniff)."""
    return buildinfo.GoBinaryAnalyzer().run_parser(path, lambda: buildinfo.parse(data))


def _packages(case_dir: Path, inputs: list[str]) -> list[Package]:
    packages: list[Package] = []
    for rel in inputs:
        data = (case_dir / rel).read_bytes()
        if rel.endswith("go.mod"):
            go_sum = case_dir / "go.sum"
            result = _gomod(rel, data, go_sum.read_bytes() if go_sum.exists() else None)
        elif rel.endswith(("go.sum", "LICENSE")):
            continue
        elif rel.endswith("modules.txt"):
            result = vendor_modules.VendorModulesAnalyzer().analyze("vendor/modules.txt", data)
        else:
            result = _buildinfo(rel, data)
        assert not result.unknowns, result.unknowns
        packages.extend(result.packages)
    return packages


@pytest.mark.parametrize("case", corpus_params(CASES, XFAIL))
def test_corpus_case(corpus: Path, case: str) -> None:
    case_dir = corpus / "fixtures" / "go" / case
    expected = json.loads((case_dir / "expected.json").read_text())
    packages = _packages(case_dir, expected["inputs"])
    peer = case.split("-", 1)[0]
    binary = "-binary-" in case
    want = {(p["name"], p["version"]) for p in expected["packages"]}
    got = {(p.name, p.version) for p in packages if binary or not (p.is_application or p.version_unknown_reason)}
    if peer == "scalibr":
        # scalibr drops the "v" of module versions and derives stdlib from the go directive,
        # which we deliberately do not (a minimum version is not a toolchain).
        want = {(n, v.removeprefix("v")) for n, v in want if n != "stdlib" and v}
        got = {(n, v.removeprefix("v")) for n, v in got}
        # scalibr keeps the version of a module replaced by a local directory; we list it
        # unversioned (the code is the directory's, not that release's), as go.mod does.
        local = {p.name for p in packages if p.version_unknown_reason.startswith("replaced by local directory")}
        want = {(n, v) for n, v in want if n not in local}
    assert got == want
    for p in expected["packages"]:
        if "indirect" in p:
            assert any(q.indirect == p["indirect"] for q in packages if q.name == p["name"])


def test_binary_purls_and_application(corpus: Path) -> None:
    data = (corpus / "fixtures/go/trivy-binary-happy-path/executable_gobinary").read_bytes()
    analyzer = buildinfo.GoBinaryAnalyzer()
    assert analyzer.wants("usr/local/bin/app", 0o755, len(data))
    assert not analyzer.wants("usr/share/doc/README", 0o644, len(data))
    pkgs = {p.name: p for p in analyzer.analyze("usr/local/bin/app", data).packages}
    assert pkgs["stdlib"].purl == "pkg:golang/stdlib@v1.15.2"
    assert dict(pkgs["stdlib"].extra)["go_toolchain"] == "go1.15.2"
    assert pkgs["golang.org/x/xerrors"].purl == (
        "pkg:golang/golang.org/x/xerrors@v0.0.0-20200804184101-5ec99f83aff1")
    main = pkgs["github.com/aquasecurity/test"]
    assert main.is_application and not main.matchable


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _inline_buildinfo(version: str, modinfo: str) -> bytes:
    sentinel = b"0123456789abcdef"
    mod = sentinel + modinfo.encode() + b"\n" + sentinel
    header = buildinfo.MAGIC + bytes([8, 2]) + b"\0" * 16
    return (b"\x7fELF" + b"\0" * 60 + header + _varint(len(version)) + version.encode()
            + _varint(len(mod)) + mod)


def test_inline_buildinfo_with_replace() -> None:
    modinfo = "\n".join([
        "path\texample.com/app", "mod\texample.com/app\tv1.4.0\th1:x=",
        "dep\tgolang.org/x/net\tv0.1.0\th1:y=", "=>\texample.com/fork/net\tv0.1.5\th1:z=",
        "dep\tgithub.com/pkg/errors\tv0.9.1\th1:w=",
    ])
    result = _buildinfo("app", _inline_buildinfo("go1.21.1 X:boringcrypto", modinfo))
    got = {(p.name, p.version, p.is_application) for p in result.packages}
    assert got == {
        ("example.com/app", "v1.4.0", False), ("stdlib", "v1.21.1", False),
        ("example.com/fork/net", "v0.1.5", False), ("github.com/pkg/errors", "v0.9.1", False),
    }


@pytest.mark.parametrize("blob", [
    b"\x7fELF" + b"\0" * 12 + buildinfo.MAGIC,  # truncated header
    b"\x7fELF" + b"\0" * 60 + buildinfo.MAGIC + bytes([8, 2]) + b"\0" * 16 + b"\xff" * 12,  # runaway varint
    b"\x7fELF" + b"\0" * 60 + buildinfo.MAGIC + bytes([8, 2]) + b"\0" * 16 + _varint(1 << 40) + b"go",
    b"\x7fELF\x02\x01" + b"\0" * 58 + buildinfo.MAGIC + bytes([8, 0]) + b"\x10" * 16,  # pointers, no sections
    b"MZ" + b"\0" * 62 + buildinfo.MAGIC + bytes([4, 0]) + b"\x10" * 16,
])
def test_hostile_buildinfo_is_unknown(blob: bytes) -> None:
    result = _buildinfo("bad", blob)
    assert not result.packages
    assert result.unknowns and "Go build info unreadable" in result.unknowns[0].reason


def test_non_go_executable_is_ignored() -> None:
    assert buildinfo.GoBinaryAnalyzer().analyze("bin/sh", b"\x7fELF" + b"\0" * 4000).empty
    assert buildinfo.GoBinaryAnalyzer().analyze("run.sh", b"#!/bin/sh\n" + buildinfo.MAGIC).empty


def test_gomod_replace_exclude_and_local() -> None:
    text = b"""module example.com/app

go 1.21

require (
\tgithub.com/a/one v1.0.0
\tgithub.com/b/two v2.0.0 // indirect
\tgithub.com/c/three v0.3.0
\tgithub.com/d/four v4.0.0
)
exclude github.com/d/four v4.0.0
replace github.com/a/one v1.0.0 => github.com/fork/one v1.0.1
replace github.com/c/three => ../three
replace broken =>
"""
    result = _gomod("go.mod", text)
    got = {(p.name, p.version, p.indirect, p.is_application) for p in result.packages}
    assert got == {
        ("example.com/app", "", False, True), ("github.com/fork/one", "v1.0.1", False, False),
        ("github.com/b/two", "v2.0.0", True, False), ("github.com/c/three", "", False, False),
    }
    three = next(p for p in result.packages if p.name == "github.com/c/three")
    assert "local directory ../three" in three.version_unknown_reason
    assert [u.reason for u in result.unknowns] == ["line 14: malformed replace"]


def test_gomod_toolchain_and_missing_go_directive() -> None:
    """No ``go`` line: the go command assumes go 1.16, so indirect modules come from go.sum;
    a ``toolchain`` line (with its suffix) is no dependency and no problem."""
    text = b"module example.com/old\nrequire github.com/a/one v1.0.0\n"
    go_sum = (b"github.com/a/one v1.0.0 h1:x=\ngithub.com/a/one v1.0.0/go.mod h1:y=\n"
              b"github.com/z/dep v0.2.0 h1:z=\ngithub.com/z/dep v0.2.0/go.mod h1:w=\n")
    result = _gomod("go.mod", text, go_sum)
    assert {(p.name, p.version, p.indirect) for p in result.packages if not p.is_application} == {
        ("github.com/a/one", "v1.0.0", False), ("github.com/z/dep", "v0.2.0", True)}
    modern = _gomod("go.mod", b"module m\ngo 1.21.0\ntoolchain go1.22.4+auto\nrequire x.example/y v1.0.0\n", go_sum)
    assert [(p.name, p.version) for p in modern.packages if not p.is_application] == [("x.example/y", "v1.0.0")]
    assert modern.unknowns == ()


def test_vendor_modules_headers_replacements_and_bad_lines() -> None:
    text = (b"# a.example/x v1.0.0\n## explicit; go 1.21\na.example/x/pkg\na.example/x/pkg/sub\n"
            b"# a.example/only v0.1.0\n## explicit\n"
            b"# a.example/y v1.2.0 => ./y\n## explicit\na.example/y\n"
            b"# a.example/z => b.example/z v0.9.0\nb.example/z\n"
            b"# broken header with too many words\nc.example/p\nc.example/q\n")
    analyzer = vendor_modules.VendorModulesAnalyzer()
    assert analyzer.wants("src/app/vendor/modules.txt", 0o644, len(text))
    assert not analyzer.wants("modules.txt", 0o644, 1)
    result = analyzer.analyze("src/app/vendor/modules.txt", text)
    assert [(p.name, p.version, p.matchable) for p in result.packages] == [
        ("a.example/x", "v1.0.0", True), ("a.example/y", "", False), ("b.example/z", "v0.9.0", True)]
    assert result.packages[0].purl == "pkg:golang/a.example/x@v1.0.0"
    assert result.packages[0].file_path == "src/app/vendor/modules.txt"
    assert [u.reason for u in result.unknowns] == ["malformed module line '# broken header with too many words'"]
    assert analyzer.analyze("vendor/modules.txt", b"\xff\xfe\xd8").unknowns


def test_gomod_replacements_as_go_resolves_them() -> None:
    """Go modules reference: ``a v1 => b v2`` replaces only a@v1 and wins over ``a => ...``; a
    versioned replacement builds b at its version; a directory keeps a, without a version; a
    versionless replacement that is no directory is an error (here an Unknown for its line)."""
    text = b"""module example.com/app
go 1.22rc1
toolchain go1.22.0+auto
require (
\tgithub.com/a/one v1.0.0
\tgithub.com/a/two v2.0.0
\tgithub.com/a/three v3.0.0
\tgithub.com/a/four v4.0.0
)
replace github.com/a/one => github.com/fork/one v1.5.0
replace github.com/a/one v1.0.0 => github.com/fork/one v1.0.9
replace github.com/a/two v1.9.0 => github.com/fork/two v1.9.9
replace github.com/a/three => /src/three
replace github.com/a/four => github.com/fork/four
"""
    result = _gomod("go.mod", text)
    got = {(p.name, p.version, p.version_unknown_reason, p.evidence) for p in result.packages if not p.is_application}
    assert got == {
        ("github.com/fork/one", "v1.0.9", "",
         "go.mod replace github.com/a/one v1.0.0 => github.com/fork/one v1.0.9"),
        ("github.com/a/two", "v2.0.0", "", "go.mod"),
        ("github.com/a/three", "", "replaced by local directory /src/three",
         "go.mod replace github.com/a/three v3.0.0 => /src/three"),
        ("github.com/a/four", "v4.0.0", "", "go.mod"),
    }
    assert [u.reason for u in result.unknowns] == [
        "line 14: replacement github.com/fork/four has no version and is not a directory"]
    fork = next(p for p in result.packages if p.name == "github.com/fork/one")
    assert fork.purl == "pkg:golang/github.com/fork/one@v1.0.9" and fork.matchable


def test_gomod_go_directive_with_suffix() -> None:
    go_sum = b"github.com/z/dep v0.2.0 h1:z=\n"
    old = _gomod("go.mod", b"module m\ngo 1.16rc1\nrequire x.example/y v1.0.0\n", go_sum)
    assert ("github.com/z/dep", "v0.2.0", True) in {(p.name, p.version, p.indirect) for p in old.packages}
    new = _gomod("go.mod", b"module m\ngo 1.21rc2\nrequire x.example/y v1.0.0\n", go_sum)
    assert "github.com/z/dep" not in {p.name for p in new.packages}


def test_buildinfo_and_gomod_agree_on_replacements() -> None:
    """The same replacements, recorded by the linker (``dep`` + ``=>``) and written in go.mod."""
    modinfo = "\n".join([
        "path\texample.com/app", "mod\texample.com/app\t(devel)\t",
        "dep\tgolang.org/x/net\tv0.1.0\th1:y=", "=>\texample.com/fork/net\tv0.1.5\th1:z=",
        "dep\texample.com/local\tv1.0.0\t", "=>\t../local\t\t",
    ])
    binary = _buildinfo("app", _inline_buildinfo("go1.22.1", modinfo)).packages
    source = _gomod("go.mod", b"module example.com/app\ngo 1.22\nrequire (\n\tgolang.org/x/net v0.1.0\n"
                    b"\texample.com/local v1.0.0\n)\nreplace golang.org/x/net => example.com/fork/net v0.1.5\n"
                    b"replace example.com/local => ../local\n").packages

    def deps(packages: tuple[Package, ...]) -> set[tuple[str, str, str, str]]:
        return {(p.name, p.version, p.version_unknown_reason, p.evidence.split(" replace ")[-1])
                for p in packages if p.name not in ("example.com/app", "stdlib")}

    assert deps(binary) == deps(source) == {
        ("example.com/fork/net", "v0.1.5", "", "golang.org/x/net v0.1.0 => example.com/fork/net v0.1.5"),
        ("example.com/local", "", "replaced by local directory ../local", "example.com/local v1.0.0 => ../local"),
    }


def test_gomod_hostile_input_is_no_traceback() -> None:
    garbage = b"\xff\xfe\x00" * 5000 + b"\nreplace (\n" + b"a => b\n" * 2000 + b"require x"  # unterminated block
    result = _gomod("go.mod", garbage)
    assert not [p for p in result.packages if p.matchable]
    assert len(result.unknowns) <= 51 and all(u.reason for u in result.unknowns)
