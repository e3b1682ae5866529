"""Hostile lockfiles and policy files: JSON, TOML and YAML nested 100,000 deep, YAML alias
("billion laughs") bombs, XML entity expansion, noise, wrong types, lone UTF-16 surrogates;
ignore files, VEX documents and config files of the same kinds."""

from __future__ import annotations

import json

from hostile.blobs import noise

YAML_LAUGHS = "\n".join([
    "lockfileVersion: '6.0'",
    'a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]',
    *(f"{n}: &{n} [{', '.join(['*' + p] * 9)}]" for p, n in zip("abcdefgh", "bcdefghi")),
    "packages: *i",
]) + "\n"


def yaml_laughs(key: str) -> bytes:
    """The alias bomb with its 9**9 expansion under ``key``."""
    return YAML_LAUGHS.replace("packages: *i", f"{key}: *i").encode()


LOCKFILES = {
    "package-lock.json": b'{"lockfileVersion": 3, "packages": {"": ' + b"[" * 100_000,
    "yarn.lock": b"\x00\xff" * 1000 + b'\n"a@1":\n  version ' + b"\x00" * 10,
    "pnpm-lock.yaml": YAML_LAUGHS.encode(),
    "poetry.lock": b"[[package]]\nname = 'x'\nversion = " + b"[" * 50_000,
    "Cargo.lock": b"[[package]]\nname = \"x\"\nversion = \"1\"\n[[package]\n",
    "Pipfile.lock": b'{"default": {"x": {"version": 5}}, "develop": []}',
    "composer.lock": b'{"packages": "nope", "packages-dev": {"a": 1}}',
    "go.sum": noise(2048, 41),
    "go.mod": b"module x\nrequire (\n" + b"\tgithub.com/a/b v1\n" * 10 + b"\xff\xfe",
    "Gemfile.lock": b"GEM\n  specs:\n" + b"    x (" * 1000,
    "requirements.txt": b"-r requirements.txt\n-r ./requirements.txt\n" + noise(512, 42),
    "packages.lock.json": b'{"version": 1, "dependencies": {"net8.0": {"x": {"resolved": [1, 2]}}}}',
    "environment.yml": b"dependencies:\n  - &x [" + b"[" * 10_000,
    "gradle.lockfile": noise(1024, 43),
    "pom.xml": b'<?xml version="1.0"?><!DOCTYPE p [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;&a;&a;">]><project>&b;</project>',
    "uv.lock": b"version = 1\n[[package]]\nname = 1\nversion = []\n",
    "pyproject.toml": b"[project]\ndependencies = " + b"[" * 100_000,
    "build.sbt.lock": b'{"lockVersion": 1, "dependencies": ' + b"[" * 100_000,
    "buildscript-gradle.lockfile": b"a:b:1=classpath\n" + b"x:" * 100_000 + b"\n" + noise(512, 44),
}
# the lockfiles whose path an Unknown must name
LOCKFILE_UNKNOWNS = ("package-lock.json", "pnpm-lock.yaml", "poetry.lock", "Cargo.lock", "pyproject.toml",
                     "build.sbt.lock", "buildscript-gradle.lockfile")

DEEP_JSON = b"[" * 100_000 + b"]" * 100_000

# name -> (flag, file name, content, exit code when refused, words the error names)
POLICY_FILES = {
    "ignore-yaml-invalid": ("--ignorefile", "ignore.yaml", b"ignore:\n  - id: [unclosed\n", 2, ("ignore",)),
    "ignore-yaml-types": ("--ignorefile", "ignore.yaml", b"ignore:\n  - id: {a: 1}\n    expires: 5\n  - 7\n", 2,
                          ("ignore",)),
    "ignore-yaml-laughs": ("--ignorefile", "ignore.yaml", yaml_laughs("ignore"), 2, ("ignore",)),
    "ignore-deep": ("--ignorefile", "ignore.yaml", b"ignore: " + b"[" * 100_000, 2, ("ignore",)),
    "ignore-deep-flow": ("--ignorefile", "ignore.yaml", b"[" * 100_000, 2, ("ignore",)),
    "ignore-binary": ("--ignorefile", ".trivyignore", noise(4096, 45), 2, ("ignore",)),
    "vex-invalid": ("--vex", "vex.json", b"{nope", 2, ("VEX",)),
    "vex-deep": ("--vex", "vex.json", DEEP_JSON, 2, ("VEX",)),
    "vex-types": ("--vex", "vex.json", json.dumps({"statements": [5, {"vulnerability": [1], "products": "x",
                                                                     "status": {}}]}).encode(), 2, ("VEX",)),
    "vex-cdx-types": ("--vex", "vex.json", json.dumps({"bomFormat": "CycloneDX", "vulnerabilities": [
        {"id": 5, "analysis": "x", "affects": {"ref": 1}}]}).encode(), 2, ("VEX",)),
    "config-invalid": ("--config", "layerscan.yaml", b"severity: [unclosed\n", 2, ("config",)),
    "config-types": ("--config", "layerscan.yaml", b"severity: {a: 1}\nparallel: lots\ntimeout: []\n", 2,
                     ("config",)),
    "config-list": ("--config", "layerscan.yaml", b"- 1\n- 2\n", 2, ("config",)),
    "config-laughs": ("--config", "layerscan.yaml", yaml_laughs("skip-dirs"), 2, ("config",)),
    "config-deep": ("--config", "layerscan.yaml", b"a: " + b"[" * 100_000, 2, ("config",)),
}

LONE_SURROGATES = ('{"name":"app","version":"1.0.0","lockfileVersion":3,"packages":{"":{"name":"app"},'
                   '"node_modules/ev\\ud800il":{"version":"1.0.0\\udc00"}}}')
