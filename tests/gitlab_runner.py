"""Run a GitLab CI job's script lines locally, as a shell executor would.

``load_job(path, name)`` reads the job from a CI file (top-level ``variables:`` merged
under the job's own); ``run_job`` expands ``$VAR`` / ``${VAR}`` in the variable values
from the predefined CI variables given and the variables defined before (GitLab expands
variables inside variables), exports them, and runs ``before_script`` + ``script`` in one
shell (``bash``, or one inside an image: ``shell=``) with ``set -eo pipefail`` from
``$CI_PROJECT_DIR`` (the first failing line fails the job). ``image:``, ``cache:``,
``artifacts:`` and ``rules:`` are not interpreted.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path
from typing import Any

import yaml

_VAR = re.compile(r"\$(?:\{([A-Za-z_][A-Za-z0-9_]*)\}|([A-Za-z_][A-Za-z0-9_]*))")


def load_job(path: Path, name: str) -> dict[str, Any]:
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    job = dict(doc[name])
    job["variables"] = {**(doc.get("variables") or {}), **(job.get("variables") or {})}
    return job


def expand(value: str, known: dict[str, str]) -> str:
    return _VAR.sub(lambda m: known.get(m.group(1) or m.group(2), ""), value)


def job_variables(job: dict[str, Any], predefined: dict[str, str], overrides: dict[str, str]) -> dict[str, str]:
    """Variables as the job sees them: predefined CI variables, the file's variables (expanded),
    then ``overrides`` (project/pipeline variables win over the file's, as in GitLab)."""
    known = dict(predefined)
    for name, value in (job.get("variables") or {}).items():
        known[name] = expand(str(value), known) if name not in overrides else overrides[name]
    known.update(overrides)
    return known


BASH = ("bash", "--noprofile", "--norc", "-c")


def run_job(job: dict[str, Any], *, cwd: Path, predefined: dict[str, str], overrides: dict[str, str] | None = None,
            env: dict[str, str] | None = None, shell: tuple[str, ...] = BASH, inherit_env: bool = True,
            timeout: float = 600) -> subprocess.CompletedProcess[str]:
    """``shell``: the command that takes the script as its last argument (e.g. a shell inside
    an image: ``("chroot", ROOTFS, "/busybox/sh", "-c")``); the script starts in
    ``$CI_PROJECT_DIR`` as a runner's does."""
    variables = job_variables(job, predefined, overrides or {})
    lines = [str(line) for line in (*job.get("before_script", ()), *job.get("script", ()))]
    script = 'set -eo pipefail\ncd "$CI_PROJECT_DIR"\n' + "\n".join(lines) + "\n"
    base = dict(os.environ) if inherit_env else {}
    return subprocess.run([*shell, script], cwd=cwd, env={**base, **(env or {}), **variables}, capture_output=True,
                          text=True, timeout=timeout)
