"""Node.js analyzers: installed package.json and package-lock / yarn.lock / pnpm-lock.yaml / bun.lock /
deno.lock, on the corpus cases."""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import CORPUS, corpus_available
from fixtures.lang1.harness import (case_dirs, cases_with_flags, expected_set, flag_mismatches, missing_unversioned,
                                    params, run_case, versioned)
from layerscan.analyzers.node import bun_lock, deno_lock, jsonc, pnpm_lock, yarn_lock
from layerscan.analyzers.node.bun_lock import BunLockAnalyzer
from layerscan.analyzers.node.deno_lock import DenoLockAnalyzer
from layerscan.analyzers.node.package_json import PackageJsonAnalyzer
from layerscan.analyzers.node.package_lock import PackageLockAnalyzer
from layerscan.analyzers.node.pnpm_lock import PnpmLockAnalyzer
from layerscan.analyzers.node.yarn_lock import YarnLockAnalyzer

ANALYZERS = [PackageJsonAnalyzer(), PackageLockAnalyzer(), YarnLockAnalyzer(), PnpmLockAnalyzer(), BunLockAnalyzer(),
             DenoLockAnalyzer()]
NM = "app/node_modules/"

# Corpus inputs kept under the peer's test-file name: the path a scanner would see instead.
RENAME = {
    "scalibr-packagejson-duplicate_keys_in_dev_deps": {"duplicate-keys.json": NM + "x/package.json"},
    "scalibr-packagejson-nested_acorn": {"package.json": NM + "acorn/package.json"},
    "scalibr-packagejson-npm_package_with_engine_field_set": {"not-vscode.json": NM + "x/package.json"},
    "scalibr-packagejson-package_with_dependencies": {"package-with-deps.json": NM + "x/package.json"},
    "scalibr-packagejson-top_level_package.json": {"package.json": NM + "x/package.json"},
    "scalibr-packagejson-undici_package_with_nonstandard_contributors_parsed_correctl": {
        "undici-package.json": NM + "undici/package.json"},
    **{case: {"package.json": NM + "x/package.json"} for case in (
        "trivy-packagejson-empty-array-license", "trivy-packagejson-happy-path",
        "trivy-packagejson-happy-path---legacy-array-of-objects-license", "trivy-packagejson-happy-path---legacy-license",
        "trivy-packagejson-happy-path---workspace-as-struct", "trivy-packagejson-null-license-value",
        "trivy-packagejson-unknown-license-object")},
    "syft-javascript-testparsepackagelocklicensewitharray": {"array-license-package-lock.json": "package-lock.json"},
    "syft-javascript-testparsepackagelockv1nesteddependencies": {"nested-package-lock-1.json": "package-lock.json"},
    "syft-javascript-testparsepackagelockv2": {"package-lock-2.json": "package-lock.json"},
    "syft-javascript-testparsepackagelockv3": {"package-lock-3.json": "package-lock.json"},
}

_MANIFEST = "peer lists the declared dependency ranges of a package.json as packages; ranges are not installed versions"
_SYFT_DEV = "syft's expectation leaves out dev packages (listed by us with dev=True)"
_WORKSPACES = ("peer also reads each workspace member's own package.json (found through the root's 'workspaces' "
               "globs, not beside the yarn.lock) for its version and dev dependencies; we read the sibling package.json "
               "only, list members under the lockfile's version ('0.0.0-use.local', or absent in yarn classic) and "
               "count what they reach as production")
