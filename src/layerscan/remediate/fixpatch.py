"""A Dockerfile patch for one fix-plan group, when one can be written exactly (the GitLab
report's ``remediations[].diff``; docs/cli.md "Fix plan").

Only groups whose layer has an exact Dockerfile line (``report.dockerfile_map.aligned_lines``)
and whose instruction is a shell-form ``RUN`` get one:

``os``    the group's command is appended to the instruction's last line
          (``RUN apt-get install -y openssl`` -> ``... openssl && apt-get update && ...``)
``lang``  every package of the group is pinned in the instruction as ``name==installed`` (pip,
          PEP 503 name comparison) or ``name@installed`` (npm), exactly once: the pins change to
          the targets

Anything else gets no patch (never a guess): base and rebuild groups (the plan names no
replacement base), exec-form or heredoc ``RUN``, a ``#`` in the instruction (a shell comment
would swallow the appended command), a package installed without a pin in that line, a pin
found twice, line endings other than LF/CRLF, a path git would have to quote. The patch is a
unified diff ``git apply`` accepts (``a/``/``b/`` prefixes, three lines of context).
"""

from __future__ import annotations

import difflib
import os
import re
from pathlib import PurePosixPath
from typing import Callable

from layerscan.ecosystems import pep503
from layerscan.report.dockerfile_map import Step, parse_steps
from layerscan.report.fixplan import FixGroup

_SAFE_PATH = re.compile(r"^[A-Za-z0-9._@+/-]+$")
_PIP_PIN = re.compile(r"(?<![\w.\[-])([A-Za-z0-9][A-Za-z0-9._-]*)(\[[A-Za-z0-9,._ -]*\])?==([A-Za-z0-9.+!_-]+)"
                      r"(?![\w.+!-])")
_NPM_PIN = re.compile(r"(?<![\w@/.-])((?:@[\w.-]+/)?[\w.-]+)@([\w.+-]+)(?![\w.+-])")
_NO_NEWLINE = "\\ No newline at end of file\n"

Finder = Callable[[list[str], str, str], list[tuple[int, int, int]]]  # (lines, name, installed) -> pins


def patch_path(path: str, cwd: str = "") -> str:
    """The Dockerfile's path as the diff names it, relative to the working directory (where
    the CI job runs: the repository root); "" when it is outside it or git would quote it."""
    if not path:
        return ""
    base = cwd or os.getcwd()
    relative = os.path.relpath(os.path.abspath(path), base) if os.path.isabs(path) else os.path.normpath(path)
    posix = PurePosixPath(relative.replace(os.sep, "/"))
    if posix.is_absolute() or ".." in posix.parts or not _SAFE_PATH.match(str(posix)):
        return ""
    return str(posix)


def _split(line: str) -> tuple[str, str]:
    """(text, line ending)."""
    for ending in ("\r\n", "\n"):
        if line.endswith(ending):
            return line[: -len(ending)], ending
    return line, ""


def _run_step(lines: list[str], number: int) -> Step | None:
    step = next((s for s in parse_steps("".join(lines)) if s.line == number), None)
    if step is None or step.keyword != "RUN" or not step.end or step.end > len(lines):
        return None
    if step.args.startswith("[") or "<<" in step.args:  # exec form, heredoc: not edited
        return None
    return step


def _append(lines: list[str], step: Step, command: str) -> list[str] | None:
    text, ending = _split(lines[step.end - 1])
    body = text.rstrip()
    # Docker joins the continued lines into one shell line: a "#" anywhere comments out the rest
    if not command or "#" in step.args or body.endswith(("\\", "`")):
        return None
    return [*lines[: step.end - 1], f"{body} && {command}{ending}", *lines[step.end:]]


def _pins(pattern: re.Pattern[str], same: Callable[[str, str], bool], version_group: int) -> Finder:
    def find(lines: list[str], name: str, installed: str) -> list[tuple[int, int, int]]:
        """(line index, start, end) of each ``installed`` version pinned for ``name``."""
        return [(n, m.start(version_group), m.end(version_group))
                for n, line in enumerate(lines) for m in pattern.finditer(line)
                if same(m.group(1), name) and m.group(version_group) == installed]
    return find


_FINDERS: dict[str, Finder] = {"pip": _pins(_PIP_PIN, lambda a, b: pep503(a) == pep503(b), 3),
                               "npm": _pins(_NPM_PIN, lambda a, b: a == b, 2)}


def _repin(lines: list[str], step: Step, group: FixGroup) -> list[str] | None:
    find = _FINDERS.get(group.manager)
    if find is None or not group.items:
        return None
    span = list(lines[step.line - 1: step.end])
    for item in group.items:
        hits = find(span, item.name, item.installed)
        if len(hits) != 1:
            return None
        n, start, end = hits[0]
        span[n] = span[n][:start] + item.target + span[n][end:]
    return [*lines[: step.line - 1], *span, *lines[step.end:]]


def unified_diff(path: str, old: list[str], new: list[str]) -> str:
    """A git-style unified diff of two versions of ``path`` (lines with their endings)."""
    out = [f"diff --git a/{path} b/{path}\n"]
    for line in difflib.unified_diff(old, new, f"a/{path}", f"b/{path}"):
        out.append(line if line.endswith("\n") else line + "\n" + _NO_NEWLINE)
    return "".join(out)


def group_patch(dockerfile: str, path: str, group: FixGroup) -> str:
    """The patch of ``group`` against ``dockerfile`` (named ``path`` in the diff), or ""."""
    if not path or group.dockerfile_line is None or group.owner not in ("os", "lang"):
        return ""
    lines = dockerfile.splitlines(keepends=True)
    if any(_split(line)[1] == "" for line in lines[:-1]):
        return ""  # a line break git does not count (\v, \f, U+2028, lone \r): numbers would differ
    step = _run_step(lines, group.dockerfile_line)
    if step is None:
        return ""
    new = _append(lines, step, group.command) if group.owner == "os" else _repin(lines, step, group)
    if new is None or new == lines:
        return ""
    return unified_diff(path, lines, new)
