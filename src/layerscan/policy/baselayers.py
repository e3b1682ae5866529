"""Base-image layers (``--exclude-base-layers``): which filesystem layers an image
inherited from its base image. Findings in those layers are still reported but
do not fail the build (Trivy issue #1198).

``auto`` guesses the boundary from the config history the way Trivy does for
secret scanning (``GuessBaseImageIndex``): walk the history from the newest
entry, skip the image's own trailing empty steps (its CMD, ENTRYPOINT, LABEL,
...), then the first empty ``CMD``/``ENTRYPOINT`` step met going back is the
base image's last step; every filesystem layer recorded before it belongs to
the base. A Dockerfile ending in ``FROM debian`` + ``RUN`` + ``CMD`` gives::

    ADD file:... in /           layer 0   base
    CMD ["bash"]                empty     <- boundary (the base image's own CMD)
    RUN apt-get install ...     layer 1   the image's own
    CMD ["app"]                 empty     skipped (trailing)

The ``org.opencontainers.image.base.name`` / ``base.digest`` labels name the
base image; they are reported with the boundary, and when the history gives no
boundary the warning says which base the image declares.
A number N instead says that the first N filesystem layers are the base.

An SBOM read from a file must state the layers' stacking order (ours, Syft JSON);
one that names each package's layer but not the order (Trivy's and Syft's
CycloneDX/SPDX), or no layers at all, is refused rather than guessed at.
"""

from __future__ import annotations

from dataclasses import dataclass

from layerscan.errors import UsageError
from layerscan.model import Finding
from layerscan.model.image import ImageMeta
from layerscan.textload import LoadError, parse_json

AUTO = "auto"
BASE_NAME_LABEL = "org.opencontainers.image.base.name"
BASE_DIGEST_LABEL = "org.opencontainers.image.base.digest"
MAX_HISTORY = 100_000  # entries considered; real images have well under 200
MAX_LAYERS_SPEC = 100_000
MAX_LABEL = 200  # label values are image content: shown clipped
_NOP = "/bin/sh -c #(nop)"
_BOUNDARY_STEPS = frozenset({"CMD", "ENTRYPOINT"})


@dataclass(frozen=True)
class HistoryStep:
    created_by: str
    empty_layer: bool


@dataclass(frozen=True)
class BaseBoundary:
    layers: int  # the first ``layers`` filesystem layers (index < layers) are the base image's
    how: str  # how it was decided, for reports: "history: CMD [\"bash\"]", "--exclude-base-layers 2"
    base_image: str = ""  # from the org.opencontainers.image.base.* labels
    warning: str = ""  # non-empty: the boundary could not be decided as asked


def parse_spec(value: str | int | None) -> str | int | None:
    """``--exclude-base-layers`` value: None (off), ``"auto"`` or a layer count."""
    text = str(value if value is not None else "").strip().lower()
    if not text:
        return None
    if text == AUTO:
        return AUTO
    if text.isascii() and text.isdigit() and int(text) <= MAX_LAYERS_SPEC:
        return int(text)
    raise UsageError(f"--exclude-base-layers: expected 'auto' or a number of layers, got {str(value)[:40]!r}")


def history_steps(config_json: str) -> tuple[HistoryStep, ...]:
    """The config's ``history`` as steps; anything malformed gives no steps (no guess)."""
    try:
        config = parse_json(config_json) if config_json else {}
    except LoadError:
        return ()
    history = config.get("history") if isinstance(config, dict) else None
    if not isinstance(history, list):
        return ()
    steps = []
    for entry in history[:MAX_HISTORY]:
        if not isinstance(entry, dict):
            return ()
        created_by = entry.get("created_by")
        steps.append(HistoryStep(created_by if isinstance(created_by, str) else "",
                                 entry.get("empty_layer") is True))
    return tuple(steps)


def instruction(created_by: str) -> str:
    """The Dockerfile instruction of a history step: "CMD" for both the legacy
    ``/bin/sh -c #(nop)  CMD [...]`` and BuildKit's ``CMD [...]``."""
    text = created_by.strip()
    if text.startswith(_NOP):
        text = text[len(_NOP):].strip()
    return text.split(None, 1)[0].upper() if text else ""


