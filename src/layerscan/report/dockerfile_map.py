"""Which line of a Dockerfile made each layer (for SARIF locations with ``--dockerfile``).

The image history records each layer's instruction (``created_by``); the final stage of
the Dockerfile (from its last ``FROM``) lists the same instructions with their line
numbers. A layer is mapped to the instruction with the same text (``RUN`` commands with
whitespace normalised, ``COPY``/``ADD`` by destination when the legacy builder replaced
the sources with ``file:<hash>``); the layers below the first mapped one are the base
image's and map to the ``FROM`` line. Lines are 1-based; an unmapped layer gets none.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Iterable

from layerscan.model import LayerInfo
from layerscan.report.document import layer_step

MAX_DOCKERFILE_BYTES = 1 << 20


@dataclass(frozen=True)
class Step:
    line: int  # where the instruction starts
    keyword: str  # upper case: FROM, RUN, COPY, ...
    args: str  # whitespace-normalised, continuation lines joined
    end: int = 0  # its last line (the one without the continuation character)


_ESCAPE = re.compile(r"#\s*escape\s*=\s*(\S)", re.IGNORECASE)


def parse_steps(text: str) -> tuple[Step, ...]:
    """Instructions with their first line; comments, blank lines and continuations (``\\``,
    or the character a leading ``# escape=`` directive names) handled (heredoc bodies are not
    parsed: their lines are treated as text)."""
    lines = text.splitlines()
    escape = "\\"
    if lines and (directive := _ESCAPE.match(lines[0].strip())):
        escape = directive.group(1)
    steps: list[Step] = []
    pending: list[str] = []
    start = 0
    for number, raw in enumerate(lines, 1):
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if pending and (not line or line.startswith("#")):
            continue  # comment and empty lines inside a continued instruction are dropped, as Docker does
        if not pending:
            start = number
        if line.endswith(escape):
            pending.append(line[:-1])
            continue
        pending.append(line)
        steps.append(_step(start, number, pending))
        pending = []
    if pending:
        steps.append(_step(start, len(lines), pending))
    return tuple(steps)


def _step(start: int, end: int, parts: list[str]) -> Step:
    joined = " ".join(" ".join(parts).split())
    keyword, _, args = joined.partition(" ")
    return Step(start, keyword.upper(), args, end)


def final_stage(steps: Iterable[Step]) -> tuple[Step, ...]:
    """The last ``FROM`` and the instructions after it."""
    out: list[Step] = []
    for step in steps:
        if step.keyword == "FROM":
            out = []
        out.append(step)
    return tuple(out)


def _matches(step: Step, history: str) -> bool:
    keyword, _, args = history.partition(" ")
    if keyword.upper() != step.keyword:
        return False
    if args == step.args:
        return True
    if step.keyword in ("COPY", "ADD") and " in " in args:  # legacy: "COPY file:<hash> in /dest"
        return args.rsplit(" in ", 1)[1].strip() == step.args.split()[-1] if step.args else False
    return False


def layer_lines(dockerfile: str, layers: Iterable[LayerInfo]) -> dict[str, int]:
    """diff_id -> Dockerfile line, for the layers that map to one."""
    stage = final_stage(parse_steps(dockerfile))
    if not stage:
        return {}
    lines: dict[str, int] = {}
    used: set[int] = set()
    ordered = sorted(layers, key=lambda layer: layer.index)
    for layer in ordered:
        history = layer_step(layer.created_by).removesuffix(" # buildkit")
        for position, step in enumerate(stage):
            if position not in used and _matches(step, history):
                lines[layer.diff_id] = step.line
                used.add(position)
                break
    first = min((layer.index for layer in ordered if layer.diff_id in lines), default=None)
    if stage[0].keyword == "FROM" and first is not None:
        for layer in ordered:
            if layer.index < first:
                lines[layer.diff_id] = stage[0].line
    return lines


def read_dockerfile(path: str) -> str:
    """The Dockerfile's text, or "" when it cannot be read (the locations then use line 1)."""
    try:
        with open(path, "rb") as fh:
            return fh.read(MAX_DOCKERFILE_BYTES).decode("utf-8", "replace")
    except OSError:
        return ""


LAYER_STEPS = ("RUN", "COPY", "ADD")  # the instructions that make a filesystem layer


def aligned_lines(dockerfile: str, layers: Iterable[LayerInfo]) -> tuple[dict[int, int], str]:
    """layer index -> Dockerfile line, only when the final stage's RUN/COPY/ADD align exactly
    with the image's last non-empty history entries (same count from the top, same order, each
    matching); else ``({}, why not)``. The fix plan emits lines only from this."""
    stage = [s for s in final_stage(parse_steps(dockerfile)) if s.keyword in LAYER_STEPS]
    ordered = sorted(layers, key=lambda layer: layer.index)
    if not stage:
        return {}, "the Dockerfile's final stage has no RUN/COPY/ADD step"
    if len(stage) > len(ordered):
        return {}, f"the Dockerfile's final stage has {len(stage)} RUN/COPY/ADD steps, the image {len(ordered)} layers"
    own = ordered[len(ordered) - len(stage):]
    for step, layer in zip(stage, own):
        if not _matches(step, layer_step(layer.created_by).removesuffix(" # buildkit")):
            return {}, (f"Dockerfile line {step.line} ({step.keyword}) does not match layer {layer.index}'s "
                        "history entry: no Dockerfile lines")
    return {layer.index: step.line for step, layer in zip(stage, own)}, ""