XFAIL = {
    "scalibr-packagejson-duplicate_keys_in_dev_deps": _MANIFEST,
    "scalibr-packagejson-package_with_dependencies": _MANIFEST,
    "scalibr-pnpmlock-files": "peer drops the file: dependency 'nameless-package' that the lockfile versions",
    "syft-javascript-test_javascriptcataloger": "syft's catalog of several lockfiles drops dev entries and one "
                                                "odd 'node_modules/async' v1 key that we keep",
    "syft-javascript-testparsepackagelock": _SYFT_DEV,
    "syft-javascript-testparsepackagelockv1nesteddependencies": _SYFT_DEV,
    "syft-javascript-testparsepackagelockv2": _SYFT_DEV,
    "syft-javascript-testparsepackagelockv3": _SYFT_DEV,
    "syft-javascript-testparsepnpmlock": "syft adds importer dependencies missing from the packages section",
    "syft-javascript-testparsepnpmlock_multidocument": "syft reads the pnpm env-lockfile document too",
    "syft-javascript-testparseyarnberry": "syft names the root workspace by its descriptor ('c0n-fab_u.laTION'); "
                                          "we use yarn's own 'resolution' name ('newtest'), the name yarn resolved",
    "syft-javascript-testparseyarnlockwithduplicates": "syft keeps the alias name (not the real package name)",
    "syft-javascript-testparseyarnlockwithrelationships": "syft keeps the alias name (not the real package name)",
    "trivy-npm-lock-version-v3-with-workspace": "trivy reports workspace folders as packages; we list them as "
                                                "the application",
    "trivy-pnpm-many": "trivy keeps a package whose key has no parseable version ('90')",
    "trivy-pnpm-v6-with-dev-deps": "trivy's parser test drops dev packages (listed by us with dev=True)",
    "trivy-pnpm-with-dev-deps": "trivy's parser test drops dev packages (listed by us with dev=True)",
    "trivy-yarn-monorepo": _WORKSPACES,
    "trivy-yarn-project-with-workspace-placed-in-sub-dir": _WORKSPACES,
    "trivy-yarn-yarn-file-with-bad-protocol": "trivy drops 'asap@unsupported:~2.0.6'; we keep its locked version",
}
FLAG_XFAIL = {
    "trivy-pnpm-v9-with-same-version-and-different-peers-for-dependency":
        "dev reachability is computed per name@version; the peer distinguishes peer-suffixed snapshots",
    "trivy-yarn-monorepo": _WORKSPACES,
}

ALL_CASES = case_dirs(CORPUS if corpus_available() else None, "npm")


SKIP: dict[str, str] = {}


@pytest.mark.parametrize("case", params(ALL_CASES, XFAIL, SKIP))
def test_corpus_case_packages(corpus: Path, case: str) -> None:
    run = run_case(corpus / "fixtures" / "npm" / case, ANALYZERS, RENAME.get(case))
    assert versioned(run) == expected_set(run)
    assert missing_unversioned(run) == set()


@pytest.mark.parametrize("case", params(cases_with_flags(CORPUS if corpus_available() else None, "npm"),
                                        FLAG_XFAIL, SKIP))
def test_corpus_case_flags(corpus: Path, case: str) -> None:
    run = run_case(corpus / "fixtures" / "npm" / case, ANALYZERS, RENAME.get(case))
    assert flag_mismatches(run, "dev") + flag_mismatches(run, "indirect") == []


# ---------------------------------------------------------------- own fixtures and hostile input


def test_installed_package_json_and_application() -> None:
    analyzer = PackageJsonAnalyzer()
    dep = analyzer.analyze("srv/app/node_modules/@babel/core/package.json",
                           b'{"name": "@babel/core", "version": "7.0.0", "license": {"type": "MIT"}}').packages[0]
    assert (dep.purl, dep.licenses, dep.is_application) == ("pkg:npm/%40babel/core@7.0.0", ("MIT",), False)
    app = analyzer.analyze("srv/app/package.json", b'{"name": "app", "version": "1.0.0"}').packages[0]
    assert app.is_application and not app.matchable and app.found_by == "node-package-json"


def test_lockfile_links_and_git_versions_are_unknown_not_dropped() -> None:
    lock = (b'{"lockfileVersion": 3, "packages": {"": {"name": "a", "version": "1.0.0", "dependencies": {"x": "1"}},'
            b' "node_modules/x": {"version": "1.0.0"}, "node_modules/x/node_modules/y": {"version": "2.0.0", "dev": true},'
            b' "node_modules/g": {"version": "git+ssh://git@github.com/o/g.git#abc"}}}')
    result = PackageLockAnalyzer().analyze("package-lock.json", lock)
    flags = {p.name: (p.version, p.dev, p.indirect, p.is_application) for p in result.packages}
    assert flags["x"] == ("1.0.0", False, False, False) and flags["y"] == ("2.0.0", True, True, False)
    assert flags["a"][3] and flags["g"][0] == ""


