"""Python analyzers: installed metadata (dist-info, egg-info, eggs) and lockfiles, on the corpus cases."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest

from conftest import CORPUS, corpus_available
from fixtures.lang1.harness import (case_dirs, cases_with_flags, expected_set, flag_mismatches, params, run_case,
                                    versioned)
from layerscan.analyzers.langbase import pep503
from layerscan.analyzers.python import egg, metadata, pipfile_lock, poetry_lock, requirements, uv_lock
from layerscan.analyzers.python.egg import PythonEggAnalyzer
from layerscan.analyzers.python.metadata import PythonMetadataAnalyzer
from layerscan.analyzers.python.pdm_lock import PdmLockAnalyzer
from layerscan.analyzers.python.pipfile_lock import PipfileLockAnalyzer
from layerscan.analyzers.python.poetry_lock import PoetryLockAnalyzer
from layerscan.analyzers.python.pylock import PylockAnalyzer
from layerscan.analyzers.python.requirements import RequirementsAnalyzer
from layerscan.analyzers.python.uv_lock import UvLockAnalyzer

ANALYZERS = [PythonMetadataAnalyzer(), PythonEggAnalyzer(), RequirementsAnalyzer(), PipfileLockAnalyzer(),
             PoetryLockAnalyzer(), UvLockAnalyzer(), PdmLockAnalyzer(), PylockAnalyzer()]
SITE = "usr/lib/python3/site-packages/"

# Corpus inputs kept under the peer's test-file name: the path a scanner would see instead.
RENAME = {
    "scalibr-wheelegg-.dist-info-metadata": {"distinfo_meta": SITE + "x-1.0.dist-info/METADATA"},
    "scalibr-wheelegg-.egg-info-pkg-info": {"pkginfo": SITE + "x-1.0.egg-info/PKG-INFO"},
    "scalibr-wheelegg-.egg-info": {"egginfo": SITE + "x-1.0.egg-info"},
    "scalibr-wheelegg-malformed_pkg-info": {"malformed_pkginfo": SITE + "x-1.0.egg-info/PKG-INFO"},
    "scalibr-wheelegg-mixed-case-key": {"mixed_case": SITE + "x-1.0.dist-info/METADATA"},
    "scalibr-wheelegg-special-characters": {"special_chars": SITE + "x-1.0.dist-info/METADATA"},
    "syft-python-partial-dist-info-directory": {"METADATA": SITE + "x-1.0.dist-info/METADATA"},
    "trivy-packaging-egg-pkg-info": {"setuptools-51.3.3-py3.8.egg-info.PKG-INFO":
                                     SITE + "setuptools-51.3.3-py3.8.egg-info/PKG-INFO"},
    "trivy-packaging-egg-pkg-info-with-description-containing-non-rfc-7230-bytes": {
        "unidecode-egg-info.PKG-INFO": SITE + "unidecode.egg-info/PKG-INFO"},
    **{case: {f"{stem}.METADATA": SITE + f"{stem}.dist-info/METADATA"} for case, stem in (
        ("trivy-packaging-wheel-metadata", "simple-0.1.0"),
        ("trivy-packaging-wheel-metadata-2", "distlib-0.3.1"),
        ("trivy-packaging-wheel-metadata-3", "asyncssh-2.14.2"),
        ("trivy-packaging-wheel-metadata-4", "pyphen-0.14.0"),
        ("trivy-packaging-with-license-expression-field", "iniconfig-2.0.0"),
        ("trivy-packaging-without-licenses-but-with-a-license-file-a-license-in-classi", "networkx-3.0"),
    )},
}

XFAIL = {
    "scalibr-requirements-per_requirement_options":
        "peer keeps 'foo7==1.0 unexpected_text...' as version '1.0 unexpected_text...'; we record it as unknown",
    "scalibr-requirements-pip_example": "peer follows -r other-requirements.txt (absent here) and takes minimum "
        "versions from >=/~=; we list those as unpinned and identify the two wheel-file lines",
    "scalibr-requirements-with_version": "peer takes the version of >= and <= specifiers; we list them as unpinned",
    "trivy-pip-compatible-versions": "peer runs with its minimum-version option (>=, ~=, wildcard); we list unpinned",
    "scalibr-uvlock-grouped-packages": "peer's expectation lists 3 of the lockfile's packages; we report all",
    "syft-python-testparsepipfilelock": "peer drops the 'develop' section; we list it with dev=True",
}
SKIP = {
    "scalibr-pyprojecttoml-extras_syntax": "pyproject.toml declares ranges, not installed versions: not inventoried",
    "scalibr-pyprojecttoml-optional_deps": "pyproject.toml declares ranges, not installed versions: not inventoried",
}
FLAG_XFAIL = {
    "trivy-poetry-with-groups": "dev/indirect come from the sibling pyproject.toml in the peer; our analyzer "
        "reads one file and this lockfile carries no groups",
}

ALL_CASES = case_dirs(CORPUS if corpus_available() else None, "pypi")


@pytest.mark.parametrize("case", params(ALL_CASES, XFAIL, SKIP))
def test_corpus_case_packages(corpus: Path, case: str) -> None:
    run = run_case(corpus / "fixtures" / "pypi" / case, ANALYZERS, RENAME.get(case))
    assert versioned(run, pep503) == expected_set(run, pep503)


@pytest.mark.parametrize("case", params(cases_with_flags(CORPUS if corpus_available() else None, "pypi"),
                                        FLAG_XFAIL, SKIP))
def test_corpus_case_flags(corpus: Path, case: str) -> None:
    run = run_case(corpus / "fixtures" / "pypi" / case, ANALYZERS, RENAME.get(case))
    assert flag_mismatches(run, "dev", pep503) + flag_mismatches(run, "indirect", pep503) == []


# ---------------------------------------------------------------- own fixtures and hostile input


def test_requirements_unpinned_and_includes_are_recorded() -> None:
    data = b"flask==0.12.2\nrequests>=2.19\n-r base.txt\nurllib3 @ https://x/u.zip\nJinja2[i18n]==2.10 ; python_version>'3'\n"
    result = RequirementsAnalyzer().analyze("app/requirements.txt", data)
    by_name = {p.name: p for p in result.packages}
    assert by_name["flask"].version == "0.12.2" and by_name["flask"].purl == "pkg:pypi/flask@0.12.2"
    assert by_name["Jinja2"].purl == "pkg:pypi/jinja2@2.10"
    assert by_name["requests"].version == "" and "not pinned" in by_name["requests"].version_unknown_reason
    assert by_name["urllib3"].version == "" and not by_name["urllib3"].matchable
    assert [u.reason for u in result.unknowns] == ["includes 'base.txt', which is not followed"]
    assert all(p.file_path == "app/requirements.txt" and p.found_by == "python-requirements" for p in result.packages)


def test_purl_name_is_pep503_normalised() -> None:
    parsed = metadata.parse(b"Metadata-Version: 2.1\nName: Foo.Bar_baz\nVersion: 1.0\nLicense-Expression: MIT\n")
    (package,) = parsed.packages
    assert (package.name, package.purl, package.licenses) == ("Foo.Bar_baz", "pkg:pypi/foo-bar-baz@1.0", ("MIT",))


def _zip(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in members.items():
            archive.writestr(name, content)
    return buffer.getvalue()


def test_egg_zip_bomb_member_is_an_unknown() -> None:
    data = _zip({"EGG-INFO/PKG-INFO": b"Name: x\n" + b"\0" * (egg.MAX_MEMBER + 10)})
    result = PythonEggAnalyzer().analyze("site-packages/x.egg", data)
    assert not result.packages and "limit" in result.unknowns[0].reason


@pytest.mark.parametrize(("analyzer", "path", "data"), [
    (PythonEggAnalyzer(), "x.egg", b"PK\x03\x04 not a zip"),
    (PoetryLockAnalyzer(), "poetry.lock", b"[[package]\nname = "),
    (UvLockAnalyzer(), "uv.lock", b"package = 3"),
    (PipfileLockAnalyzer(), "Pipfile.lock", b"\xff\xfe{\x00"),
    (PipfileLockAnalyzer(), "Pipfile.lock", b"[" * 100_000),
    (RequirementsAnalyzer(), "requirements.txt", b"flask==1.0\n\xff\xfe\xfa"),
    (PythonMetadataAnalyzer(), "a.dist-info/METADATA", b"Version: 1.0\n"),
])
def test_bad_input_becomes_an_unknown(analyzer, path: str, data: bytes) -> None:  # type: ignore[no-untyped-def]
    result = analyzer.analyze(path, data)
    assert not result.packages and len(result.unknowns) == 1 and result.unknowns[0].reason


def test_pipfile_lock_dev_and_uv_project(tmp_path: Path) -> None:
    lock = pipfile_lock.parse(b'{"default": {"a": {"version": "==1.0"}}, "develop": {"b": {"version": "==2.0"},'
                              b' "c": {"git": "https://x"}}}')
    assert {(p.name, p.version, p.dev) for p in lock.packages} == {("a", "1.0", False), ("b", "2.0", True),
                                                                   ("c", "", True)}
    uv = uv_lock.parse(b'[[package]]\nname = "app"\nversion = "0.1"\nsource = { virtual = "." }\n'
                       b'dependencies = [{ name = "a" }]\n[package.dev-dependencies]\ndev = [{ name = "t" }]\n'
                       b'[[package]]\nname = "a"\nversion = "1"\ndependencies = [{ name = "b" }]\n'
                       b'[[package]]\nname = "b"\nversion = "2"\n[[package]]\nname = "t"\nversion = "3"\n')
    flags = {p.name: (p.is_application, p.dev, p.indirect) for p in uv.packages}
    assert flags == {"app": (True, False, False), "a": (False, False, False), "b": (False, False, True),
                     "t": (False, True, False)}
    assert poetry_lock.is_dev({"groups": ["dev"]}) and not poetry_lock.is_dev({"groups": ["main", "dev"]})
    assert requirements.version_from_specifiers("==1.*") == ("", "no exact pin (==1.*)")
