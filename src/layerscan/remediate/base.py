"""Which base image an image was built on, and which of its layers are the base's.

The evidence ladder, strongest first; the result names the level used:

``attested``    the image's BuildKit provenance attestation (``source.attestation``): of the
                images the build pulled, the one the base-image index knows whose layer chain
                is a prefix of the image's (the deepest such); when the index knows none of
                them, the last one, "attested, not verified". Materials the index knows
                that all fail to match are a lying attestation: a warning, and the next level
``declared``    ``org.opencontainers.image.base.name`` / ``.base.digest`` on the image
                manifest's annotations or the config's labels; a digest the index knows must
                be a prefix of the image's layers, else a warning and the next level
``matched``     the base-image index (``layerscan index add``): the deepest layer whose chain ID
                is an indexed image's whole stack is the immediate base (repo:tag@digest); the
                shallower hits are the hierarchy. A hit on a digest its tag no longer points at
                says "tag has moved: refresh available"
``dockerfile``  the final stage's ``FROM`` (ARGs resolved) of the ``--dockerfile`` given
``heuristic``   no name: the history boundary (``policy.baselayers``): "base unknown,
                boundary at layer N"
``none``        no evidence at all (not an image, no history)

The base's layers come from ``--exclude-base-layers N`` when given, else from the verified
or matched depth, else from the history boundary; a name without a boundary leaves them unknown.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Iterable, Mapping, Protocol, Sequence

from layerscan.db.records import IndexEntry
from layerscan.errors import ImageError
from layerscan.model.image import ImageMeta
from layerscan.policy.baselayers import (AUTO, BASE_DIGEST_LABEL, BASE_NAME_LABEL, MAX_LABEL,
                                         resolve_boundary)
from layerscan.remediate.dockerfile import final_from
from layerscan.source.attestation import Material, Provenance
from layerscan.source.chainid import chain_ids

LEVELS = ("attested", "declared", "matched", "dockerfile", "heuristic", "none")
MOVED = "tag has moved: refresh available"
NOT_VERIFIED = "attested, not verified"
VERIFIED = "verified against the base index"
FRONTENDS = ("docker/dockerfile", "docker/dockerfile-upstream")  # BuildKit frontend images, never a base


class IndexLookup(Protocol):
    def index_hits(self, chain_ids: Iterable[str]) -> list[IndexEntry]: ...

    def index_entries(self, repo: str = "") -> list[IndexEntry]: ...


@dataclass(frozen=True)
class BaseImage:
    level: str  # one of LEVELS
    name: str = ""  # repository as docker prints it: "python", "ghcr.io/org/base"
    tag: str = ""
    digest: str = ""
    layers: int | None = None  # the first N filesystem layers are the base's; None: unknown
    boundary: str = ""  # how ``layers`` was decided
    evidence: str = ""  # where the name came from: "manifest annotation", "Dockerfile line 7"
    warnings: tuple[str, ...] = ()
    current_digest: str = ""  # matched on an older digest: the one the tag points at now
    hierarchy: tuple[str, ...] = ()  # matched: the shallower indexed bases, nearest first
    platform: str = ""  # matched: the indexed image's platform

    @property
    def tag_moved(self) -> bool:
        return bool(self.current_digest)

    @property
    def reference(self) -> str:
        if not self.name:
            return ""
        return self.name + (f":{self.tag}" if self.tag else "") + (f"@{self.digest}" if self.digest else "")

    @property
    def known_layers(self) -> bool:
        return self.layers is not None


@dataclass(frozen=True)
class _Named:
    name: str
    tag: str
    digest: str
    warning: str = ""


def _split(reference: str, digest: str = "") -> _Named:
    """name/tag/digest of a reference; an unparsable one is kept whole, with a warning."""
    from layerscan.source.registry.reference import familiar_repository, parse_reference

    text = reference.strip()
    if not text:
        return _Named("", "", digest)
    if len(text) > MAX_LABEL:
        return _Named(text[:MAX_LABEL], "", digest, f"base image name does not parse: longer than {MAX_LABEL} "
                                                    "characters")
    try:
        ref = parse_reference(text)
    except ImageError as exc:
        return _Named(text, "", digest, f"base image name does not parse: {exc}")
    return _Named(familiar_repository(ref), ref.tag, ref.digest or digest)


def _declared(image: ImageMeta) -> tuple[_Named, str] | None:
    for where, pairs in (("manifest annotation", image.annotations), ("config label", image.labels)):
        found = dict(pairs)
        name = str(found.get(BASE_NAME_LABEL, "")).strip()
        digest = str(found.get(BASE_DIGEST_LABEL, "")).strip()[:MAX_LABEL]
        if name or digest:
            return _split(name, digest), where
    return None


def _from_dockerfile(text: str, build_args: Mapping[str, str]) -> tuple[_Named, str] | None:
    line = final_from(text, build_args)
    if line is None or line.image.lower() == "scratch":
        return None
    named = _split(line.image)
    if line.unresolved:
        warning = f"Dockerfile line {line.line}: ARG {', '.join(line.unresolved)} has no value"
        named = _Named(named.name, named.tag, named.digest, "; ".join(w for w in (named.warning, warning) if w))
    return named, f"Dockerfile line {line.line}"


def _preferred(rows: Sequence[IndexEntry], platform: str = "") -> IndexEntry:
    """The row to name: the image's platform, a tag still pointing there, then the latest
    seen; "latest" last."""
    newest_first = sorted(sorted(rows, key=lambda e: (e.repo, e.tag)), key=lambda e: e.last_seen, reverse=True)
    return min(newest_first, key=lambda e: (platform not in ("", e.platform), not e.current,
                                            e.tag == "latest"))  # min keeps the first of ties


def _platform(image: ImageMeta) -> str:
    return "/".join(p for p in (image.os, image.architecture, image.variant) if p)


def _moved(best: IndexEntry, index: IndexLookup) -> str:
    """The digest ``best``'s tag points at now, "" while it still points at ``best``."""
    if best.current:
        return ""
    now = [e for e in index.index_entries(best.repo)
           if e.tag == best.tag and e.current and e.platform == best.platform]
    return now[0].digest if now else ""


