"""``recommendations``: candidate base images from the base-image index, each scanned for its
findings, ranked. The classes, in order of disruption:

``refresh``      the same tag at the digest it points at now (the base was matched on an older one)
``patch``        the same repository, flavor and OS, the same major.minor, a newer (or more
                 specific) version: ``3.12-bookworm`` -> ``3.12.9-bookworm``
``minor``        the same major, a newer minor: ``3.12-bookworm`` -> ``3.13-bookworm``
``os``           the same version line and flavor on a newer release of the same OS:
                 ``14-buster`` -> ``14-bookworm``; *mandatory* (always shown, flagged) when the
                 image's OS is end of life
``major``        a newer major line, same flavor, same or newer OS: ``14-buster`` -> ``22-bookworm``;
                 only lines the endoflife.date data says are supported when the runtime is known
                 (the image's runtime whose version the base tag begins), else the newest lines
``alternative``  another variant of the same major: ``slim`` (fewer packages), ``alpine`` (musl
                 libc), ``distroless`` (no shell or package manager)

Tags are parsed by ``remediate.tags``; a tag without a leading version is never a candidate
(``skipped_tags`` counts them). Each candidate is scanned as a registry image (the layer
cache makes the layers it shares with the image or with other candidates free) and compared
with the findings in the image's base layers; its size is the sum of its compressed layer
sizes from the manifest, its age the config's ``created``. Ranking: passes the policy, then
weighted severity (an alias group is one finding already), then disruption, then size.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
from dataclasses import dataclass, field
from typing import Callable, Iterable, Mapping, Sequence

from layerscan.db.records import EolInfo, IndexEntry
from layerscan.remediate.assess import Assessment
from layerscan.remediate.base import BaseImage
from layerscan.remediate.compare import severity_delta
from layerscan.remediate.cves import clip, counts_line
from layerscan.match.lifecycle import EolLookup, cycle_for
from layerscan.remediate.tags import (VARIANTS, OsRanks, TagParts, newer_os, not_older, os_rank, padded,
                                      parse_tag, same_line, upgrade_class, variant)
from layerscan.report.document import severity_counts
from layerscan.scan.config import ScanConfig, Target
from layerscan.scan.pipeline import Scanner
from layerscan.textload import LoadError, parse_json

log = logging.getLogger(__name__)
CLASSES = ("refresh", "patch", "minor", "os", "major", "alternative")  # in order of disruption
MAX_CANDIDATES = 10
MAX_MAJORS = 3  # newest supported major lines offered
WEIGHTS = {"CRITICAL": 1000, "HIGH": 100, "MEDIUM": 10, "LOW": 1, "UNKNOWN": 1}
Support = Callable[[TagParts], "bool | None"]  # is the tag's line supported (None: no data)


def _unknown_support(parts: TagParts) -> bool | None:
    return None


@dataclass(frozen=True)
class Context:
    """What the tags alone do not say: the OS releases in order, whether a version line is
    supported, and whether the image's OS is end of life (which makes the ``os`` class mandatory)."""

    ranks: OsRanks = field(default_factory=dict)
    supported: Support = _unknown_support
    os_eol: str = ""  # "debian 10": the image's OS is end of life; "" when not (or unknown)


@dataclass(frozen=True)
class Candidate:
    kind: str  # one of CLASSES
    entry: IndexEntry  # the row named in the FROM line
    tags: tuple[str, ...]  # every current tag of that digest
    note: str = ""  # what the class changes: "musl libc", "nodejs 22 supported until 2027-04-30"
    mandatory: bool = False  # the image's OS is end of life and this is its newer release

    @property
    def from_line(self) -> str:
        return f"FROM {self.entry.reference}"


@dataclass(frozen=True)
class Recommendation:
    candidate: Candidate
    counts: Mapping[str, int]
    base_counts: Mapping[str, int]  # the image's base layers, for the delta
    passes: bool  # the candidate alone passes the policy (exit code 0)
    size: int  # compressed bytes of its layers, from its manifest (0 when unknown)
    base_size: int = 0  # the same for the image's base layers (0 when unknown)
    created: str = ""  # the candidate's config "created" (RFC 3339), "" when absent
    os_eol: bool = False  # the candidate's own OS is end of life
    incomplete: bool = False  # a layer of the candidate could not be read: its counts are partial

    @property
    def weight(self) -> int:
        return sum(WEIGHTS.get(s, 1) * n for s, n in self.counts.items())

    @property
    def delta(self) -> str:
        return severity_delta(dict(self.base_counts), dict(self.counts))

    @property
    def size_delta(self) -> int | None:
        return self.size - self.base_size if self.size and self.base_size else None

    def age_days(self, today: dt.date) -> int | None:
        try:
            made = dt.datetime.fromisoformat(self.created.replace("Z", "+00:00")).date()
        except ValueError:
            return None
        return (today - made).days


