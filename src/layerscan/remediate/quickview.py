"""``quickview``: one 80-column screen about an image, as ``docker scout quickview`` shows
it: the image and its severity counts, its base image (name, tag, digest, how it was
identified) with the base's own counts when the base's layers are known, and the end of
life of the OS and of every runtime found. A base matched in the base-image index on a
digest its tag no longer points at says "tag has moved: refresh available". The recommended
base image (the best of ``recommendations``, its counts and delta) is given by the caller as
rows of text (``remediate.recommend.recommended_texts``) and a JSON block.
"""

from __future__ import annotations

from typing import Sequence

from layerscan.remediate.assess import Assessment
from layerscan.remediate.base import MOVED
from layerscan.remediate.cves import clip, counts_line
from layerscan.match.lifecycle import EolEntry
from layerscan.report.document import severity_counts

WIDTH = 80
LABEL = 14  # label column
NO_INDEX = "see 'layerscan recommendations' (from the base-image index)"


def _short_digest(digest: str) -> str:
    algo, _, hexpart = digest.partition(":")
    return f"{algo}:{hexpart[:12]}" if hexpart else digest[:19]


def eol_text(entry: EolEntry) -> str:
    """"EOL since 2022-06-30", "supported until 2028-06-30", ..."""
    if entry.state == "supported":
        return f"supported until {entry.eol}" if entry.eol else "supported"
    if entry.state == "extended":
        return f"security support ended {entry.eol}; extended support until {entry.extended}"
    if entry.state == "eol":
        since = entry.extended or entry.eol
        return f"EOL since {since}" if since else "EOL"
    return "no end-of-life data"


def _row(label: str, text: str, width: int) -> str:
    return clip(f"  {label:<{LABEL}}{text}", width)


def _eol_rows(label: str, entries: tuple[EolEntry, ...], width: int) -> list[str]:
    rows = []
    for i, entry in enumerate(entries):
        cycle = entry.cycle or entry.version
        rows.append(_row(label if i == 0 else "", f"{entry.name} {cycle}  {eol_text(entry)}", width))
        if entry.evidence:
            rows.append(_row("", f"  from {entry.evidence[0]}"
                             + (f" (+{len(entry.evidence) - 1} more)" if len(entry.evidence) > 1 else ""), width))
    return rows


def render_text(view: Assessment, width: int = WIDTH, recommended: Sequence[str] = (NO_INDEX,)) -> str:
    sbom = view.outcome.sbom
    findings = view.findings
    packages = len({(f.package.name, f.package.version, f.package.file_path) for f in findings})
    image_id = sbom.image.image_id if sbom.image else ""
    lines = [_row("Target", sbom.artifact_name + (f"  {_short_digest(image_id)}" if image_id else ""), width),
             _row("", f"{counts_line(severity_counts(findings)).strip()}   {len(findings)} vulnerabilities "
                      f"in {packages} packages", width)]
    base = view.base
    if base.name or base.digest:
        lines.append(_row("Base image", (base.name + (f":{base.tag}" if base.tag else "")) or "(unnamed)", width))
        if base.digest:
            lines.append(clip(f"  @{base.digest}", width))
    else:
        lines.append(_row("Base image", "unknown", width))
    lines.append(_row("", f"identified: {base.level}" + (f" ({base.evidence})" if base.evidence else ""), width))
    if base.tag_moved:
        lines.append(_row("", f"! {MOVED}", width))
        lines.append(clip(f"  now @{base.current_digest}", width))
    if base.hierarchy:
        lines.append(_row("", "on top of " + " <- ".join(r.split("@")[0] for r in base.hierarchy), width))
    if base.known_layers:
        last = (base.layers or 0) - 1
        span = "no layers" if last < 0 else f"layers #0{f'-#{last}' if last else ''}"
        lines.append(_row("", f"{span} ({base.boundary})", width))
        base_findings = view.base_findings
        lines.append(_row("", f"{counts_line(severity_counts(base_findings)).strip()}   in the base's layers",
                          width))
    else:
        lines.append(_row("", "base layers unknown: no counts for the base", width))
    lines += [_row("Recommended" if i == 0 else "", text, width) for i, text in enumerate(recommended)]
    if view.os_eol:
        lines += _eol_rows("OS", (view.os_eol,), width)
    lines += _eol_rows("Runtimes", view.runtimes, width) if view.runtimes else [_row("Runtimes", "none found", width)]
    notes = _notes(view)
    return "\n".join(lines + ([""] + [clip(f"  ! {n}", width) for n in notes] if notes else [])) + "\n"


def _notes(view: Assessment) -> list[str]:
    """What makes the counts incomplete: an end-of-life OS, OS packages the database has no data for."""
    notes = []
    if view.os_eol and view.os_eol.is_eol:
        notes.append(f"{view.os_eol.name} {view.os_eol.cycle or view.os_eol.version} is end-of-life: "
                     "vulnerability data incomplete")
    unchecked = view.outcome.report.unchecked_os_packages
    if unchecked:
        notes.append(f"{unchecked} OS packages not checked: the database has no data for this distribution")
    return notes


def eol_json(entry: EolEntry) -> dict:
    return {"Kind": entry.kind, "Name": entry.name, "Version": entry.version, "Product": entry.product,
            "Cycle": entry.cycle, "State": entry.state, "EOL": entry.eol, "ExtendedSupport": entry.extended,
            "Latest": entry.latest, "Evidence": list(entry.evidence)}


def base_json(view: Assessment) -> dict:
    base = view.base
    return {"Level": base.level, "Name": base.name, "Tag": base.tag, "Digest": base.digest,
            "Reference": base.reference, "Evidence": base.evidence, "Layers": base.layers,
            "Boundary": base.boundary, "Warnings": list(base.warnings),
            "TagMoved": base.tag_moved, "CurrentDigest": base.current_digest, "Hierarchy": list(base.hierarchy),
            "Platform": base.platform,
            "Severities": severity_counts(view.base_findings) if base.known_layers else None}


def to_json(view: Assessment, recommended: dict | None = None) -> dict:
    sbom = view.outcome.sbom
    return {"ArtifactName": sbom.artifact_name, "ImageID": sbom.image.image_id if sbom.image else "",
            "Severities": severity_counts(view.findings), "Vulnerabilities": len(view.findings),
            "BaseImage": base_json(view), "Recommended": recommended or {"Available": False, "Reason": NO_INDEX},
            "EndOfLife": [eol_json(e) for e in view.eol_entries],
            "VulnerabilityDataIncomplete": bool(view.os_eol and view.os_eol.is_eol),
            "UncheckedOSPackages": view.outcome.report.unchecked_os_packages}
