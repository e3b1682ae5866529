"""The fix plan of a scan (docs/cli.md "Fix plan"): one target version per package
(``remediate.fixtarget``), each fix given to exactly one owner, mapped to the layer's history
entry and, with ``--dockerfile``, to the Dockerfile line.

Owner rules, first that applies:

``base``     the package is in the base image's layers (``remediate.base``) and the base is
             named (declared, matched, Dockerfile FROM): upgrade the base image
``rebuild``  an OS package in the base's layers when the base is not named (history boundary
             only): the fix is in the distribution's archive; rebuild pulling a current base
``base``     a language package in unnamed base layers: only another base removes it
``os``       an OS package from one of the image's own layers: upgrade it in that layer, with
             one command naming the installed binary packages of each source package
``lang``     a language package from one of the image's own layers (or a lockfile): pin it

Everything is computed from the findings shown, the SBOM and the advisory rows of each
package's own namespace (``rows_of``); nothing here reads files or the network.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterable, Sequence

from layerscan.match.namespace import compared_version, lookup_name, package_namespace
from layerscan.model import Finding, LayerInfo, OSInfo, Package, Sbom
from layerscan.model.package import OS_TYPES
from layerscan.remediate.base import BaseImage
from layerscan.remediate.fixcommands import lang_command, lang_manager, os_command, os_manager
from layerscan.remediate.fixpatch import group_patch, patch_path
from layerscan.remediate.fixtarget import RowLike, Target, choose_target, own_rows
from layerscan.report.dockerfile_map import aligned_lines
from layerscan.report.fixplan import OWNERS, FixGroup, FixPlan, PackageFix, Residue
from layerscan.versions import get_scheme

if TYPE_CHECKING:
    from layerscan.remediate.assess import Assessment

RowsOf = Callable[[str, str], Sequence[RowLike]]  # (namespace, name) -> advisory rows (Store.affected)
REBUILD_COMMAND = "docker build --pull --no-cache ."
MATCHER = "matcher"  # Unknown.analyzer of versions the matcher could not read


@dataclass(frozen=True)
class Unit:
    """Packages that share one advisory lookup: (namespace, name, compared version)."""

    namespace: str
    name: str
    version: str
    type: str
    packages: tuple[Package, ...]
    findings: tuple[Finding, ...]  # the shown findings of these packages

    @property
    def wanted(self) -> frozenset[str]:
        """The issues to fix: each finding's id and its matched record's id."""
        return frozenset(i for f in self.findings for i in (f.vulnerability_id, f.match.advisory_id))


def _key(pkg: Package, os_info: OSInfo | None) -> tuple[str, str, str]:
    namespace = package_namespace(pkg, os_info)
    return namespace, lookup_name(pkg, namespace), compared_version(pkg)


def units(findings: Iterable[Finding], sbom: Sbom) -> list[Unit]:
    """One unit per lookup with shown findings; its packages are every installed package of
    that lookup (the binaries of one Debian source package at one version)."""
    wanted: dict[tuple[str, str, str], list[Finding]] = {}
    for f in findings:
        wanted.setdefault(_key(f.package, sbom.os), []).append(f)
    members: dict[tuple[str, str, str], list[Package]] = {}
    for pkg in sbom.packages:
        key = _key(pkg, sbom.os)
        if key in wanted and pkg.matchable:
            members.setdefault(key, []).append(pkg)
    for f in findings:  # a finding whose package is not in the SBOM's list (kept as found)
        members.setdefault(_key(f.package, sbom.os), [f.package])
    return [Unit(k[0], k[1], k[2], members[k][0].type, tuple(members[k]), tuple(found))
            for k, found in sorted(wanted.items(), key=lambda kv: kv[0]) if k[0]]


def owner_of(pkg: Package, base: BaseImage) -> str:
    """The owner rule of the module docstring."""
    layers = base.layers or 0
    in_base = pkg.layer is not None and 0 <= pkg.layer.index < layers
    if in_base:
        return "rebuild" if not base.name and pkg.type in OS_TYPES else "base"
    return "os" if pkg.type in OS_TYPES else "lang"


def _residue(unit: Unit, target: Target) -> list[Residue]:
    layer = unit.packages[0].layer.index if unit.packages[0].layer else None
    if target.reason:
        return [Residue(unit.name, unit.version, unit.type, "", "unknown", target.reason, layer)]
    out = [Residue(unit.name, unit.version, unit.type, u.vulnerability_id, u.status, u.reason, layer)
           for u in target.unfixed]
    planned = set(target.fixes) | {u.vulnerability_id for u in target.unfixed}
    for f in {f.vulnerability_id: f for f in unit.findings}.values():  # matched outside the own namespace
        if f.vulnerability_id not in planned and f.match.advisory_id not in planned:
            out.append(Residue(unit.name, unit.version, unit.type, f.vulnerability_id, f.status,
                               f"matched in {f.match.namespace}; no fix in {unit.namespace}", layer))
    return out


def _target(unit: Unit, rows_of: RowsOf) -> Target:
    try:
        scheme = get_scheme(unit.namespace)
    except KeyError:
        return Target(reason=f"no version scheme for {unit.namespace}")
    return choose_target(unit.version, own_rows(rows_of(unit.namespace, unit.name), unit.namespace), scheme,
                         unit.wanted)


@dataclass(frozen=True)
class _Placed:
    owner: str
    manager: str
    layer: LayerInfo | None
    path: str
    item: PackageFix


def _place(unit: Unit, target: Target, base: BaseImage, os_info: OSInfo | None) -> list[_Placed]:
    """The unit's packages split by owner and layer: one item each."""
    by_place: dict[tuple[str, int | None, str], list[Package]] = {}
    for pkg in unit.packages:
        owner = owner_of(pkg, base)
        path = pkg.file_path.split("!", 1)[0] if pkg.layer is None and owner == "lang" else ""
        by_place.setdefault((owner, pkg.layer.index if pkg.layer else None, path), []).append(pkg)
    out = []
    for (owner, _, path), pkgs in by_place.items():
        manager = os_manager(unit.type, os_info) if unit.type in OS_TYPES else lang_manager(unit.type)
        item = PackageFix(unit.name, unit.type, unit.version, target.version,
                          tuple(sorted({(p.name, p.version) for p in pkgs})), target.fixes, target.advisories,
                          target.moved_up, tuple(u.vulnerability_id for u in target.unfixed), path,
                          pkgs[0].layer.index if pkgs[0].layer else None,
                          pkgs[0].layer.created_by if pkgs[0].layer else "")
        out.append(_Placed(owner, "" if owner == "base" else manager, pkgs[0].layer, path, item))
    return out