def _is_prefix(chain: Sequence[str], entry: IndexEntry) -> bool:
    """The indexed image's layers are the first layers of the image's (same chain ID)."""
    return 0 < entry.layers <= len(chain) and chain[entry.layers - 1] == entry.chain_id


def _known(rows: Sequence[IndexEntry], digest: str) -> list[IndexEntry]:
    """The index rows of ``digest`` (what a tag resolved to, or a platform's manifest)."""
    return [e for e in rows if digest in (e.digest, e.manifest)]


def _from_index(level: str, best: IndexEntry, index: IndexLookup, explicit: int | None, evidence: str,
                warnings: tuple[str, ...] = (), hierarchy: tuple[str, ...] = ()) -> BaseImage:
    moved = _moved(best, index)
    layers = explicit if explicit is not None else best.layers
    boundary = ("--exclude-base-layers" if explicit is not None
                else "matched chain ID" if level == "matched" else "verified chain ID")
    if moved:
        warnings += (f"{best.repo}:{best.tag}: {MOVED} (now {moved})",)
    return BaseImage(level, best.repo, best.tag, best.digest, layers, boundary, evidence, warnings,
                     moved, hierarchy, best.platform)


def _matched(image: ImageMeta, index: IndexLookup, explicit: int | None) -> BaseImage | None:
    chain = chain_ids(image.diff_ids)
    depth_of = {c: n for n, c in enumerate(chain, 1)}
    hits = [e for e in index.index_hits(chain) if depth_of.get(e.chain_id) == e.layers and e.layers < len(chain)]
    if not hits:
        return None
    by_depth: dict[int, list[IndexEntry]] = {}
    for e in hits:
        by_depth.setdefault(e.layers, []).append(e)
    depths = sorted(by_depth, reverse=True)
    platform = _platform(image)
    best = _preferred(by_depth[depths[0]], platform)
    hierarchy = tuple(_preferred(by_depth[d], platform).reference for d in depths[1:])
    return _from_index("matched", best, index, explicit, f"base index, {best.platform}, seen {best.last_seen[:10]}",
                       hierarchy=hierarchy)


@dataclass(frozen=True)
class _Attested:
    base: BaseImage | None = None  # None: fall to the next level
    warnings: tuple[str, ...] = ()


