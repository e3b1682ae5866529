"""``recommendations``: candidate base images from the base-image index, each scanned for its
findings, ranked. This slice has two classes:

``refresh``  the same tag at the digest it points at now (the base was matched on an older one)
``patch``    the same repository, flavor and OS, the same major.minor, a newer (or more specific)
             version: ``3.12-bookworm`` -> ``3.12.9-bookworm``
``minor``    the same major, a newer minor: ``3.12-bookworm`` -> ``3.13-bookworm``

Tags are parsed by ``remediate.tags``; a tag without a leading version is never a candidate.
Each candidate is scanned as a registry image (the layer cache makes the layers it shares
with the image or with other candidates free) and compared with the findings in the image's
base layers. Ranking: passes the policy, then weighted severity (an alias group is one
finding already), then disruption (refresh < patch < minor), then size.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Iterable, Mapping, Sequence

from layerscan.db.records import IndexEntry
from layerscan.remediate.assess import Assessment
from layerscan.remediate.base import BaseImage
from layerscan.remediate.compare import severity_delta
from layerscan.remediate.cves import clip, counts_line
from layerscan.remediate.tags import TagParts, padded, parse_tag, upgrade_class
from layerscan.report.document import severity_counts
from layerscan.scan.config import ScanConfig, Target
from layerscan.scan.pipeline import Scanner

CLASSES = ("refresh", "patch", "minor")  # in order of disruption
MAX_CANDIDATES = 10
WEIGHTS = {"CRITICAL": 1000, "HIGH": 100, "MEDIUM": 10, "LOW": 1, "UNKNOWN": 1}


@dataclass(frozen=True)
class Candidate:
    kind: str  # one of CLASSES
    entry: IndexEntry  # the row named in the FROM line
    tags: tuple[str, ...]  # every current tag of that digest

    @property
    def from_line(self) -> str:
        return f"FROM {self.entry.reference}"


@dataclass(frozen=True)
class Recommendation:
    candidate: Candidate
    counts: Mapping[str, int]
    base_counts: Mapping[str, int]  # the image's base layers, for the delta
    passes: bool  # the candidate alone passes the policy (exit code 0)
    size: int  # compressed bytes of its layers (0 when unknown)

    @property
    def weight(self) -> int:
        return sum(WEIGHTS.get(s, 1) * n for s, n in self.counts.items())

    @property
    def delta(self) -> str:
        return severity_delta(dict(self.base_counts), dict(self.counts))


def os_names(codenames: Iterable[str]) -> frozenset[str]:
    """Codenames as tags spell them: "Bookworm" -> "bookworm", "Noble Numbat" -> "noble"."""
    return frozenset(c.split()[0].lower() for c in codenames if c and c.split())


def candidates(base: BaseImage, entries: Sequence[IndexEntry], names: frozenset[str] = frozenset()
               ) -> list[Candidate]:
    """Refresh / patch / minor candidates for ``base`` among the index rows of its repository."""
    if not base.name or not base.tag:
        return []
    platform = base.platform
    current = [e for e in entries if e.repo == base.name and e.current and (not platform or e.platform == platform)]
    tags_of: dict[str, list[str]] = {}
    for e in current:
        tags_of.setdefault(e.digest, []).append(e.tag)
    out: list[Candidate] = []
    if base.tag_moved:
        moved = [e for e in current if e.tag == base.tag and e.digest == base.current_digest]
        out += [Candidate("refresh", moved[0], tuple(sorted(tags_of[moved[0].digest])))] if moved else []
    mine = parse_tag(base.tag, names)
    best: dict[str, tuple[TagParts, IndexEntry]] = {}  # digest -> its floating (shortest-version) tag
    for e in current:
        parts = parse_tag(e.tag, names)
        if e.digest in (base.digest, base.current_digest) or not upgrade_class(mine, parts):
            continue
        held = best.get(e.digest)
        if held is None or (len(parts.version), parts.tag) < (len(held[0].version), held[0].tag):
            best[e.digest] = (parts, e)
    ordered = sorted(best.values(), key=lambda pe: padded(pe[0].version), reverse=True)
    for parts, e in ordered[:MAX_CANDIDATES - len(out)]:
        out.append(Candidate(upgrade_class(mine, parts), e, tuple(sorted(tags_of[e.digest]))))
    return out


def evaluate(scanner: Scanner, config: ScanConfig, view: Assessment, candidate: Candidate) -> Recommendation:
    """Scan the candidate (a registry image, same flags as the image) and compare it with the base."""
    target = Target("image", f"{candidate.entry.repo}:{candidate.entry.tag}@{candidate.entry.digest}", "")
    inventory = dataclasses.replace(config.inventory, target=target)
    outcome = scanner.run(dataclasses.replace(config, inventory=inventory, base_layers=None))
    image = outcome.sbom.image
    size = sum(layer.size for layer in image.layers) if image else 0
    return Recommendation(candidate, severity_counts(outcome.policy.shown), severity_counts(view.base_findings),
                          outcome.policy.exit_code == 0, size)


def rank(recommendations: Iterable[Recommendation]) -> list[Recommendation]:
    return sorted(recommendations, key=lambda r: (not r.passes, r.weight, CLASSES.index(r.candidate.kind),
                                                  r.size, r.candidate.entry.tag))


# ---- rendering -----------------------------------------------------------------------------

def render_text(view: Assessment, ranked: Sequence[Recommendation], note: str, width: int = 80) -> str:
    from layerscan.remediate.base import MOVED

    base = view.base
    name = (base.name + (f":{base.tag}" if base.tag else "")) or "unknown"
    lines = [clip(f"Base image  {name}  ({base.level})", width)]
    lines += [clip(f"  @{base.digest}", width)] if base.digest else []
    lines += [clip(f"            ! {MOVED}", width)] if base.tag_moved else []
    lines.append(clip(f"            {counts_line(severity_counts(view.base_findings)).strip()}   in the base's layers",
                      width))
    if note:
        lines += ["", clip(note, width)]
    for n, rec in enumerate(ranked, 1):
        c = rec.candidate
        lines += ["", clip(f"{n}. {c.kind:<8} {c.entry.repo}:{c.entry.tag}"
                           + (f"  (also {', '.join(t for t in c.tags if t != c.entry.tag)})"
                              if len(c.tags) > 1 else ""), width),
                  clip(f"   {counts_line(dict(rec.counts)).strip()}   delta {rec.delta}"
                       + ("" if rec.passes else "   fails the policy"), width),
                  f"   {c.from_line}"]  # whole, to paste (names and digests were validated by the index)
    return "\n".join(lines) + "\n"


def to_json(view: Assessment, ranked: Sequence[Recommendation], note: str) -> dict:
    from layerscan.remediate.quickview import base_json

    return {"ArtifactName": view.outcome.sbom.artifact_name, "BaseImage": base_json(view), "Note": note,
            "Recommendations": [{
                "Rank": n, "Class": r.candidate.kind, "Repository": r.candidate.entry.repo,
                "Tag": r.candidate.entry.tag, "Tags": list(r.candidate.tags), "Digest": r.candidate.entry.digest,
                "Platform": r.candidate.entry.platform, "Severities": dict(r.counts),
                "Vulnerabilities": sum(r.counts.values()), "Delta": r.delta,
                "DeltaSeverities": {s: r.counts.get(s, 0) - r.base_counts.get(s, 0)
                                    for s in {**r.counts, **r.base_counts}},
                "PassesPolicy": r.passes,
                "Size": r.size, "From": r.candidate.from_line} for n, r in enumerate(ranked, 1)]}
