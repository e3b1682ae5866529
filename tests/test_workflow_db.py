"""``.github/workflows/db.yml`` (issue #11): the scheduled build and publication of the database.

- the YAML: a 6-hour cron plus workflow_dispatch, least permissions (packages write, contents
  read), one concurrency group that never cancels a publishing run, actions pinned by the
  commit SHAs action.yml uses, no expression inside a ``run:`` script;
- its ``run:`` steps, run by tests/action_runner.py's step runner with the job's ``env:``:
  the feeds come from the mirror of tests/test_db_update.py on 127.0.0.1 (every other
  source at a closed port), the registry is the local one (tests/registry.py); the install
  step is left out (this environment's layerscan is on PATH). The pushed artifact is pulled
  back by the workflow's own verify step and scanned against.
"""

from __future__ import annotations

import os
import re
import sys
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml
from action_runner import _run_step, substitute
from registry import RegistryServer, registry  # noqa: F401 - pytest fixture
from test_db_update import _populate, mirror  # noqa: F401 - pytest fixture

from layerscan.db.needs import all_source_keys
from layerscan.db.store import Store

ROOT = Path(__file__).resolve().parents[1]
WORKFLOW = ROOT / ".github" / "workflows" / "db.yml"
PINNED = re.compile(r"^[\w.-]+/[\w.-]+@([0-9a-f]{40})$")


def _workflow() -> dict[str, Any]:
    doc = yaml.safe_load(WORKFLOW.read_text(encoding="utf-8"))
    doc["on"] = doc.pop(True, doc.get("on"))  # YAML 1.1 reads the key `on` as true
    return doc


def _steps() -> list[dict[str, Any]]:
    return _workflow()["jobs"]["publish"]["steps"]


def _cron_hours(expr: str) -> set[int]:
    minute, hour, *rest = expr.split()
    assert minute.isdigit() and rest == ["*", "*", "*"], expr
    step = re.fullmatch(r"\*/(\d+)", hour)
    assert step, expr
    return set(range(0, 24, int(step.group(1))))


def test_schedule_permissions_and_concurrency() -> None:
    doc = _workflow()
    assert [_cron_hours(s["cron"]) for s in doc["on"]["schedule"]] == [{0, 6, 12, 18}]
    assert "workflow_dispatch" in doc["on"]
    assert doc["permissions"] == {"contents": "read", "packages": "write"}
    assert doc["concurrency"]["group"] and doc["concurrency"]["cancel-in-progress"] is False
    assert set(doc["jobs"]) == {"publish"}


def test_actions_are_pinned_by_the_shas_action_yml_uses() -> None:
    action_shas = set(re.findall(r"uses: [\w./-]+@([0-9a-f]{40})", (ROOT / "action.yml").read_text()))
    uses = [s["uses"] for s in _steps() if "uses" in s]
    assert uses, "setup-python and cache are expected"
    for ref in uses:
        match = PINNED.match(ref)
        assert match, f"{ref} is not pinned by a commit SHA"
        assert match.group(1) in action_shas, f"{ref}: not a SHA action.yml already uses"


def test_run_scripts_hold_no_expressions_and_use_real_subcommands() -> None:
    runs = [s for s in _steps() if "run" in s]
    assert {s["id"] for s in runs} == {"install", "build", "push", "verify"}
    for step in runs:
        assert "${{" not in step["run"], f"step {step['id']}: expression inside run:"
        assert step["shell"] == "bash"
    script = "\n".join(s["run"] for s in runs)
    assert "layerscan db update" in script and "layerscan db push" in script
    push = next(s for s in runs if s["id"] == "push")
    assert push["env"]["LAYERSCAN_PASSWORD"] == "${{ secrets.GITHUB_TOKEN }}"


def _contexts(tmp_path: Path, job_env: dict[str, str]) -> dict[str, dict[str, Any]]:
    return {"github": {"repository_owner": "Example", "actor": "ci", "run_id": "1", "sha": "0" * 40},
            "runner": {"temp": str(tmp_path / "runner-temp"), "os": "Linux"},
            "secrets": {"GITHUB_TOKEN": "token", "NVD_API_KEY": ""}, "env": job_env, "steps": {}}


def test_run_steps_build_push_and_pull_back(registry: RegistryServer, mirror: tuple[str, Path, ThreadingHTTPServer],  # noqa: F811
                                            tmp_path: Path) -> None:
    base, root, _ = mirror
    _populate(root)
    temp, workspace = tmp_path / "runner-temp", tmp_path / "workspace"
    temp.mkdir()
    workspace.mkdir()
    feeds = {f"LAYERSCAN_DB_{k.partition(':')[0].upper().replace('-', '_')}_URL": "http://127.0.0.1:9"
             for k in all_source_keys()}
    feeds.update({"LAYERSCAN_DB_OSV_URL": f"{base}/osv", "LAYERSCAN_DB_DEBIAN_URL": f"{base}/debian.json",
                  "LAYERSCAN_DB_ALPINE_URL": f"{base}/alpine", "LAYERSCAN_DB_KEV_URL": f"{base}/kev.json",
                  "LAYERSCAN_DB_EPSS_URL": f"{base}/epss.csv.gz", "LAYERSCAN_DB_EOL_URL": f"{base}/eol",
                  "LAYERSCAN_DB_NVD_URL": f"{base}/nvd.json"})
    base_env = {k: v for k, v in os.environ.items() if not k.startswith("LAYERSCAN_")}
    base_env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{base_env.get('PATH', '')}"
    contexts = _contexts(tmp_path, base_env)
    declared = {k: substitute(str(v), contexts) for k, v in _workflow()["jobs"]["publish"]["env"].items()}
    assert declared["DB_REPOSITORY"] == "ghcr.io/Example/layerscan-db"
    job_env = {**base_env, **declared, **feeds, "RUNNER_TEMP": str(temp), "LAYERSCAN_TIMEOUT": "20",
               "DB_REPOSITORY": f"{registry.host}/Example/layerscan-db", "LAYERSCAN_INSECURE": "true"}
    contexts["env"] = job_env
    results = {}
    for step in _steps():
        if "run" not in step or step["id"] == "install":
            continue
        result = _run_step(step, step["id"], step["name"], contexts, job_env, temp, workspace, 300)
        assert result.returncode == 0, f"{step['id']}: {result.stdout}\n{result.stderr}"
        results[step["id"]] = result
    assert "schema version" in results["build"].stdout
    pulled = temp / "verify" / "db" / "layerscan.db"
    with Store.open(pulled) as store:
        assert store.kev("CVE-2023-45853")
        assert store.affected("PyPI", "demo-pkg")
    assert f"{registry.host}/example/layerscan-db:latest" in results["verify"].stderr + results["verify"].stdout


@pytest.mark.parametrize("name", ["install"])
def test_install_step_installs_this_commit(name: str) -> None:
    step = next(s for s in _steps() if s.get("id") == name)
    assert 'git+${GITHUB_SERVER_URL}/${GITHUB_REPOSITORY}@${GITHUB_SHA}' in step["run"]
