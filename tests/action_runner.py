"""A small local runner for composite GitHub Actions (``action.yml``), enough to test ours.

What it does as GitHub's runner does (docs "Metadata syntax for GitHub Actions",
"Contexts", "Workflow commands"):

- inputs: a workflow step's ``with:`` values become strings (``true`` -> ``"true"``); an
  omitted input takes its ``default``; names are case-insensitive; an input the action does
  not declare is an error here (GitHub only warns: a test should notice a misspelt name);
- expressions ``${{ ctx.path }}`` are replaced with the value as text: ``inputs.*``,
  ``env.*``, ``github.*`` (``workspace``, ``action_path``, ``sha``, ...), ``runner.*``
  (``os``, ``temp``) and ``steps.<id>.outputs.<name>``; an unknown context is an error;
- ``run:`` steps with ``shell: bash`` run as ``bash --noprofile --norc -eo pipefail FILE``
  in the workspace, with the job environment, the ``GITHUB_*``/``RUNNER_*`` variables and
  the step's ``env:``; each step gets its own ``$GITHUB_OUTPUT`` file (``name=value`` and
  ``name<<DELIMITER`` blocks);
- the first failing step fails the action and skips the rest; the action's ``outputs``
  are evaluated at the end (also after a failure: steps that ran keep their outputs).

``uses:`` steps are not run (``actions/setup-python``, ``actions/cache``: the test machine
already has Python and the cache directory); they are recorded as skipped. Supported
``if:`` conditions: none on ``run:`` steps (an error), anything on skipped ``uses:`` steps.
"""

from __future__ import annotations

import os
import re
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

EXPRESSION = re.compile(r"\$\{\{\s*(.*?)\s*\}\}")
_PATH = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*(\.[A-Za-z_][A-Za-z0-9_-]*)*$")


class ActionError(Exception):
    """The action (or the workflow step calling it) is not valid for this runner."""


@dataclass(frozen=True)
class StepResult:
    id: str
    name: str
    skipped: bool
    returncode: int = 0
    stdout: str = ""
    stderr: str = ""
    outputs: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ActionRun:
    returncode: int
    outputs: dict[str, str]
    steps: tuple[StepResult, ...]

    @property
    def stdout(self) -> str:
        return "".join(s.stdout for s in self.steps)

    @property
    def stderr(self) -> str:
        return "".join(s.stderr for s in self.steps)


def load_action(path: Path) -> dict[str, Any]:
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    if not isinstance(doc, dict) or doc.get("runs", {}).get("using") != "composite":
        raise ActionError(f"{path}: not a composite action")
    return doc


