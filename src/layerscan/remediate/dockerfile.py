"""The final stage's ``FROM`` of a Dockerfile, with ``ARG`` values resolved.

Only what base-image identification needs is read: line continuations (``\\`` or the
``# escape=`` directive's character), comments, the global ``ARG``s declared before the
first ``FROM`` (with their defaults, overridable by ``--build-arg``-like values) and each
``FROM [--platform=...] IMAGE [AS name]``. A final stage built ``FROM`` an earlier stage
is followed back to that stage's image. ``FROM scratch`` has no base image.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Mapping

from layerscan.errors import UsageError
from layerscan.report.dockerfile_map import parse_steps

MAX_DOCKERFILE = 1 << 20  # bytes read; real Dockerfiles are a few KiB
MAX_STAGES = 1000
_VAR = re.compile(r"\$(?:\{([A-Za-z_][A-Za-z0-9_]*)(?::?[-+][^}]*)?\}|([A-Za-z_][A-Za-z0-9_]*))")


@dataclass(frozen=True)
class FromLine:
    image: str  # as resolved: "python:3.12-slim", "docker.io/library/debian@sha256:..."
    line: int  # 1-based line of the FROM instruction
    stage: str = ""  # the AS name, lower-case
    unresolved: tuple[str, ...] = ()  # ARG names used without a value


def _substitute(text: str, values: Mapping[str, str], missing: list[str]) -> str:
    def one(m: re.Match[str]) -> str:
        name = m.group(1) or m.group(2)
        if name in values:
            return values[name]
        default = re.match(r"\$\{[A-Za-z_][A-Za-z0-9_]*:?-([^}]*)\}", m.group(0))
        if default:
            return default.group(1)
        missing.append(name)
        return ""
    return _VAR.sub(one, text)


def _arg(rest: str, values: dict[str, str], overrides: Mapping[str, str]) -> None:
    for item in rest.split():
        name, has_default, default = item.partition("=")
        if name in overrides:
            values[name] = overrides[name]
        elif has_default:
            values[name] = _substitute(default.strip("\"'"), values, [])


def _from(rest: str, number: int, values: Mapping[str, str]) -> FromLine:
    words = [w for w in rest.split() if not w.startswith("--")]
    if not words:
        raise UsageError(f"--dockerfile: line {number}: FROM without an image")
    missing: list[str] = []
    image = _substitute(words[0], values, missing)
    stage = words[2].lower() if len(words) >= 3 and words[1].lower() == "as" else ""
    return FromLine(image, number, stage, tuple(dict.fromkeys(missing)))


def final_from(text: str, build_args: Mapping[str, str] | None = None) -> FromLine | None:
    """The image the final stage is built on (stages followed back), None without a FROM."""
    overrides = dict(build_args or {})
    global_args: dict[str, str] = {}
    stages: list[FromLine] = []
    for step in parse_steps(text[:MAX_DOCKERFILE]):
        keyword, rest, number = step.keyword, step.args, step.line
        if keyword == "ARG" and not stages:
            _arg(rest, global_args, overrides)
        elif keyword == "FROM":
            stages.append(_from(rest, number, global_args))
            if len(stages) > MAX_STAGES:
                raise UsageError(f"--dockerfile: more than {MAX_STAGES} stages")
    if not stages:
        return None
    final = stages[-1]
    by_name = {s.stage: s for s in stages if s.stage}
    for _ in range(len(stages)):
        earlier = by_name.get(final.image.lower())
        if earlier is None or earlier is final:
            break
        final = earlier
    return final