def os_names(codenames: Iterable[str]) -> frozenset[str]:
    """Codenames as tags spell them: "Bookworm" -> "bookworm", "Noble Numbat" -> "noble"."""
    return frozenset(c.split()[0].lower() for c in codenames if c and c.split())


def os_ranks(cycles: Iterable[EolInfo]) -> dict[str, tuple[str, tuple[int, ...]]]:
    """codename as tags spell it -> (product, release cycle): "bookworm" -> ("debian", (12,))."""
    out: dict[str, tuple[str, tuple[int, ...]]] = {}
    for info in cycles:
        name = next(iter(os_names([info.codename])), "")
        parts = info.cycle.split(".")
        if name and all(p.isdigit() and len(p) <= 9 for p in parts):
            out[name] = (info.product, tuple(int(p) for p in parts))
    return out


def line_support(cycles: Sequence[EolInfo], today: dt.date) -> Support:
    """Whether a tag's version line is supported per the product's endoflife.date cycles."""
    def supported(parts: TagParts) -> bool | None:
        info = cycle_for(parts.version_text, cycles)
        ended = info.is_eol(today.isoformat()) if info else None
        return None if ended is None else not ended
    return supported


def runtime_product(view: Assessment, base_tag: str) -> str:
    """The endoflife.date product of the image's runtime that the base tag is a version of
    (NODE_VERSION=14.21.3 for ``14-buster``), "" when none is."""
    version = parse_tag(base_tag).version
    for entry in view.runtimes:
        if entry.product and version and entry.version.split(".")[:len(version)] == [str(v) for v in version]:
            return entry.product
    return ""


def _current(base: BaseImage, entries: Sequence[IndexEntry]) -> list[IndexEntry]:
    return [e for e in entries
            if e.repo == base.name and e.current and (not base.platform or e.platform == base.platform)]


def skipped_tags(base: BaseImage, entries: Sequence[IndexEntry], names: Iterable[str] = ()) -> tuple[str, ...]:
    """The base repository's current tags that do not parse as ``<version>[-<flavor>][-<os>]``."""
    return tuple(sorted({e.tag for e in _current(base, entries) if not parse_tag(e.tag, names).parsed}))


def _floating(pairs: Iterable[tuple[TagParts, IndexEntry]]) -> dict[str, tuple[TagParts, IndexEntry]]:
    """digest -> its floating (shortest-version) tag among ``pairs``."""
    best: dict[str, tuple[TagParts, IndexEntry]] = {}
    for parts, e in pairs:
        held = best.get(e.digest)
        if held is None or (len(parts.version), parts.tag) < (len(held[0].version), held[0].tag):
            best[e.digest] = (parts, e)
    return best


def _newest(pairs: Iterable[tuple[TagParts, IndexEntry]], ranks: OsRanks) -> tuple[TagParts, IndexEntry]:
    """The newest OS release, then the highest version, then the floating tag."""
    return max(pairs, key=lambda pe: ((os_rank(pe[0].os, ranks) or ("", ()))[1], padded(pe[0].version),
                                      -len(pe[0].version), pe[0].tag))


def _same_or_newer_os(mine: TagParts, parts: TagParts, ranks: OsRanks) -> bool:
    return parts.os == mine.os or newer_os(mine, parts, ranks) is True


Pair = tuple[TagParts, IndexEntry]


def _os_upgrade(mine: TagParts, pool: Sequence[Pair], ctx: Context) -> list[tuple[str, Pair, str, bool]]:
    """The same line and flavor on the newest newer OS release: mandatory when the OS is EOL."""
    found = [(p, e) for p, e in pool if p.flavor == mine.flavor and same_line(mine, p) and newer_os(mine, p, ctx.ranks)]
    if not found:
        return []
    why = f"{ctx.os_eol} is end of life" if ctx.os_eol else ""
    return [("os", _newest(_floating(found).values(), ctx.ranks), why, bool(ctx.os_eol))]


