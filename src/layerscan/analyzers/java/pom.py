"""Maven ``pom.xml`` (fs mode): the project's declared dependencies.

Offline and within the file only: ``${...}`` properties (``<properties>``,
``project.*``, ``parent.*``) and ``<dependencyManagement>`` versions are
resolved; dependencies of ``activeByDefault`` profiles are included; plugin
dependencies are not. A parent POM is not fetched, so a version that only the
parent (or an imported BOM) defines stays unresolved: the package is listed
with ``version_unknown_reason`` and is not matched. A version range keeps its
lower bound (``[1.2,2.0)`` -> ``1.2``) and records the range in ``extra``.
``<scope>test</scope>`` marks a dependency ``dev``. The project itself is
listed with ``is_application``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import ClassVar
from xml.etree.ElementTree import Element

from layerscan.analyzers.base import FileSpec, MiB, spec
from layerscan.analyzers.java.coords import Coordinates, maven_package
from layerscan.analyzers.java.xmlsafe import XmlError, child_text, parse_xml
from layerscan.analyzers.langbase import FileAnalyzer, Parsed, ParseError, basename
from layerscan.model import Package

NAME = "pom-xml"
_PROPERTY_RE = re.compile(r"\$\{([^}]+)\}")
_MAX_EXPANSIONS = 16
_MAX_VALUE = 4096


@dataclass(frozen=True)
class _Dependency:
    group_id: str
    artifact_id: str
    version: str
    scope: str


def parse(data: bytes) -> Parsed:
    try:
        root = parse_xml(data)
    except XmlError as exc:
        raise ParseError(str(exc)) from None
    if root.tag != "project":
        raise ParseError(f"not a Maven POM (root element <{root.tag}>)")
    props = _properties(root)
    managed = _managed_versions(root, props)
    project = _project_package(root, props)
    packages = [project] if project.name.split(":")[-1] else []
    seen: set[str] = set()
    for dep in _dependencies(root):
        pkg = _dependency_package(dep, props, managed)
        if pkg.name not in seen:
            seen.add(pkg.name)
            packages.append(pkg)
    return Parsed(packages=tuple(packages))


def _properties(root: Element) -> dict[str, str]:
    parent = root.find("parent")
    props: dict[str, str] = {}
    for key in ("groupId", "artifactId", "version"):
        parent_value = child_text(parent, key)
        value = child_text(root, key) or (parent_value if key != "artifactId" else "")
        props[f"project.{key}"] = props[f"pom.{key}"] = props[key] = value
        props[f"project.parent.{key}"] = props[f"parent.{key}"] = parent_value
    section = root.find("properties")
    if section is not None:
        for element in section:
            if isinstance(element.tag, str):
                props[element.tag] = (element.text or "").strip()
    return props


def interpolate(value: str, props: dict[str, str]) -> str:
    """Expand ``${name}`` from ``props``, bounded in depth and size; unknown keys stay as written."""
    for _ in range(_MAX_EXPANSIONS):
        expanded = _PROPERTY_RE.sub(lambda m: props.get(m.group(1), m.group(0)), value)
        if expanded == value or len(expanded) > _MAX_VALUE:
            break
        value = expanded
    return value


def _managed_versions(root: Element, props: dict[str, str]) -> dict[str, str]:
    managed: dict[str, str] = {}
    for dep in _dependency_elements(root.find("dependencyManagement")):
        if child_text(dep, "scope") == "import":
            continue
        name = f"{interpolate(child_text(dep, 'groupId'), props)}:{interpolate(child_text(dep, 'artifactId'), props)}"
        managed.setdefault(name, child_text(dep, "version"))
    return managed


def _dependency_elements(container: Element | None) -> list[Element]:
    if container is None:
        return []
    deps = container.find("dependencies")
    return list(deps.findall("dependency")) if deps is not None else []


def _dependencies(root: Element) -> list[_Dependency]:
    elements = _dependency_elements(root)
    for profile in root.findall("profiles/profile"):
        if child_text(profile.find("activation"), "activeByDefault") == "true":
            elements.extend(_dependency_elements(profile))
    return [
        _Dependency(
            child_text(e, "groupId"), child_text(e, "artifactId"),
            child_text(e, "version"), child_text(e, "scope"),
        )
        for e in elements
    ]


def resolve_version(raw: str) -> tuple[str, str]:
    """(version, reason-if-unresolved). Ranges keep their inclusive lower bound."""
    if not raw:
        return "", "no version in this file (parent POM or imported BOM not read offline)"
    if "${" in raw:
        return "", f"unresolved property in version {raw!r}"
    if raw[0] in "[(":
        lower = raw[1:].split(",")[0].rstrip("])").strip()
        if raw[0] == "[" and lower:
            return lower, ""
        return "", f"version range {raw!r} has no inclusive lower bound"
    return raw, ""


def _dependency_package(
    dep: _Dependency, props: dict[str, str], managed: dict[str, str]
) -> Package:
    group = interpolate(dep.group_id, props)
    artifact = interpolate(dep.artifact_id, props)
    raw = interpolate(dep.version or managed.get(f"{group}:{artifact}", ""), props)
    version, reason = resolve_version(raw)
    extra = (("version_range", raw),) if raw and raw[0] in "[(" else ()
    return maven_package(
        Coordinates(group, artifact, version), file_path="", found_by=NAME,
        evidence="pom.xml", dev=dep.scope == "test", version_unknown_reason=reason, extra=extra,
    )


def _project_package(root: Element, props: dict[str, str]) -> Package:
    version, reason = resolve_version(interpolate(props["project.version"], props))
    coords = Coordinates(
        interpolate(props["project.groupId"], props),
        interpolate(props["project.artifactId"], props), version,
    )
    return maven_package(
        coords, file_path="", found_by=NAME, evidence="pom.xml project",
        is_application=True, version_unknown_reason=reason,
    )


class PomAnalyzer(FileAnalyzer):
    name: ClassVar[str] = NAME
    version: ClassVar[int] = 1
    description: ClassVar[str] = "Maven pom.xml: the declared dependencies"
    result_type: ClassVar[str] = "pom"
    files: ClassVar[FileSpec] = spec(names=("pom.xml",))
    max_file_size: ClassVar[int] = 16 * MiB

    def matches(self, path: str) -> bool:
        return basename(path) == "pom.xml"

    def parse_file(self, path: str, data: bytes) -> Parsed:
        return parse(data)