def _attested(image: ImageMeta, provenance: Provenance, index: IndexLookup | None, explicit: int | None,
              layers: int | None, how: str) -> _Attested:
    """The attested base: the deepest material the index verifies, else an unknown one."""
    chain = chain_ids(image.diff_ids)
    rows = index.index_entries() if index is not None else []
    attestation = f"attestation {provenance.attestation}"
    verified: list[IndexEntry] = []
    unknown: list[Material] = []
    lies: list[Material] = []
    for material in provenance.materials:
        known = _known(rows, material.digest)
        good = [e for e in known if _is_prefix(chain, e)]
        verified += good
        if not known and material.repo not in FRONTENDS:
            unknown.append(material)
        elif known and not good:
            lies.append(material)
    if verified and index is not None:
        deepest = max(e.layers for e in verified)
        best = _preferred([e for e in verified if e.layers == deepest], _platform(image))
        return _Attested(_from_index("attested", best, index, explicit,
                                     f"{VERIFIED}: {provenance.kind}, {attestation}"))
    if unknown:
        platform = _platform(image)
        pick = ([m for m in unknown if m.platform in ("", platform)] or unknown)[-1]
        named = _split(pick.repo + (f":{pick.tag}" if pick.tag else ""), pick.digest)
        more = f", last of {len(unknown)} image materials" if len(unknown) > 1 else ""
        evidence = (f"{NOT_VERIFIED}: {provenance.kind}, the base index does not know {pick.digest[:19]}{more}, "
                    f"{attestation}")
        warnings = (named.warning,) if named.warning else ()
        return _Attested(BaseImage("attested", named.name, named.tag, pick.digest, layers, how, evidence, warnings))
    return _Attested(warnings=tuple(f"attested base {m.reference} does not match the image's layers; "
                                    "the attestation is ignored" for m in lies))


def _check_declared(named: _Named, image: ImageMeta, index: IndexLookup | None) -> list[IndexEntry] | None:
    """The index rows verifying a declared digest; [] when the index does not know it, None when
    it knows it and the layers do not match (the annotation lies)."""
    if not named.digest or index is None:
        return []
    known = _known(index.index_entries(), named.digest)
    if not known:
        return []
    chain = chain_ids(image.diff_ids)
    return [e for e in known if _is_prefix(chain, e)] or None


def identify_base(image: ImageMeta | None, dockerfile: str = "", build_args: Mapping[str, str] | None = None,
                  base_layers: str | int | None = None, index: IndexLookup | None = None,
                  provenance: Provenance | None = None) -> BaseImage:
    """The base image by the strongest evidence available offline. ``dockerfile`` is the
    Dockerfile's text ("" = none given); ``base_layers`` a parsed ``--exclude-base-layers``;
    ``index`` the base-image index (the vulnerability database), None when there is none;
    ``provenance`` the image's provenance attestation, when it has one."""
    if image is None:
        return BaseImage("none", boundary="not an image")
    boundary = resolve_boundary(base_layers if base_layers is not None else AUTO, image)
    layers = boundary.layers if boundary.layers > 0 or isinstance(base_layers, int) else None
    how = boundary.how if layers is not None else ""
    explicit = base_layers if isinstance(base_layers, int) else None
    warnings: tuple[str, ...] = provenance.warnings if provenance is not None else ()
    if provenance is not None and provenance.materials:
        attested = _attested(image, provenance, index, explicit, layers, how)
        warnings += attested.warnings
        if attested.base is not None:
            return replace(attested.base, warnings=warnings + attested.base.warnings)
    found = _ladder(image, dockerfile, build_args or {}, index, explicit, layers, how or boundary.how)
    return replace(found, warnings=warnings + found.warnings) if warnings else found


def _ladder(image: ImageMeta, dockerfile: str, build_args: Mapping[str, str], index: IndexLookup | None,
            explicit: int | None, layers: int | None, how: str) -> BaseImage:
    """declared > matched > dockerfile > heuristic > none."""
    warnings: tuple[str, ...] = ()
    named = _declared(image)
    level = "declared"
    if named is not None:
        rows = _check_declared(named[0], image, index)
        if rows is None:
            found = named[0]
            reference = found.name + (f":{found.tag}" if found.tag else "") + f"@{found.digest}"
            warnings = (f"declared base {reference} ({named[1]}) does not match the image's layers; "
                        "the declaration is ignored",)
            named = None
        elif rows and index is not None:
            found = named[0]
            best = _preferred(rows, _platform(image))
            base = _from_index("declared", best, index, explicit, f"{VERIFIED}: {named[1]}",
                               (found.warning,) if found.warning else ())
            return replace(base, name=found.name or base.name, tag=found.tag or base.tag, digest=found.digest)
    if named is None and index is not None:
        matched = _matched(image, index, explicit)
        if matched is not None:
            return replace(matched, warnings=warnings + matched.warnings)
    if named is None and dockerfile:
        named, level = _from_dockerfile(dockerfile, build_args), "dockerfile"
    if named is None:
        if not layers:
            return BaseImage("none", layers=layers, boundary=how, warnings=warnings)
        return BaseImage("heuristic", layers=layers, boundary=how, evidence=f"base unknown, boundary at layer {layers}",
                         warnings=warnings)
    found, evidence = named
    return BaseImage(level, found.name, found.tag, found.digest, layers, how if layers is not None else "",
                     evidence, warnings + ((found.warning,) if found.warning else ()))