@pytest.mark.parametrize(("analyzer", "path", "data"), [
    (BunLockAnalyzer(), "bun.lock", b'{"packages": {"a": ["a@1.0.0", "", {},], /* unterminated'),
    (BunLockAnalyzer(), "bun.lock", b'["a@1.0.0"]'),
    (BunLockAnalyzer(), "bun.lockb", b"#!/usr/bin/env bun\nbun-lockfile-format-v0\n\x00\x01"),
    (DenoLockAnalyzer(), "deno.lock", b'{"version": "4", "npm": {'),
    (DenoLockAnalyzer(), "deno.lock", b'{"version": "x9"}'),
    (PnpmLockAnalyzer(), "pnpm-lock.yaml", b"a: &a [x, x]\nb: &b [*a, *a]\nc: [*b, *b]\n"),
    (PnpmLockAnalyzer(), "pnpm-lock.yaml", b"packages: [\n"),
    (PackageLockAnalyzer(), "package-lock.json", b'{"packages": '),
    (PackageJsonAnalyzer(), "node_modules/x/package.json", b"\x00\xff"),
])
def test_bad_input_becomes_an_unknown(analyzer, path: str, data: bytes) -> None:  # type: ignore[no-untyped-def]
    result = analyzer.analyze(path, data)
    assert not result.packages and len(result.unknowns) == 1 and result.unknowns[0].reason


def test_yarn_and_pnpm_key_forms() -> None:
    yarn = yarn_lock.parse(b'"alias@npm:real@^1":\n  version "1.2.0"\n\n"@s/p@^2", "@s/p@^2.1":\n  version "2.1.0"\n')
    assert {(p.name, p.version) for p in yarn.packages} == {("real", "1.2.0"), ("@s/p", "2.1.0")}
    assert pnpm_lock.split_key("/@s/p/1.0.0_peer@2.0.0", 5) == ("@s/p", "1.0.0")
    assert pnpm_lock.split_key("/@s/p@1.0.0(peer@2.0.0)", 6) == ("@s/p", "1.0.0")


def test_jsonc_keeps_strings_and_drops_comments_and_trailing_commas() -> None:
    text = '{"a": "x // not a comment, }", /* c */ "b": [1, 2,], // tail\n "c": "/* kept */",}'
    assert jsonc.strip_jsonc(text).replace(" ", "") == '{"a":"x//notacomment,}","b":[1,2],\n"c":"/*kept*/"}'


def test_bun_lock_nested_resolution_flags_and_bad_entries() -> None:
    lock = b"""{
      // bun.lock as bun writes it: comments and trailing commas
      "lockfileVersion": 1,
      "workspaces": {
        "": {"name": "app", "version": "2.0.0", "dependencies": {"a": "^1", "@s/b": "^2"},
             "devDependencies": {"t": "^3"}, "optionalDependencies": {"o": "^1"},},
      },
      "packages": {
        "a": ["a@1.0.0", "", {"dependencies": {"c": "^1"}}, "sha512-x"],
        "@s/b": ["@s/b@2.0.0", "", {"dependencies": {"c": "^2"}}, "sha512-y"],
        "@s/b/c": ["c@2.1.0", "", {}, "sha512-z"],
        "c": ["c@1.5.0", "", {}, "sha512-w"],
        "t": ["t@3.0.0", "", {"dependencies": {"c": "^1", "u": "^1"}}, "sha512-v"],
        "u": ["u@1.0.0", "", {}, "sha512-u"],
        "o": ["o@1.0.0", "", {}, "sha512-o"],
        "g": ["g@github:o/g#abc1234", {}, "o-g-abc1234"],
        "bad": [null, "", {}, ""],
      },
    }"""
    result = BunLockAnalyzer().analyze("srv/app/bun.lock", lock)
    got = {(p.name, p.version): (p.dev, p.indirect, p.is_application, dict(p.extra)) for p in result.packages}
    assert got == {
        ("app", "2.0.0"): (False, False, True, {}),
        ("a", "1.0.0"): (False, False, False, {}), ("@s/b", "2.0.0"): (False, False, False, {}),
        ("c", "2.1.0"): (False, True, False, {}), ("c", "1.5.0"): (False, True, False, {}),
        ("t", "3.0.0"): (True, False, False, {}), ("u", "1.0.0"): (True, True, False, {}),
        ("o", "1.0.0"): (False, False, False, {"optional": "true"}),
        ("g", ""): (False, True, False, {"commit": "abc1234", "reference": "github:o/g#abc1234"}),
    }
    assert [u.reason for u in result.unknowns] == ["package 'bad': expected [\"name@version\", ...], found list "
                                                   "starting with NoneType"]
    assert bun_lock.key_segments("@s/b/@t/c/d") == ["@s/b", "@t/c", "d"]
    assert all(p.file_path == "srv/app/bun.lock" and p.found_by == "node-bun-lock" for p in result.packages)