def as_input_text(value: object) -> str:
    """A ``with:`` value as the runner passes it: YAML booleans as true/false, numbers as written."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)


def resolve_inputs(action: dict[str, Any], given: dict[str, object]) -> dict[str, str]:
    declared = {name.lower(): spec or {} for name, spec in (action.get("inputs") or {}).items()}
    values = {name: as_input_text(spec.get("default", "")) for name, spec in declared.items()}
    for name, value in given.items():
        key = name.lower()
        if key not in declared:
            raise ActionError(f"unexpected input {name!r} (the action declares: {', '.join(sorted(declared))})")
        values[key] = as_input_text(value)
    return values


def substitute(text: str, contexts: dict[str, dict[str, Any]]) -> str:
    """Replace each ``${{ context.path }}`` with its value (``""`` for a missing key of a known context)."""
    def value(match: re.Match[str]) -> str:
        expr = match.group(1)
        if not _PATH.match(expr):
            raise ActionError(f"expression not supported by the local runner: {expr!r}")
        head, *rest = expr.split(".")
        if head not in contexts:
            raise ActionError(f"unknown context {head!r} in ${{{{ {expr} }}}}")
        node: Any = contexts[head]
        for part in rest:
            node = node.get(part.lower() if head == "inputs" else part, "") if isinstance(node, dict) else ""
        return as_input_text(node)
    return EXPRESSION.sub(value, text)


def parse_output_file(text: str) -> dict[str, str]:
    """``$GITHUB_OUTPUT``: ``name=value`` lines and ``name<<DELIM`` ... ``DELIM`` blocks."""
    out: dict[str, str] = {}
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        i += 1
        if "<<" in line and ("=" not in line or line.index("<<") < line.index("=")):
            name, delim = line.split("<<", 1)
            block: list[str] = []
            while i < len(lines) and lines[i] != delim:
                block.append(lines[i])
                i += 1
            if i >= len(lines):
                raise ActionError(f"$GITHUB_OUTPUT: {name}: no closing {delim!r}")
            i += 1
            out[name] = "\n".join(block)
        elif "=" in line:
            name, value = line.split("=", 1)
            out[name] = value
        elif line.strip():
            raise ActionError(f"$GITHUB_OUTPUT: malformed line {line!r}")
    return out


def run_action(action_dir: Path, inputs: dict[str, object], *, workspace: Path, env: dict[str, str] | None = None,
               github: dict[str, str] | None = None, timeout: float = 600) -> ActionRun:
    action = load_action(action_dir / "action.yml")
    values = resolve_inputs(action, inputs)
    temp = Path(tempfile.mkdtemp(prefix="runner-temp-", dir=workspace.parent))
    job_env = {**os.environ, **(env or {})}
    job_env.update({"GITHUB_WORKSPACE": str(workspace), "GITHUB_ACTION_PATH": str(action_dir),
                    "GITHUB_ACTIONS": "true", "CI": "true", "RUNNER_OS": "Linux", "RUNNER_TEMP": str(temp)})
    contexts: dict[str, dict[str, Any]] = {
        "inputs": values,
        "env": job_env,
        "github": {"workspace": str(workspace), "action_path": str(action_dir), "sha": "0" * 40,
                   "ref": "refs/heads/main", "repository": "example/app", **(github or {})},
        "runner": {"os": "Linux", "temp": str(temp), "arch": "X64"},
        "steps": {},
    }
    results: list[StepResult] = []
    failed = 0
    for number, step in enumerate(action["runs"]["steps"]):
        step_id = str(step.get("id") or f"__step{number}")
        name = str(step.get("name") or step_id)
        if failed or "uses" in step:
            results.append(StepResult(step_id, name, skipped=True))
            continue
        if "if" in step:
            raise ActionError(f"step {name!r}: 'if' on a run step is not supported by the local runner")
        if step.get("shell") != "bash":
            raise ActionError(f"step {name!r}: only shell: bash is supported")
        result = _run_step(step, step_id, name, contexts, job_env, temp, workspace, timeout)
        contexts["steps"][step_id] = {"outputs": result.outputs, "outcome": "success" if not result.returncode
                                      else "failure"}
        results.append(result)
        failed = result.returncode
    outputs = {name: substitute(str(spec.get("value", "")), contexts)
               for name, spec in (action.get("outputs") or {}).items()}
    return ActionRun(failed, outputs, tuple(results))


def _run_step(step: dict[str, Any], step_id: str, name: str, contexts: dict[str, dict[str, Any]],
              job_env: dict[str, str], temp: Path, workspace: Path, timeout: float) -> StepResult:
    script = temp / f"{step_id}.sh"
    script.write_text(substitute(str(step["run"]), contexts), encoding="utf-8")
    output_file = temp / f"{step_id}.output"
    output_file.write_text("")
    step_env = {key: substitute(str(value), contexts) for key, value in (step.get("env") or {}).items()}
    proc = subprocess.run(["bash", "--noprofile", "--norc", "-eo", "pipefail", str(script)],
                          cwd=workspace, env={**job_env, **step_env, "GITHUB_OUTPUT": str(output_file)},
                          capture_output=True, text=True, timeout=timeout)
    return StepResult(step_id, name, False, proc.returncode, proc.stdout, proc.stderr,
                      parse_output_file(output_file.read_text(encoding="utf-8")))


def run_workflow_step(step_yaml: str, action_dir: Path, **kwargs: Any) -> ActionRun:
    """Run one workflow step (``- uses: ... with: ...``) whose ``uses:`` names this action:
    its ``with:`` values are expressions in the workflow's ``github`` context first."""
    steps = yaml.safe_load(step_yaml)
    step = steps[0] if isinstance(steps, list) else steps
    if "uses" not in step:
        raise ActionError("not a uses: step")
    github = {"workspace": str(kwargs["workspace"]), "sha": "0" * 40, **(kwargs.get("github") or {})}
    given = {name: substitute(as_input_text(value), {"github": github})
             for name, value in (step.get("with") or {}).items()}
    return run_action(action_dir, given, **kwargs)