def _majors(mine: TagParts, pool: Sequence[Pair], ctx: Context) -> list[tuple[str, Pair, str, bool]]:
    """One tag per newer major line (same flavor, same or newer OS) not known to be EOL, newest lines first."""
    lines: dict[int, list[Pair]] = {}
    for p, e in pool:
        if (p.flavor == mine.flavor and p.version[0] > mine.version[0] and _same_or_newer_os(mine, p, ctx.ranks)
                and ctx.supported(p) is not False):
            lines.setdefault(p.version[0], []).append((p, e))
    picked = [_newest(_floating(lines[m]).values(), ctx.ranks) for m in sorted(lines, reverse=True)[:MAX_MAJORS]]
    return [("major", pe, "supported line" if ctx.supported(pe[0]) else "", False) for pe in picked]


def _alternatives(mine: TagParts, pool: Sequence[Pair], ctx: Context) -> list[tuple[str, Pair, str, bool]]:
    """One tag per other variant (slim, alpine, distroless) of the same major, at least as new."""
    kinds: dict[str, list[Pair]] = {}
    for p, e in pool:
        kind = variant(p)
        os_ok = kind == "alpine" or not p.os or _same_or_newer_os(mine, p, ctx.ranks)
        if kind and kind != variant(mine) and not_older(mine, p) and os_ok:
            kinds.setdefault(kind, []).append((p, e))
    return [("alternative", _newest(_floating(kinds[k]).values(), ctx.ranks), VARIANTS[k], False)
            for k in sorted(kinds)]


def candidates(base: BaseImage, entries: Sequence[IndexEntry], names: Iterable[str] = frozenset(),
               context: Context | None = None) -> list[Candidate]:
    """The candidates of every class for ``base`` among the index rows of its repository, one
    per digest, at most MAX_CANDIDATES; the mandatory ``os`` candidate is never cut."""
    ctx = context or Context()
    names = frozenset(names) | frozenset(ctx.ranks)
    if not base.name or not base.tag:
        return []
    current = _current(base, entries)
    tags_of: dict[str, list[str]] = {}
    for e in current:
        tags_of.setdefault(e.digest, []).append(e.tag)
    out: list[Candidate] = []
    if base.tag_moved:
        moved = [e for e in current if e.tag == base.tag and e.digest == base.current_digest]
        out += [Candidate("refresh", moved[0], tuple(sorted(tags_of[moved[0].digest])))] if moved else []
    mine = parse_tag(base.tag, names)
    if not mine.parsed:
        return out
    pool = [(p, e) for e in current if e.digest not in (base.digest, base.current_digest)
            for p in [parse_tag(e.tag, names)] if p.parsed]
    ordered = sorted(_floating((p, e) for p, e in pool if upgrade_class(mine, p)).values(),
                     key=lambda pe: padded(pe[0].version), reverse=True)
    same = [(upgrade_class(mine, pe[0]), pe, "", False) for pe in ordered]
    seen = {c.entry.digest for c in out}
    # every class gets its first candidate before a second patch/minor
    for kind, (_, e), note, mandatory in (_os_upgrade(mine, pool, ctx) + same[:1] + _majors(mine, pool, ctx)
                                          + _alternatives(mine, pool, ctx) + same[1:]):
        if e.digest not in seen:
            seen.add(e.digest)
            out.append(Candidate(kind, e, tuple(sorted(tags_of[e.digest])), note, mandatory))
    keep = [c for c in out if c.mandatory]
    return keep + [c for c in out if not c.mandatory][:max(MAX_CANDIDATES - len(keep), 0)]


def evaluate(scanner: Scanner, config: ScanConfig, view: Assessment, candidate: Candidate) -> Recommendation:
    """Scan the candidate (a registry image, same flags as the image) and compare it with the base."""
    target = Target("image", f"{candidate.entry.repo}:{candidate.entry.tag}@{candidate.entry.digest}", "")
    inventory = dataclasses.replace(config.inventory, target=target)
    outcome = scanner.run(dataclasses.replace(config, inventory=inventory, base_layers=None))
    image = outcome.sbom.image
    size = sum(layer.size for layer in image.layers) if image else 0
    return Recommendation(candidate, severity_counts(outcome.policy.shown), severity_counts(view.base_findings),
                          outcome.policy.exit_code == 0, size, base_size(view),
                          created(image.config_json if image else ""),
                          bool(outcome.sbom.os and outcome.sbom.os.eosl), outcome.incomplete)


