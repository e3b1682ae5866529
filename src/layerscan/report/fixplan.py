"""The fix plan as the reports show it: the document model (built by
``remediate.fixplan``), its table section and its JSON block (docs/json-schema.md ``FixPlan``).

A plan is a list of groups, one per owner and layer (and package manager): every fixable
package is in exactly one group, with its target version and the evidence (advisory ids,
layer, history ``created_by``, Dockerfile line). What has no fix is the residue.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable

from layerscan.model import Finding

OWNERS = ("base", "rebuild", "os", "lang")  # display order


@dataclass(frozen=True)
class PackageFix:
    """One package (OS: one source package at one version) and the version that fixes it."""

    name: str  # the name advisories use: source package for deb/apk, group:artifact for Maven
    type: str  # deb, apk, rpm, pypi, npm, ...
    installed: str  # the compared version (Debian: the source version)
    target: str
    binaries: tuple[tuple[str, str], ...]  # (installed package, its version): what the command names
    fixes: tuple[str, ...]  # vulnerability ids closed by the target
    advisories: tuple[str, ...]  # records whose fixed version decided the target
    moved_up: tuple[str, ...] = ()  # "CVE-x still affects 1.2 -> 1.3": re-check steps
    still_affected: tuple[str, ...] = ()  # ids that affect the target too (no fix): see residue
    path: str = ""  # file the package was read from
    layer: int | None = None  # the layer that brought the packages in (evidence, also in base groups)
    created_by: str = ""  # that layer's history entry


@dataclass(frozen=True)
class FixGroup:
    owner: str  # one of OWNERS
    manager: str  # apt, apk, dnf, yum, tdnf, zypper, pip, npm, maven, go, ... ("" for base)
    command: str  # one command for the whole group ("" when none applies: base)
    items: tuple[PackageFix, ...]
    layer: int | None = None  # the layer that installed the packages (None: base group, no layers)
    created_by: str = ""  # that layer's history entry
    dockerfile_line: int | None = None  # with --dockerfile, when the alignment is exact
    note: str = ""  # why this owner: "base image debian:stretch (dockerfile, Dockerfile line 1)"
    patch: str = ""  # unified diff of the Dockerfile doing it, when exact (remediate.fixpatch)


@dataclass(frozen=True)
class Residue:
    """A finding the plan cannot fix (or a package it cannot plan), with why."""

    package: str
    version: str
    type: str
    vulnerability_id: str  # "" when the whole package could not be planned
    status: str  # affected, will_not_fix, fix_deferred, end_of_life, ... or "unknown"
    reason: str
    layer: int | None = None


@dataclass(frozen=True)
class FixPlan:
    groups: tuple[FixGroup, ...] = ()
    residue: tuple[Residue, ...] = ()
    base: str = ""  # the base image as identified ("debian:stretch", "" when unnamed)
    base_level: str = ""  # remediate.base LEVELS
    base_layers: int | None = None
    dockerfile: str = ""  # path given with --dockerfile
    dockerfile_note: str = ""  # why no lines were emitted ("" when aligned or no Dockerfile)

    @property
    def items(self) -> tuple[PackageFix, ...]:
        return tuple(item for group in self.groups for item in group.items)


def _fixes(item: PackageFix, f: Finding) -> bool:
    pkg = f.package
    layer = pkg.layer.index if pkg.layer else None
    return ((pkg.name, pkg.version) in item.binaries and layer == item.layer
            and (not item.path or pkg.file_path.split("!", 1)[0] == item.path)
            and bool({f.vulnerability_id, f.match.advisory_id} & set(item.fixes)))


def fixed_findings(group: FixGroup, findings: Iterable[Finding]) -> list[Finding]:
    """The ``findings`` the group's targets close: an installed package the group names (same
    name, version, layer and file) and an issue id its item fixes."""
    return [f for f in findings if any(_fixes(item, f) for item in group.items)]


def summary(group: FixGroup) -> str:
    """One line: "Upgrade libssl1.1 openssl in layer 1: apt-get ..." (the packages the
    command names; the base image's packages when no command applies)."""
    names = " ".join(dict.fromkeys(n for item in group.items for n, _ in item.binaries)) or "packages"
    where = f" in layer {group.layer}" if group.layer is not None else ""
    line = f" (Dockerfile line {group.dockerfile_line})" if group.dockerfile_line is not None else ""
    if group.owner == "base":
        return f"Upgrade the base image to fix {names}{line}: {group.note}"
    return f"Upgrade {names}{where}{line}: {group.command}"


# ---- JSON ---------------------------------------------------------------------------------

def _compact(d: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in d.items() if v not in ("", None, [], ())}


def item_json(item: PackageFix) -> dict[str, Any]:
    return _compact({"Name": item.name, "Type": item.type, "InstalledVersion": item.installed,
                     "TargetVersion": item.target,
                     "Packages": [{"Name": n, "InstalledVersion": v} for n, v in item.binaries],
                     "Fixes": list(item.fixes), "Advisories": list(item.advisories),
                     "MovedUp": list(item.moved_up), "StillAffected": list(item.still_affected),
                     "FilePath": item.path, "Layer": item.layer, "CreatedBy": item.created_by})


def group_json(group: FixGroup) -> dict[str, Any]:
    out = _compact({"Owner": group.owner, "Manager": group.manager, "Command": group.command,
                    "Layer": group.layer, "CreatedBy": group.created_by, "DockerfileLine": group.dockerfile_line,
                    "Note": group.note})
    out["Packages"] = [item_json(i) for i in group.items]
    return out


def residue_json(r: Residue) -> dict[str, Any]:
    return _compact({"PkgName": r.package, "InstalledVersion": r.version, "Type": r.type,
                     "VulnerabilityID": r.vulnerability_id, "Status": r.status, "Reason": r.reason,
                     "Layer": r.layer})


def plan_json(plan: FixPlan) -> dict[str, Any]:
    head = _compact({"BaseImage": plan.base, "BaseLevel": plan.base_level, "BaseLayers": plan.base_layers,
                     "Dockerfile": plan.dockerfile, "DockerfileNote": plan.dockerfile_note})
    return head | {"Groups": [group_json(g) for g in plan.groups],
                   "Residue": [residue_json(r) for r in plan.residue]}


# ---- text (the table's section) -----------------------------------------------------------

def _wrap(text: str, width: int, indent: str) -> list[str]:
    """``text`` in lines of at most ``width`` columns (its own leading spaces kept), continued
    lines indented by ``indent``; a word longer than a line is cut."""
    body = text.lstrip(" ")
    lines = [text[:len(text) - len(body)]]
    for word in body.split(" "):
        prefix = "" if len(lines) == 1 else indent
        line = lines[-1]
        joined = f"{line} {word}" if line.strip() else line + word
        if len(prefix) + len(joined) <= width or not line.strip():
            lines[-1] = joined
        else:
            lines.append(word)
        while len(("" if len(lines) == 1 else indent) + lines[-1]) > width:
            room = width - len("" if len(lines) == 1 else indent)
            head, rest = lines[-1][:room], lines[-1][room:]
            lines[-1:] = [head, rest]
    return [lines[0]] + [indent + line for line in lines[1:]]


def _command(command: str, width: int) -> list[str]:
    """``$ command``, continued with `` \\`` so that the lines paste as one command."""
    lines = ["   $"]
    for word in command.split(" "):
        room = width - 2 - (5 if len(lines) > 1 else 0)  # " \\" at the end, indent on continued lines
        if len(lines[-1]) + 1 + len(word) > room and lines[-1].strip() not in ("", "$"):
            lines.append(word)
        else:
            lines[-1] = f"{lines[-1]} {word}" if lines[-1] else word
    return [lines[0] + (" \\" if len(lines) > 1 else "")] + \
           [f"     {line}" + (" \\" if n < len(lines) - 1 else "") for n, line in enumerate(lines[1:], 1)]


def _ids(ids: tuple[str, ...], shown: int = 3) -> str:
    more = f", +{len(ids) - shown} more" if len(ids) > shown else ""
    return ", ".join(ids[:shown]) + more


def heading(group: FixGroup) -> str:
    """"OS upgrade (apt) layer 1 (Dockerfile line 4)": a group's title in the table and the page."""
    where = f"layer {group.layer}" if group.layer is not None else ""
    line = f" (Dockerfile line {group.dockerfile_line})" if group.dockerfile_line is not None else ""
    titles = {"base": "Upgrade the base image", "rebuild": "Rebuild", "os": f"OS upgrade ({group.manager})",
              "lang": f"Language upgrade ({group.manager})"}
    return " ".join(p for p in (titles.get(group.owner, group.owner), where) if p) + line


def render_plan(plan: FixPlan, width: int = 80) -> list[str]:
    """The section printed after the table: one block per group, one command per group."""
    width = max(40, min(width, 80))
    lines = ["", "Fix plan", "========"]
    if not plan.groups and not plan.residue:
        return lines + ["Nothing to fix."]
    if plan.dockerfile_note:
        lines += _wrap(f"note: {plan.dockerfile_note}", width, "  ")
    for n, group in enumerate(plan.groups, 1):
        lines += [""] + _wrap(f"{n}. {heading(group)}", width, "   ")
        if group.created_by:
            lines += _wrap(f"   from: {group.created_by}", width, "         ")
        if group.note:
            lines += _wrap(f"   why:  {group.note}", width, "         ")
        for item in group.items:
            lines += _wrap(f"   - {item.name} {item.installed} -> {item.target} ({_ids(item.fixes)})",
                           width, "       ")
            for step in item.moved_up:
                lines += _wrap(f"     moved up: {step}", width, "       ")
        if group.command:
            lines += _command(group.command, width)
    if plan.residue:
        lines += ["", f"No fix available ({len(plan.residue)}):"]
        for r in plan.residue:
            what = f"{r.vulnerability_id} " if r.vulnerability_id else ""
            lines += _wrap(f"   - {r.package} {r.version}: {what}{r.status}: {r.reason}", width, "       ")
    return lines
