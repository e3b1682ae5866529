"""How a Java archive's identity is established offline, in order of trust:
``pom.properties`` (exact Maven coordinates), ``MANIFEST.MF`` attributes, and
the file name (``name-1.2.3.jar``). No Maven Central and no sha1 database."""

from __future__ import annotations

import posixpath
import re

from layerscan.analyzers.java.coords import Coordinates, valid_id, valid_version
from layerscan.analyzers.java.properties import parse_manifest, parse_properties

ARCHIVE_SUFFIXES = (".jar", ".war", ".ear", ".par", ".jpi", ".hpi")
_FILENAME_RE = re.compile(r"^(?P<name>.+?)-(?P<version>\d[^-]*(?:-[A-Za-z0-9_.]+)*)$")


def from_pom_properties(text: str) -> Coordinates | None:
    props = parse_properties(text)
    coords = Coordinates(
        props.get("groupId", ""), props.get("artifactId", ""), props.get("version", "")
    )
    if valid_id(coords.group_id) and valid_id(coords.artifact_id) and valid_version(coords.version):
        return coords
    return None


def split_filename(path: str) -> tuple[str, str] | None:
    """``log4j-core-2.14.1.jar`` -> (``log4j-core``, ``2.14.1``); None when no version."""
    stem = posixpath.basename(path)
    lower = stem.lower()
    for suffix in ARCHIVE_SUFFIXES:
        if lower.endswith(suffix):
            stem = stem[: -len(suffix)]
            break
    match = _FILENAME_RE.match(stem)
    if not match:
        return None
    return match.group("name"), match.group("version")


def from_filename(path: str) -> Coordinates | None:
    split = split_filename(path)
    if split is None or not valid_id(split[0]):
        return None
    name, version = split
    group = name.rsplit(".", 1)[0] if "." in name else name
    return Coordinates(group, name, version)


def _first_valid(attrs: dict[str, str], keys: tuple[str, ...]) -> tuple[str, str]:
    for key in keys:
        value = attrs.get(key, "").strip()
        if valid_id(value):
            return key, value
    return "", ""


def _manifest_version(attrs: dict[str, str]) -> str:
    for key in ("Implementation-Version", "Bundle-Version", "Specification-Version"):
        token = (attrs.get(key, "").split() or [""])[0]
        if valid_version(token):
            return token
    return ""


def _dotted_name(attrs: dict[str, str]) -> str:
    """A package-like id from Bundle-SymbolicName (``a.b.c;singleton:=true``) or ``Name: a/b/c``."""
    symbolic = attrs.get("Bundle-SymbolicName", "").split(";")[0].strip()
    if valid_id(symbolic):
        return symbolic
    section = attrs.get("Name", "").strip().strip("/").replace("/", ".")
    return section if valid_id(section) else ""


def from_manifest(text: str) -> Coordinates | None:
    attrs = parse_manifest(text)
    version = _manifest_version(attrs)
    if not version:
        return None
    title_key, artifact = _first_valid(
        attrs, ("Implementation-Title", "Specification-Title", "Bundle-Name")
    )
    dotted = _dotted_name(attrs)
    if not artifact and dotted:
        artifact = dotted.rsplit(".", 1)[-1]
    if not artifact:
        return None
    _, group = _first_valid(attrs, ("Implementation-Vendor-Id",))
    if not group and dotted:
        suffix = "." + artifact
        group = dotted[: -len(suffix)] if title_key and dotted.endswith(suffix) else dotted
    if not group:
        _, group = _first_valid(attrs, ("Extension-Name",))
    if not group:
        group = artifact.rsplit(".", 1)[0] if "." in artifact else artifact
    return Coordinates(group, artifact, version)


def claims_archive(coords: Coordinates, archive_path: str) -> bool:
    """Whether a pom.properties found inside an archive describes the archive itself."""
    split = split_filename(archive_path)
    if split is None:
        return True
    name, version = split
    return coords.artifact_id == name or (
        coords.version == version and name.endswith(coords.artifact_id)
    )