def guess_base_history_index(steps: tuple[HistoryStep, ...] | list[HistoryStep]) -> int:
    """Index in ``steps`` of the base image's last step (an empty CMD/ENTRYPOINT), or -1."""
    seen_layer = False
    for i in range(len(steps) - 1, -1, -1):
        step = steps[i]
        if not step.empty_layer:
            seen_layer = True
            continue
        if seen_layer and instruction(step.created_by) in _BOUNDARY_STEPS:
            return i
    return -1


def layers_before(steps: tuple[HistoryStep, ...] | list[HistoryStep], index: int) -> int:
    """Filesystem layers created by the steps before ``index``."""
    return sum(1 for step in steps[:max(index, 0)] if not step.empty_layer)


def declared_base(labels: tuple[tuple[str, str], ...]) -> str:
    """"name@digest" (or either part) from the OCI base-image labels."""
    found = dict(labels)
    name = str(found.get(BASE_NAME_LABEL, "")).strip()[:MAX_LABEL]
    digest = str(found.get(BASE_DIGEST_LABEL, "")).strip()[:MAX_LABEL]
    if name and digest:
        return f"{name}@{digest}" if "@" not in name else name
    return name or digest


def guess_boundary(image: ImageMeta) -> BaseBoundary:
    base = declared_base(image.labels)
    steps = history_steps(image.config_json)
    layer_count = len(image.layers) or len(image.diff_ids)
    hint = f" (the image declares base {base})" if base else ""
    if not steps:
        return BaseBoundary(0, "auto: no history", base,
                            f"--exclude-base-layers auto: the image config has no history{hint}; "
                            "nothing is excluded (give the number of base layers instead)")
    if layer_count and sum(1 for s in steps if not s.empty_layer) != layer_count:
        return BaseBoundary(0, "auto: history does not match the layers", base,
                            "--exclude-base-layers auto: the history does not list one step per layer"
                            f"{hint}; nothing is excluded (give the number of base layers instead)")
    index = guess_base_history_index(steps)
    if index < 0:
        return BaseBoundary(0, "auto: no base image step in history", base,
                            "--exclude-base-layers auto: no empty CMD/ENTRYPOINT step of a base image "
                            f"in the history{hint}; nothing is excluded (give the number of base layers instead)")
    step = " ".join(steps[index].created_by.split())
    if step.startswith(_NOP):
        step = step[len(_NOP):].strip()
    return BaseBoundary(layers_before(steps, index), f"auto: history {step[:80]}", base)


SBOM_ORDER_HINT = ("generate the SBOM with the layer order: 'layerscan image IMAGE -f cyclonedx' or "
                   "'syft IMAGE -o syft-json' (Trivy's and Syft's CycloneDX/SPDX name each package's layer "
                   "but not the order of the layers), or scan the image itself")


def require_layer_order(spec: str | int | None, image: ImageMeta | None, source: str) -> None:
    """Refuse base-layer exclusion for an SBOM file (``source``) whose layer order is unknown."""
    if spec is None or spec == 0:
        return
    if image is None or not image.layers:
        why = "names no image layers"
    elif not image.layer_order_known:
        why = "names each package's layer but not the order of the layers"
    else:
        return
    raise UsageError(f"--exclude-base-layers: the SBOM {source} {why}, so the base image's layers "
                     "cannot be told apart", hint=SBOM_ORDER_HINT)


def resolve_boundary(spec: str | int | None, image: ImageMeta | None) -> BaseBoundary:
    """The base boundary for a parsed ``--exclude-base-layers`` value (None: no exclusion)."""
    if spec is None:
        return BaseBoundary(0, "")
    base = declared_base(image.labels) if image else ""
    if image is not None and not image.layer_order_known:  # never a guess (see require_layer_order)
        return BaseBoundary(0, "layer order unknown", base,
                            f"--exclude-base-layers {spec}: the SBOM does not state the order of the image's "
                            "layers; nothing is excluded")
    if isinstance(spec, int):
        count = len(image.layers) if image and image.layers else spec
        return BaseBoundary(min(spec, count), f"--exclude-base-layers {spec}", base)
    if image is None:
        return BaseBoundary(0, "auto: not an image", "",
                            "--exclude-base-layers auto: the target is not an image; nothing is excluded")
    return guess_boundary(image)


def in_base_layers(finding: Finding, base_layers: int) -> bool:
    """True when the finding's package was introduced in one of the first ``base_layers`` layers."""
    layer = finding.package.layer
    return base_layers > 0 and layer is not None and 0 <= layer.index < base_layers
