"""templates/layerscan.gitlab-ci.yml: GitLab's ``container_scanning`` job with GitLab's
variables, its script lines run locally (tests/gitlab_runner.py) against images in a real
registry; the report validates (tests/test_report_gitlab.py's schema) and its vulnerability
ids stay the same when the same image is pushed under another tag."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from gitlab_runner import job_variables, load_job, run_job
from registry import RegistryServer, registry, token_registry  # noqa: F401 - pytest fixtures
from test_action import DEMO, SHA, clean_image
from test_cli_main import ROOT, run_cli
from test_report_gitlab import _errors

imagebuild = pytest.importorskip("imagebuild")

TEMPLATE = ROOT / "templates" / "layerscan.gitlab-ci.yml"
REPORT = "gl-container-scanning-report.json"

pytestmark = [pytest.mark.registry,
              pytest.mark.skipif(shutil.which("skopeo") is None, reason="skopeo is not installed")]


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """$CI_PROJECT_DIR with the example database in the job's cache directory."""
    root = tmp_path_factory.mktemp("gitlab") / "project"
    root.mkdir()
    proc = run_cli("db", "import", str(ROOT / "examples" / "feeds"), "--cache-dir",
                   str(root / ".cache" / "layerscan"), cwd=root)
    assert proc.returncode == 0, proc.stderr
    return root


@pytest.fixture(scope="module")
def pushed(registry: RegistryServer) -> str:  # noqa: F811
    imagebuild.skopeo_copy(f"docker-archive:{DEMO}", registry.host, "group/app/main", SHA)
    imagebuild.skopeo_copy(f"docker-archive:{DEMO}", registry.host, "group/app/main", "v2")
    clean_image().push(registry.host, "group/app/main", "clean")
    return registry.host


def predefined(project: Path, host: str) -> dict[str, str]:
    return {"CI_PROJECT_DIR": str(project), "CI_REGISTRY_IMAGE": f"{host}/group/app", "CI_COMMIT_REF_SLUG": "main",
            "CI_COMMIT_SHA": SHA, "CI_REGISTRY_USER": "", "CI_REGISTRY_PASSWORD": "", "CI_DEFAULT_BRANCH": "main"}


def run(project: Path, host: str, **overrides: str):
    (project / REPORT).unlink(missing_ok=True)
    home = project.parent / "home"
    home.mkdir(exist_ok=True)
    env = {"LAYERSCAN_INSECURE": "true", "HOME": str(home), "DOCKER_CONFIG": str(home / "none"),
           "LAYERSCAN_SKIP_DB_UPDATE": "true"}
    return run_job(load_job(TEMPLATE, "container_scanning"), cwd=project, predefined=predefined(project, host),
                   overrides=overrides, env=env)


def report(project: Path) -> dict:
    return json.loads((project / REPORT).read_text())


def test_job_uses_gitlabs_names():
    job = load_job(TEMPLATE, "container_scanning")
    assert {"CS_IMAGE", "CS_REGISTRY_USER", "CS_REGISTRY_PASSWORD", "CS_DOCKERFILE_PATH", "CS_SEVERITY_THRESHOLD",
            "CS_DEFAULT_BRANCH_IMAGE"} <= set(job["variables"])
    assert job["artifacts"]["reports"]["container_scanning"] == REPORT
    variables = job_variables(job, {"CI_REGISTRY_IMAGE": "reg/g/p", "CI_COMMIT_REF_SLUG": "feat", "CI_COMMIT_SHA": "c0"},
                              {})
    assert variables["CS_IMAGE"] == "reg/g/p/feat:c0"  # GitLab's default: the branch's image of this commit


def test_default_image_is_scanned_and_the_report_validates(project: Path, pushed: str):
    proc = run(project, pushed)  # CS_IMAGE from the predefined variables: .../group/app/main:SHA
    assert proc.returncode == 0, proc.stderr  # reports, does not fail the pipeline by default
    doc = report(project)
    assert _errors(doc) == []
    assert {v["location"]["image"] for v in doc["vulnerabilities"]} == {f"{pushed}/group/app/main:{SHA}"}
    assert {"Critical", "High"} <= {v["severity"] for v in doc["vulnerabilities"]}


def test_threshold_and_exit_code(project: Path, pushed: str):
    proc = run(project, pushed, CS_SEVERITY_THRESHOLD="CRITICAL", LAYERSCAN_EXIT_CODE="1")
    assert proc.returncode == 1, proc.stderr
    doc = report(project)  # written also when the job fails
    assert {v["severity"] for v in doc["vulnerabilities"]} == {"Critical"}
    clean = run(project, pushed, CS_IMAGE=f"{pushed}/group/app/main:clean", CS_SEVERITY_THRESHOLD="HIGH",
                LAYERSCAN_EXIT_CODE="1")
    assert clean.returncode == 0, clean.stderr
    assert report(project)["vulnerabilities"] == []
    bad = run(project, pushed, CS_SEVERITY_THRESHOLD="SEVERE")
    assert bad.returncode == 2 and "CS_SEVERITY_THRESHOLD must be" in bad.stderr


def test_ids_do_not_depend_on_the_tag(project: Path, pushed: str):
    run(project, pushed)
    first = {v["id"]: v["identifiers"][0]["value"] for v in report(project)["vulnerabilities"]}
    proc = run(project, pushed, CS_IMAGE=f"{pushed}/group/app/main:v2")
    assert proc.returncode == 0, proc.stderr
    second = {v["id"]: v["identifiers"][0]["value"] for v in report(project)["vulnerabilities"]}
    assert first == second and first


def test_default_branch_image_and_dockerfile(project: Path, pushed: str):
    (project / "Dockerfile").write_text("FROM debian:9\nCOPY . /srv\n")
    try:
        proc = run(project, pushed, CS_DEFAULT_BRANCH_IMAGE=f"{pushed}/group/app/main:latest")
    finally:
        (project / "Dockerfile").unlink()
    assert proc.returncode == 0, proc.stderr
    doc = report(project)
    assert _errors(doc) == []
    assert {v["location"]["default_branch_image"] for v in doc["vulnerabilities"]} == {
        f"{pushed}/group/app/main:latest"}


def test_registry_credentials(project: Path, token_registry: RegistryServer):  # noqa: F811
    imagebuild.skopeo_copy(f"docker-archive:{DEMO}", token_registry.host, "group/app/main", SHA,
                           creds=token_registry.creds)
    proc = run(project, token_registry.host, CS_REGISTRY_USER=token_registry.username,
               CS_REGISTRY_PASSWORD=token_registry.password)
    assert proc.returncode == 0, proc.stderr
    assert report(project)["vulnerabilities"]
    assert token_registry.password not in proc.stdout + proc.stderr + (project / REPORT).read_text()
    denied = run(project, token_registry.host, CS_REGISTRY_USER=token_registry.username,
                 CS_REGISTRY_PASSWORD="wrong")
    assert denied.returncode == 3 and not (project / REPORT).exists()
