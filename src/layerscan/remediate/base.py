"""Which base image an image was built on, and which of its layers are the base's.

The evidence ladder, strongest first; the result names the level used:

``declared``    ``org.opencontainers.image.base.name`` / ``.base.digest`` on the image
                manifest's annotations or the config's labels
``matched``     the base-image index (``layerscan index add``): the deepest layer whose chain ID
                is an indexed image's whole stack is the immediate base (repo:tag@digest); the
                shallower hits are the hierarchy. A hit on a digest its tag no longer points at
                says "tag has moved: refresh available"
``dockerfile``  the final stage's ``FROM`` (ARGs resolved) of the ``--dockerfile`` given
``heuristic``   no name: the history boundary (``policy.baselayers``): "base unknown,
                boundary at layer N"
``none``        no evidence at all (not an image, no history)

``attested`` (provenance) is not done here. The base's layers come from
``--exclude-base-layers N`` when given, else from the matched depth, else from the history
boundary; a name without a boundary leaves them unknown.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Mapping, Protocol, Sequence

from layerscan.db.records import IndexEntry
from layerscan.errors import ImageError
from layerscan.model.image import ImageMeta
from layerscan.policy.baselayers import (AUTO, BASE_DIGEST_LABEL, BASE_NAME_LABEL, MAX_LABEL,
                                         resolve_boundary)
from layerscan.remediate.dockerfile import final_from
from layerscan.source.chainid import chain_ids

LEVELS = ("declared", "matched", "dockerfile", "heuristic", "none")
MOVED = "tag has moved: refresh available"


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
    platform = "/".join(p for p in (image.os, image.architecture, image.variant) if p)
    best = _preferred(by_depth[depths[0]], platform)
    moved = ""
    if not best.current:
        now = [e for e in index.index_entries(best.repo)
               if e.tag == best.tag and e.current and e.platform == best.platform]
        moved = now[0].digest if now else ""
    hierarchy = tuple(_preferred(by_depth[d], platform).reference for d in depths[1:])
    layers = explicit if explicit is not None else best.layers
    boundary = "--exclude-base-layers" if explicit is not None else "matched chain ID"
    evidence = f"base index, {best.platform}, seen {best.last_seen[:10]}"
    warnings = (f"{best.repo}:{best.tag}: {MOVED} (now {moved})",) if moved else ()
    return BaseImage("matched", best.repo, best.tag, best.digest, layers, boundary, evidence, warnings,
                     moved, hierarchy, best.platform)


def identify_base(image: ImageMeta | None, dockerfile: str = "", build_args: Mapping[str, str] | None = None,
                  base_layers: str | int | None = None, index: IndexLookup | None = None) -> BaseImage:
    """The base image by the strongest evidence available offline. ``dockerfile`` is the
    Dockerfile's text ("" = none given); ``base_layers`` a parsed ``--exclude-base-layers``;
    ``index`` the base-image index (the vulnerability database), None when there is none."""
    if image is None:
        return BaseImage("none", boundary="not an image")
    boundary = resolve_boundary(base_layers if base_layers is not None else AUTO, image)
    layers = boundary.layers if boundary.layers > 0 or isinstance(base_layers, int) else None
    how = boundary.how if layers is not None else ""
    named = _declared(image)
    level = "declared"
    if named is None and index is not None:
        matched = _matched(image, index, base_layers if isinstance(base_layers, int) else None)
        if matched is not None:
            return matched
    if named is None and dockerfile:
        named, level = _from_dockerfile(dockerfile, build_args or {}), "dockerfile"
    if named is None:
        if not layers:
            return BaseImage("none", layers=layers, boundary=boundary.how)
        return BaseImage("heuristic", layers=layers, boundary=how, evidence=f"base unknown, boundary at layer {layers}")
    found, evidence = named
    return BaseImage(level, found.name, found.tag, found.digest, layers, how, evidence,
                     (found.warning,) if found.warning else ())
