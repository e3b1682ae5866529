"""``pyproject.toml`` declared dependencies (TOML), fs mode.

A manifest declares constraints, not installed versions. Every dependency is
listed; only an exact pin gives a version (and is matched): ``==1.2`` in a
PEP 508 string, ``1.2`` or ``==1.2`` in a Poetry constraint. Everything else
(``>=``, ``^``, ``~``, ``*``, git/path/url sources) is listed without a version
and with the reason, as ``requirements.txt`` lines are.

Read from:
- PEP 621 ``[project].dependencies`` (runtime) and ``[project.optional-dependencies]``
  (extras: runtime, not dev);
- PEP 735 ``[dependency-groups]`` (dev; ``{include-group = ...}`` entries are
  references, not packages);
- Poetry ``[tool.poetry.dependencies]`` (runtime; ``python`` is the interpreter),
  ``[tool.poetry.group.<name>.dependencies]`` (dev unless the group is ``main``) and the
  legacy ``[tool.poetry.dev-dependencies]`` (dev).

The project itself (``[project]`` or ``[tool.poetry]`` name) is listed as the
application, not matched. ``dynamic = ["dependencies"]`` is recorded as a problem:
the build backend computes them, the file does not say.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import replace
from typing import Any, ClassVar

from layerscan.analyzers.base import FileSpec, spec
from layerscan.analyzers.langbase import (FileAnalyzer, Parsed, as_dict, as_str, basename, lang_package,
                                          load_toml, pep503)
from layerscan.analyzers.python.requirements import parse_line, version_from_specifiers
from layerscan.analyzers.python.tomllock import string_list
from layerscan.model import Package

ANALYZER = "python-pyproject"
MAX_DEPENDENCIES = 100_000  # per file; more are summarised as one problem
_POETRY_SOURCES = ("git", "path", "url", "file")
_BARE_VERSION = re.compile(r"^[0-9][0-9A-Za-z.+!_-]*$")  # Poetry: "1.2.3" means ==1.2.3


def _pep508(requirement: Any, section: str, dev: bool) -> Package | str | None:
    """One PEP 508 string -> a package, a problem, or None (a group include)."""
    if isinstance(as_dict(requirement).get("include-group"), str):
        return None
    text = as_str(requirement)
    if not text:
        return f"{section}: not a requirement string: {requirement!r:.80}"
    head, marker, rest = text.partition(";")
    result = parse_line(head.replace("(", " ").replace(")", " ") + marker + rest)  # "name (>=1.0)" is PEP 508 too
    if isinstance(result, Package):
        return replace(result, dev=dev)
    return f"{section}: {result}" if result else None


def poetry_constraint(value: Any) -> tuple[str, str]:
    """(exact version, "") or ("", why not) for a Poetry dependency value."""
    if isinstance(value, list):
        pins = {poetry_constraint(v) for v in value}
        if len(pins) == 1:
            return pins.pop()
        versions = " | ".join(sorted(as_str(as_dict(v).get("version")) or "?" for v in value))
        return "", f"alternative constraints by environment ({versions})"
    table = as_dict(value)
    for key in _POETRY_SOURCES:
        if as_str(table.get(key)):
            return "", f"{key} dependency {as_str(table.get(key))!r}"
    constraint = as_str(table.get("version")) if table else as_str(value)
    if not constraint:
        return "", "no version specified"
    if _BARE_VERSION.match(constraint):
        return constraint, ""
    if "==" in constraint:
        return version_from_specifiers(constraint)
    return "", f"not pinned ({constraint})"  # ^, ~, *, >=, ||: a range


def _poetry_table(table: Any, section: str, dev: bool) -> Iterator[Package | str]:
    if not isinstance(table, dict):
        if table is not None:
            yield f"{section} is not a table"
        return
    for name, value in table.items():
        if pep503(name) == "python":
            continue
        version, reason = poetry_constraint(value)
        yield lang_package("pypi", name, version, version_unknown_reason=reason, dev=dev)


def _pep508_list(value: Any, section: str, dev: bool) -> Iterator[Package | str]:
    if value is None:
        return
    if not isinstance(value, list):
        yield f"{section} is not an array"
        return
    for requirement in value:
        result = _pep508(requirement, section, dev)
        if result is not None:
            yield result


def _entries(doc: dict[str, Any]) -> Iterator[Package | str]:
    project = as_dict(doc.get("project"))
    if "dependencies" in string_list(project.get("dynamic")):
        yield "[project] dependencies are dynamic (computed by the build backend): not listed"
    yield from _pep508_list(project.get("dependencies"), "project.dependencies", False)
    for extra, requirements in as_dict(project.get("optional-dependencies")).items():
        yield from _pep508_list(requirements, f"project.optional-dependencies.{extra}", False)
    for group, requirements in as_dict(doc.get("dependency-groups")).items():
        yield from _pep508_list(requirements, f"dependency-groups.{group}", True)
    poetry = as_dict(as_dict(doc.get("tool")).get("poetry"))
    yield from _poetry_table(poetry.get("dependencies"), "tool.poetry.dependencies", False)
    yield from _poetry_table(poetry.get("dev-dependencies"), "tool.poetry.dev-dependencies", True)
    for group, table in as_dict(poetry.get("group")).items():
        yield from _poetry_table(as_dict(table).get("dependencies"), f"tool.poetry.group.{group}.dependencies",
                                 group != "main")


def _application(doc: dict[str, Any]) -> list[Package]:
    for table in (as_dict(doc.get("project")), as_dict(as_dict(doc.get("tool")).get("poetry"))):
        name = as_str(table.get("name"))
        if name:
            return [lang_package("pypi", name, as_str(table.get("version")), is_application=True,
                                 version_unknown_reason="" if as_str(table.get("version")) else "dynamic version")]
    return []


def parse(data: bytes) -> Parsed:
    doc = load_toml(data)
    packages = _application(doc)
    problems: list[str] = []
    seen: set[tuple[str, str, bool]] = set()
    for count, entry in enumerate(_entries(doc)):
        if count >= MAX_DEPENDENCIES:
            problems.append(f"more than {MAX_DEPENDENCIES} dependencies: the rest is not listed")
            break
        if isinstance(entry, str):
            problems.append(entry)
            continue
        key = (pep503(entry.name), entry.version, entry.dev)
        if key not in seen:  # Poetry 2 may name a [project] dependency again under [tool.poetry]
            seen.add(key)
            packages.append(replace(entry, evidence="pyproject.toml"))
    return Parsed(packages=tuple(packages), problems=tuple(problems))


class PyprojectAnalyzer(FileAnalyzer):
    name: ClassVar[str] = ANALYZER
    version: ClassVar[int] = 1
    result_type: ClassVar[str] = "pyproject"
    files: ClassVar[FileSpec] = spec(names=("pyproject.toml",))
    description: ClassVar[str] = "pyproject.toml: PEP 621 / PEP 735 / Poetry declared dependencies (exact pins matched)"

    def matches(self, path: str) -> bool:
        return basename(path) == "pyproject.toml"

    def parse_file(self, path: str, data: bytes) -> Parsed:
        return parse(data)