def test_deno_lock_versions_and_package_types() -> None:
    v3 = (b'{"version": "3", "packages": {"npm": {"ms@2.1.3": {"integrity": "x"}},'
          b' "jsr": {"@std/path@1.0.0": {"integrity": "y"}}},'
          b' "remote": {"https://deno.land/x/oak@v12.0.0/mod.ts": "h", "https://deno.land/x/oak@v12.0.0/router.ts": "h",'
          b' "https://example.com/unversioned.ts": "h"}}')
    found = {(p.type, p.name, p.version, p.purl) for p in deno_lock.parse(v3).packages}
    assert found == {("npm", "ms", "2.1.3", "pkg:npm/ms@2.1.3"),
                     ("jsr", "@std/path", "1.0.0", "pkg:jsr/%40std/path@1.0.0"),
                     ("deno", "deno.land/x/oak", "v12.0.0", "pkg:deno/deno.land/x/oak@v12.0.0")}
    v2 = b'{"version": "2", "npm": {"specifiers": {}, "packages": {"@s/p@1.0.0_peer@2.0.0": {}}}}'
    assert [(p.name, p.version) for p in deno_lock.parse(v2).packages] == [("@s/p", "1.0.0")]


# ---------------------------------------------------------------- own fixtures: pnpm tarball/git, npm dev-and-prod

LOCKFILES = Path(__file__).parent / "fixtures" / "lockfiles"


def test_pnpm_tarball_and_git_dependencies() -> None:
    result = PnpmLockAnalyzer().analyze("app/pnpm-lock.yaml",
                                        (LOCKFILES / "pnpm-remote" / "pnpm-lock.yaml").read_bytes())
    got = {p.name: (p.version, p.dev, dict(p.extra)) for p in result.packages}
    tarball = "https://registry.npmjs.org/left-pad/-/left-pad-1.3.0.tgz"
    assert got["left-pad"] == ("1.3.0", False, {"reference": tarball})
    assert got["is-number"][:2] == ("7.0.0", False) and got["is-number"][2]["reference"].startswith(
        "https://codeload.github.com/jonschlinkert/is-number/")
    assert got["ms"] == ("2.1.3", False, {"reference": "https://github.com/vercel/ms.git",
                                          "commit": "1c4a8d20a2d02b9f1f8c6fd77cca93b6c80e2b9d"})
    assert got["nameless"] == ("", False, {"reference": "https://example.com/nameless.tgz"})  # no version field
    assert got["debug"][:2] == ("4.3.4", True) and got["supports-color"][:2] == ("8.1.1", True)
    nameless = next(p for p in result.packages if p.name == "nameless")
    assert nameless.version_unknown_reason.startswith("not a registry version") and not result.unknowns


def test_package_lock_v3_package_both_dev_and_non_dev_is_non_dev() -> None:
    result = PackageLockAnalyzer().analyze("app/package-lock.json",
                                           (LOCKFILES / "npm-v3-dev-and-prod" / "package-lock.json").read_bytes())
    flags = {(p.name, p.version, p.dev) for p in result.packages if not p.is_application}
    assert flags == {("express-lite", "1.0.0", False), ("minimist", "1.2.8", False), ("jest-lite", "2.0.0", True),
                     ("fsevents", "2.3.3", False)}  # minimist: a dev copy and a prod copy; fsevents: devOptional


@pytest.mark.parametrize(("analyzer", "path", "data"), [
    (PackageLockAnalyzer(), "package-lock.json", b'{"lockfileVersion": 3, "packages": ' + b"[" * 100_000),
    (PackageLockAnalyzer(), "package-lock.json", b'{"packages": {"node_modules/a": ' + b'{"a": ' * 100_000 + b"1"
     + b"}" * 100_001 + b"}"),
    (PnpmLockAnalyzer(), "pnpm-lock.yaml", b"packages:\n" + b"  " * 5000 + b"a: [" * 5000),
    (BunLockAnalyzer(), "bun.lock", b'{"packages": {"a": ' + b"[" * 100_000 + b"]" * 100_000 + b"}}"),
])
def test_deep_lockfiles_become_an_unknown(analyzer, path: str, data: bytes) -> None:  # type: ignore[no-untyped-def]
    result = analyzer.analyze(path, data)
    assert not result.packages and len(result.unknowns) == 1 and result.unknowns[0].reason


def test_huge_lockfile_is_an_unknown_unread() -> None:
    analyzer = PnpmLockAnalyzer()
    result = analyzer.analyze("pnpm-lock.yaml", b"#" * (analyzer.max_file_size + 1))
    assert not result.packages and "limit" in result.unknowns[0].reason