def base_size(view: Assessment) -> int:
    """Compressed bytes of the image's base layers (from its manifest); 0 when unknown."""
    image = view.outcome.sbom.image
    if image is None or not view.base.known_layers or not view.base.layers:
        return 0
    sizes = [layer.size for layer in image.layers[:view.base.layers]]
    return sum(sizes) if all(sizes) else 0


def created(config_json: str) -> str:
    """The image config's ``created`` ("" when absent or not a string)."""
    try:
        config = parse_json(config_json) if config_json else {}
    except LoadError:
        return ""
    value = config.get("created") if isinstance(config, dict) else None
    return value[:64] if isinstance(value, str) else ""


def rank(recommendations: Iterable[Recommendation]) -> list[Recommendation]:
    return sorted(recommendations, key=lambda r: (not r.passes, r.weight, CLASSES.index(r.candidate.kind),
                                                  r.size, r.candidate.entry.tag))


@dataclass(frozen=True)
class Advice:
    """What ``recommendations`` (and quickview's recommended row) show."""

    ranked: tuple[Recommendation, ...]
    note: str  # why there is nothing (or what is missing); "" when there are candidates
    skipped: tuple[str, ...] = ()  # the repository's tags that do not parse

    @property
    def best(self) -> Recommendation | None:
        return self.ranked[0] if self.ranked else None


def _note(view: Assessment, found: Sequence[Candidate], ctx: Context) -> str:
    base = view.base
    if base.level not in ("matched", "declared", "dockerfile") or not base.tag:
        return ("no base image name: add the base's repository to the index "
                "('layerscan index add REPO') so the image's layers match it")
    if not found:
        return f"no candidate for {base.name}:{base.tag} in the base-image index"
    if ctx.os_eol and not any(c.mandatory for c in found):
        return f"{ctx.os_eol} is end of life and no tag of this line is on a newer release"
    return ""


def _context(view: Assessment, store: EolLookup) -> Context:
    eol = view.os_eol
    cycles = [info for product in ("debian", "ubuntu") for info in store.eol_cycles(product)]
    product = runtime_product(view, view.base.tag)
    support = line_support(store.eol_cycles(product), view.today) if product else _unknown_support
    return Context(os_ranks(cycles), support, f"{eol.name} {eol.cycle or eol.version}" if eol and eol.is_eol else "")


def advise(scanner: Scanner, config: ScanConfig, view: Assessment) -> Advice:
    """Every candidate for the image's base, scanned with ``config`` (a registry-image config:
    the candidates are pulled with its registry flags) and ranked. A candidate that cannot
    be scanned is left out with a warning; what the candidates' own scans would warn about
    goes to the debug log (their rows say when their OS is end of life or a layer was unreadable)."""
    from layerscan.db.store import Store
    from layerscan.db.update import db_path
    from layerscan.errors import DatabaseError, LayerscanError

    path = db_path(config.database.cache_dir)
    if not view.base.name or not view.base.tag or not path.is_file():
        return Advice((), _note(view, (), Context()) if path.is_file() else "no vulnerability database")
    try:
        with Store.open(path) as store:
            entries = store.index_entries(view.base.name)
            ctx = _context(view, store)
    except DatabaseError as exc:
        return Advice((), f"no candidates: {exc}")
    found = candidates(view.base, entries, (), ctx)
    quiet = Scanner(warn=lambda text: log.debug("candidate scan: %s", text), progress=scanner.progress)
    done = []
    for candidate in found:
        try:
            done.append(evaluate(quiet, config, view, candidate))
        except LayerscanError as exc:
            scanner.warn(f"candidate {candidate.entry.repo}:{candidate.entry.tag} left out: {exc}")
    note = _note(view, found, ctx)
    if found and not done:
        note = f"none of the {len(found)} candidates could be scanned (see the warnings)"
    return Advice(tuple(rank(done)), note, skipped_tags(view.base, entries, ctx.ranks))


# ---- rendering -----------------------------------------------------------------------------

def signed_size(delta: int | None) -> str:
    """"-41.2 MB", "+3.0 kB", "?" (unknown)."""
    if delta is None:
        return "?"
    for unit, scale in (("GB", 10**9), ("MB", 10**6), ("kB", 10**3)):
        if abs(delta) >= scale:
            return f"{delta / scale:+.1f} {unit}"
    return f"{delta:+d} B"


