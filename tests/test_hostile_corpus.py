"""The hostile corpus (tests/hostile, issue #16), case by case through the real CLI.

Each case of ``hostile.manifest.CASES`` is built into the test's tmp dir and run in a sandbox
(test_hostile_cli's ``run_cli``: fresh cwd, HOME and TMPDIR, ``--cache-dir`` inside it),
killed at the case's time limit; the child's peak RSS (GNU time, else ``os.wait4``) must stay
within its memory limit (512 MiB), the exit code be one the case accepts, stderr free of
tracebacks and naming the problem, the JSON report holding the Unknowns or packages the case
requires. With ``LAYERSCAN_HOSTILE_REPORT`` set, one JSON line per case (name, exit code,
wall seconds, peak RSS MiB) is appended to that file (`.ci/run` prints it as a table).

The generators are deterministic: building a case twice gives the same bytes.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest

from hostile.manifest import CASES, Case, check
from test_hostile_cli import Sandbox, box, run_cli  # noqa: F401 - box is a fixture

REPORT_ENV = "LAYERSCAN_HOSTILE_REPORT"


def params() -> list:
    marks = {c.name: [*([pytest.mark.slow] if c.slow else []),
                      *([pytest.mark.xfail(reason=c.xfail, strict=True)] if c.xfail else [])] for c in CASES}
    return [pytest.param(c, id=c.name, marks=marks[c.name]) for c in CASES]


def record(case: Case, rc: int, wall_s: float, rss_kb: int) -> None:
    path = os.environ.get(REPORT_ENV)
    if path:
        with open(path, "a", encoding="utf-8") as fh:
            fh.write(json.dumps({"name": case.name, "family": case.family, "exit_code": rc,
                                 "wall_s": round(wall_s, 3), "peak_rss_mib": round(rss_kb / 1024, 1)}) + "\n")


@pytest.mark.parametrize("case", params())
def test_hostile_case(box: Sandbox, tmp_path: Path, case: Case) -> None:
    where = tmp_path / "input"
    where.mkdir()
    args = case.build(where)
    run = run_cli(box, *args, timeout=case.time_limit, max_rss_kb=case.memory_limit_mib * 1024 + 1)
    record(case, run.rc, run.wall_s, run.max_rss_kb)
    problems = check(case, run.rc, run.stdout, run.stderr)
    assert not problems, (problems, run.stderr[-2000:])


def digests(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("case", [pytest.param(c, id=c.name) for c in CASES if not c.slow])
def test_generation_is_deterministic(tmp_path: Path, case: Case) -> None:
    first, second = tmp_path / "a", tmp_path / "b"
    first.mkdir()
    second.mkdir()
    args = case.build(first)
    assert [a.replace(str(first), "") for a in args] == [a.replace(str(second), "") for a in case.build(second)]
    assert digests(first) and digests(first) == digests(second)


def test_the_manifest_is_sound() -> None:
    names = [c.name for c in CASES]
    assert len(names) == len(set(names))
    assert {c.family for c in CASES} == {"archives", "pkgdb", "jars", "sboms", "lockfiles", "feeds"}
    for case in CASES:
        assert case.codes and case.time_limit <= 60 and case.memory_limit_mib == 512, case.name