def _base_note(base: BaseImage) -> str:
    if base.name:
        moved = f"; {base.warnings[0]}" if base.tag_moved and base.warnings else ""
        return f"base image {base.reference} ({base.level}: {base.evidence}){moved}"
    return f"the base image is not named ({base.evidence or base.boundary})"


def _group(owner: str, manager: str, layer: LayerInfo | None, path: str, items: list[PackageFix],
           base: BaseImage, lines: dict[int, int], from_line: int | None) -> FixGroup:
    if owner == "base":
        return FixGroup("base", "", "", tuple(items), None, "", from_line,
                        _base_note(base) + "; candidates: layerscan recommendations")
    if owner == "rebuild":
        return FixGroup("rebuild", manager, REBUILD_COMMAND, tuple(items), None, "", None,
                        _base_note(base) + ": the fixes are in the distribution's archive; rebuild pulling a "
                        "current base (or upgrade these packages in a step of your own)")
    if owner == "os":
        command = os_command(manager, [b for i in items for b, _ in i.binaries])
    else:
        command = lang_command(manager, [(i.name, i.target) for i in items])
    index = layer.index if layer else None
    return FixGroup(owner, manager, command, tuple(items), index, layer.created_by if layer else "",
                    lines.get(index) if index is not None else None, f"pinned in {path}" if path else "")


def build_plan(findings: Iterable[Finding], sbom: Sbom, rows_of: RowsOf, base: BaseImage,
               dockerfile: str = "", dockerfile_path: str = "") -> FixPlan:
    """The plan for the shown ``findings`` of ``sbom``."""
    placed: list[_Placed] = []
    residue: list[Residue] = []
    for unit in units(findings, sbom):
        target = _target(unit, rows_of)
        residue += _residue(unit, target)
        if target.version:
            placed += _place(unit, target, base, sbom.os)
    residue += _unmatched(sbom)
    lines, note = aligned_lines(dockerfile, sbom.image.layers if sbom.image else ()) if dockerfile else ({}, "")
    from_line = _from_line(dockerfile)
    buckets: dict[tuple[int, int, str, str], tuple[_Placed, list[PackageFix]]] = {}
    for p in placed:
        index = p.layer.index if p.layer and p.owner in ("os", "lang") else -1
        key = (OWNERS.index(p.owner), index, p.manager, p.path)
        buckets.setdefault(key, (p, []))[1].append(p.item)
    groups = tuple(_group(p.owner, p.manager, p.layer if p.owner in ("os", "lang") else None, p.path,
                          sorted(items, key=lambda i: (i.name, i.installed, i.path)), base, lines, from_line)
                   for _, (p, items) in sorted(buckets.items(), key=lambda kv: kv[0]))
    where = patch_path(dockerfile_path) if dockerfile else ""
    groups = tuple(replace(g, patch=group_patch(dockerfile, where, g)) if where else g for g in groups)
    return FixPlan(groups, tuple(sorted(residue, key=lambda r: (r.package, r.vulnerability_id))),
                   base.reference, base.level, base.layers, dockerfile_path, note)


def _unmatched(sbom: Sbom) -> list[Residue]:
    """The packages the matcher could not read the version of (its unknowns name the package's
    file, or its id when it has none)."""
    by_where = {p.file_path or p.id: p for p in sbom.packages}
    out = []
    for u in sbom.unknowns:
        if u.analyzer != MATCHER:
            continue
        pkg = by_where.get(u.path)
        out.append(Residue(pkg.name if pkg else u.path, pkg.version if pkg else "", pkg.type if pkg else "", "",
                           "unknown", u.reason, u.layer.index if u.layer else None))
    return out


def _from_line(dockerfile: str) -> int | None:
    from layerscan.errors import UsageError
    from layerscan.remediate.dockerfile import final_from

    if not dockerfile:
        return None
    try:
        line = final_from(dockerfile)
    except UsageError:  # a FROM without an image: no line to name
        return None
    return line.line if line else None


def plan_for(assessment: Assessment, cache_dir: Path, dockerfile: str = "", dockerfile_path: str = "") -> FixPlan:
    """The plan of an assessed scan, reading the advisory rows from the database under ``cache_dir``."""
    from layerscan.db.freshness import db_path
    from layerscan.db.store import Store

    outcome = assessment.outcome
    with Store.open(db_path(cache_dir)) as store:
        return build_plan(outcome.report.findings, outcome.sbom, store.affected, assessment.base, dockerfile,
                          dockerfile_path)