def facts(rec: Recommendation, today: dt.date) -> str:
    """"size -41.2 MB  age 12 days  musl libc"."""
    age = rec.age_days(today)
    parts = [f"size {signed_size(rec.size_delta)}", f"age {age} days" if age is not None else "age ?"]
    note = rec.candidate.note
    parts += [note] if note and not rec.candidate.mandatory else []
    parts += ["its OS is end of life"] if rec.os_eol else []
    return "  ".join(parts + (["scan incomplete"] if rec.incomplete else []))


def skipped_note(skipped: Sequence[str]) -> str:
    if not skipped:
        return ""
    shown = ", ".join(skipped[:3]) + (", ..." if len(skipped) > 3 else "")
    return f"{len(skipped)} tags skipped, no version: {shown}"


def render_text(view: Assessment, ranked: Sequence[Recommendation], note: str, width: int = 80,
                skipped: Sequence[str] = ()) -> str:
    from layerscan.remediate.base import MOVED

    base = view.base
    name = (base.name + (f":{base.tag}" if base.tag else "")) or "unknown"
    lines = [clip(f"Base image  {name}  ({base.level})", width)]
    lines += [clip(f"  @{base.digest}", width)] if base.digest else []
    lines += [clip(f"            ! {MOVED}", width)] if base.tag_moved else []
    lines.append(clip(f"            {counts_line(severity_counts(view.base_findings)).strip()}   in the base's layers",
                      width))
    lines += [clip(f"            {text}", width) for text in (note, skipped_note(skipped)) if text]
    for n, rec in enumerate(ranked, 1):
        c = rec.candidate
        lines += ["", clip(f"{n}. {c.kind:<11} {c.entry.repo}:{c.entry.tag}"
                           + (f"  (also {', '.join(t for t in c.tags if t != c.entry.tag)})"
                              if len(c.tags) > 1 else ""), width),
                  clip(f"   {counts_line(dict(rec.counts)).strip()}   delta {rec.delta}"
                       + ("" if rec.passes else "   fails the policy"), width),
                  clip(f"   {facts(rec, view.today)}", width)]
        lines += [clip(f"   ! mandatory: {c.note}", width)] if c.mandatory else []
        lines.append(f"   {c.from_line}")  # whole, to paste (names and digests were validated by the index)
    return "\n".join(lines) + "\n"


def recommendation_json(rec: Recommendation, rank_no: int, today: dt.date) -> dict:
    c = rec.candidate
    return {"Rank": rank_no, "Class": c.kind, "Repository": c.entry.repo, "Tag": c.entry.tag, "Tags": list(c.tags),
            "Digest": c.entry.digest, "Platform": c.entry.platform, "Note": c.note, "Mandatory": c.mandatory,
            "Severities": dict(rec.counts), "Vulnerabilities": sum(rec.counts.values()), "Delta": rec.delta,
            "DeltaSeverities": {s: rec.counts.get(s, 0) - rec.base_counts.get(s, 0)
                                for s in {**rec.counts, **rec.base_counts}},
            "PassesPolicy": rec.passes, "Size": rec.size, "SizeDelta": rec.size_delta,
            "Created": rec.created, "AgeDays": rec.age_days(today), "OSEndOfLife": rec.os_eol,
            "Incomplete": rec.incomplete, "From": c.from_line}


def to_json(view: Assessment, ranked: Sequence[Recommendation], note: str, skipped: Sequence[str] = ()) -> dict:
    from layerscan.remediate.quickview import base_json

    return {"ArtifactName": view.outcome.sbom.artifact_name, "BaseImage": base_json(view), "Note": note,
            "BaseSize": base_size(view), "SkippedTags": list(skipped),
            "Recommendations": [recommendation_json(r, n, view.today) for n, r in enumerate(ranked, 1)]}


def recommended_texts(advice: Advice) -> list[str]:
    """quickview's "Recommended" rows: the best candidate, its counts and delta."""
    best = advice.best
    if best is None:
        return [advice.note or "no candidate in the base-image index"]
    c = best.candidate
    flag = "  ! mandatory" if c.mandatory else ""
    return [f"{c.entry.repo}:{c.entry.tag}  ({c.kind}){flag}",
            f"{counts_line(dict(best.counts)).strip()}   delta {best.delta}",
            f"see 'layerscan recommendations' ({len(advice.ranked)} candidates)"]


def recommended_json(advice: Advice, today: dt.date) -> dict:
    best = advice.best
    if best is None:
        return {"Available": False, "Reason": advice.note}
    return {"Available": True, "Reason": "", "Candidates": len(advice.ranked), **recommendation_json(best, 1, today)}
