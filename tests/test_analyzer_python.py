"""Python analyzers: installed metadata (dist-info, egg-info, eggs, wheels), lockfiles and pyproject.toml,
on the corpus cases, real wheels and fixtures written from the formats' documentation."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest

from conftest import CORPUS, corpus_available
from fixtures.lang1.harness import (case_dirs, cases_with_flags, expected_set, flag_mismatches, params, run_case,
                                    versioned)
from layerscan.analyzers.langbase import pep503
from layerscan.analyzers.python import egg, metadata, pipfile_lock, poetry_lock, pyproject, requirements, uv_lock, wheel
from layerscan.analyzers.python.egg import PythonEggAnalyzer
from layerscan.analyzers.python.metadata import PythonMetadataAnalyzer
from layerscan.analyzers.python.pdm_lock import PdmLockAnalyzer
from layerscan.analyzers.python.pipfile_lock import PipfileLockAnalyzer
from layerscan.analyzers.python.poetry_lock import PoetryLockAnalyzer
from layerscan.analyzers.python.pylock import PylockAnalyzer
from layerscan.analyzers.python.pyproject import PyprojectAnalyzer
from layerscan.analyzers.python.requirements import RequirementsAnalyzer
from layerscan.analyzers.python.uv_lock import UvLockAnalyzer
from layerscan.analyzers.python.wheel import PythonWheelAnalyzer

ANALYZERS = [PythonMetadataAnalyzer(), PythonEggAnalyzer(), PythonWheelAnalyzer(), RequirementsAnalyzer(),
             PipfileLockAnalyzer(), PoetryLockAnalyzer(), UvLockAnalyzer(), PdmLockAnalyzer(), PylockAnalyzer(),
             PyprojectAnalyzer()]
LOCKFILES = Path(__file__).parent / "fixtures" / "lockfiles"
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
    # scalibr is wrong here: '>=2.20.0' allows any later version, so its lower bound is not what is installed
    # (matching it reports the advisories of 2.20.0 for a project that may run 2.32); we list it unpinned.
    "scalibr-pyprojecttoml-extras_syntax": "peer takes the lower bound of 'requests>=2.20.0' as the version; "
        "we list it unpinned (only the == pin, flask 3.1.1, is matched)",
    "scalibr-pyprojecttoml-optional_deps": "peer takes the lower bounds of 'pytest>=7.0.0' and 'aiohttp>=3.8.0' "
        "as versions; we list them unpinned (the == pins requests and black are matched)",
}
SKIP: dict[str, str] = {}
FLAG_XFAIL: dict[str, str] = {}

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


# ---------------------------------------------------------------- pyproject.toml


@pytest.mark.parametrize("case", params([c for c in ALL_CASES if "pyprojecttoml" in c], {}, {}))
def test_pyproject_corpus_lists_every_dependency_and_matches_only_pins(corpus: Path, case: str) -> None:
    """The two xfails above, checked for what we do: every name the peer lists is listed, the
    == pins with their version, the ranges without one (and with the reason)."""
    run = run_case(corpus / "fixtures" / "pypi" / case, ANALYZERS)
    text = (corpus / "fixtures" / "pypi" / case / "pyproject.toml").read_text()
    ours = {pep503(p.name): p for p in run.packages if not p.is_application}
    for want in run.expected["packages"]:
        got = ours[pep503(want["name"])]
        pinned = f"{want['name']}=={want['version']}" in text or f"]=={want['version']}" in text
        assert (got.version == want["version"]) if pinned else (not got.matchable and ">=" in got.version_unknown_reason)


def _by_name(packages) -> dict:  # type: ignore[no-untyped-def]
    return {p.name: (p.version, p.dev, p.version_unknown_reason) for p in packages if not p.is_application}


def test_pyproject_pep621_and_dependency_groups() -> None:
    result = PyprojectAnalyzer().analyze("app/pyproject.toml", (LOCKFILES / "pyproject-pep621/pyproject.toml").read_bytes())
    assert result.unknowns == ()
    assert _by_name(result.packages) == {
        "Django": ("3.2.0", False, ""), "requests": ("2.25.1", False, ""), "urllib3": ("1.26.4", False, ""),
        "PyYAML": ("", False, "not pinned (>=5.1,<6)"), "pillow": ("8.1.0", False, ""),
        "numpy": ("", False, "no exact pin (==1.*)"), "attrs": ("", False, "no version specified"),
        "mylib": ("", False, "direct reference 'https://example.org/mylib-1.0.tar.gz'"),
        "cryptography": ("3.3.1", False, ""),  # an extra: runtime, not dev
        "pytest": ("6.2.2", True, ""), "coverage": ("", True, "not pinned (>=5)"), "ruff": ("0.1.0", True, ""),
    }
    (app,) = [p for p in result.packages if p.is_application]
    assert (app.name, app.version, app.matchable) == ("inventory-demo", "", False)
    assert all(p.file_path == "app/pyproject.toml" and p.found_by == "python-pyproject" for p in result.packages)


def test_pyproject_poetry_tables() -> None:
    parsed = pyproject.parse((LOCKFILES / "pyproject-poetry1/pyproject.toml").read_bytes())
    assert _by_name(parsed.packages) == {
        "flask": ("1.0.2", False, ""), "jinja2": ("2.10", False, ""), "requests": ("", False, "not pinned (^2.25)"),
        "pyyaml": ("5.3.1", False, ""),
        "click": ("", False, "alternative constraints by environment (7.1.2 | 8.0.1)"),
        "mypkg": ("", False, "git dependency 'https://github.com/example/mypkg.git'"),
        "localpkg": ("", False, "path dependency '../localpkg'"),
        "pytest": ("5.4.3", True, ""), "sphinx": ("", True, "not pinned (*)"),
    }
    assert [(p.name, p.version) for p in parsed.packages if p.is_application] == [("poetry-demo", "0.3.0")]
    assert pyproject.poetry_constraint([{"version": "1.0", "python": "<3"}, {"version": "1.0"}]) == ("1.0", "")
    assert pyproject.poetry_constraint("~1.2")[0] == "" and pyproject.poetry_constraint(">=1,<2")[0] == ""


def test_pyproject_poetry2_names_a_project_dependency_once_and_dynamic_is_recorded() -> None:
    parsed = pyproject.parse(b'[project]\nname = "x"\ndynamic = ["dependencies"]\n'
                             b'dependencies = ["flask==2.0.0"]\n[tool.poetry.dependencies]\nflask = "2.0.0"\n'
                             b'[tool.poetry.group.main.dependencies]\nclick = "8.0.0"\n')
    assert [(p.name, p.version, p.dev) for p in parsed.packages if not p.is_application] == [
        ("flask", "2.0.0", False), ("click", "8.0.0", False)]
    assert parsed.problems == ("[project] dependencies are dynamic (computed by the build backend): not listed",)


@pytest.mark.parametrize("data", [
    b"[project\nname = 1",  # broken
    b"[project]\ndependencies = " + b"[" * 100_000,  # deep
    b"\xff\xfe\x00\xd8",  # undecodable
])
def test_pyproject_bad_input_is_an_unknown(data: bytes) -> None:
    result = PyprojectAnalyzer().analyze("pyproject.toml", data)
    assert not result.packages and len(result.unknowns) == 1 and result.unknowns[0].reason


def test_pyproject_wrong_types_and_huge_lists_are_problems_not_crashes() -> None:
    result = PyprojectAnalyzer().analyze("pyproject.toml", b'[project]\ndependencies = 3\n'
                                         b'optional-dependencies = {a = [1, {x = 2}]}\n[tool.poetry]\n'
                                         b'dependencies = "flask"\n[dependency-groups]\ndev = "pytest"\n')
    assert result.packages == () and len(result.unknowns) == 5
    many = b'[project]\ndependencies = [' + b'"p==1",' * (pyproject.MAX_DEPENDENCIES + 5) + b']\n'
    parsed = pyproject.parse(many)
    assert len(parsed.packages) == 1  # the same pin, once
    assert parsed.problems == (f"more than {pyproject.MAX_DEPENDENCIES} dependencies: the rest is not listed",)


# ---------------------------------------------------------------- wheels


def _bundled_wheels() -> list[Path]:
    import ensurepip

    return sorted((Path(ensurepip.__file__).parent / "_bundled").glob("*.whl"))


@pytest.mark.skipif(not _bundled_wheels(), reason="this Python ships no ensurepip wheels")
@pytest.mark.parametrize("path", _bundled_wheels(), ids=lambda p: p.name)
def test_real_wheels_bytes_and_stream_agree(path: Path) -> None:
    name, version = path.name.split("-")[:2]
    analyzer = PythonWheelAnalyzer()
    from_bytes = analyzer.analyze(f"wheels/{path.name}", path.read_bytes())
    with path.open("rb") as stream:
        from_stream = analyzer.analyze_stream(f"wheels/{path.name}", stream)
    assert from_bytes == from_stream and not from_bytes.unknowns
    (package,) = from_bytes.packages
    assert (package.name, package.version, package.purl) == (name, version, f"pkg:pypi/{name}@{version}")
    assert package.evidence == f"wheel {name}-{version}.dist-info/METADATA" and package.file_path == f"wheels/{path.name}"


def test_wheel_picks_the_dist_info_named_as_the_file() -> None:
    data = _zip({"foo/__init__.py": b"", "vendored_x-9.9.dist-info/METADATA": b"Name: vendored-x\nVersion: 9.9\n",
                 "Foo_Bar-1.2.dist-info/METADATA": b"Name: Foo_Bar\nVersion: 1.2\n",
                 "Foo_Bar-1.2.data/purelib/x.dist-info/METADATA": b"Name: deeper\nVersion: 0\n"})
    (package,) = wheel.parse("Foo_Bar-1.2-py3-none-any.whl", data).packages
    assert (package.name, package.version) == ("Foo_Bar", "1.2")


@pytest.mark.parametrize(("data", "reason"), [
    (_zip({"x/__init__.py": b""}), "no top-level *.dist-info/METADATA"),
    (_zip({"x-1.dist-info/METADATA": b"Name: x\n" + b"\0" * (egg.MAX_MEMBER + 1)}), "limit"),
    (b"PK\x03\x04 truncated", "unreadable zip"),
    # an end record announcing a 100 MiB member list (zipfile would build an object per entry)
    (b"PK\x05\x06" + b"\0" * 4 + b"\x05\x00" * 2 + (100 << 20).to_bytes(4, "little") + b"\0" * 6, "member list"),
])
def test_hostile_wheels_are_unknowns(data: bytes, reason: str) -> None:
    result = PythonWheelAnalyzer().analyze("x-1-py3-none-any.whl", data)
    assert not result.packages and len(result.unknowns) == 1 and reason in result.unknowns[0].reason


def test_uv_workspace_members_and_path_projects_are_local() -> None:
    parsed = uv_lock.parse((LOCKFILES / "uv-workspace/uv.lock").read_bytes())
    flags = {p.name: (p.version, p.is_application, p.dev, p.indirect) for p in parsed.packages}
    assert flags == {
        "albatross": ("0.1.0", True, False, False),  # the root (editable ".")
        "bird-feeder": ("1.0.0", True, False, False),  # a workspace member: the user's code, not PyPI's
        "seeds": ("0.3.0", True, False, False),  # a directory path dependency
        "anyio": ("4.3.0", False, False, False),  # direct dependency of a member
        "urllib3": ("2.2.1", False, False, False),  # direct dependency of the path project
        "tqdm": ("4.66.2", False, False, False),  # git source: still a release version of tqdm
        "idna": ("3.6", False, False, True), "sniffio": ("1.3.1", False, False, True),
        "pytest": ("8.1.1", False, True, False), "iniconfig": ("2.0.0", False, True, True),
    }
    assert not any(p.matchable for p in parsed.packages if p.is_application)
