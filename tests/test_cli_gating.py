"""CI gating beyond Trivy, through the real CLI: ``--exclude-base-layers`` (findings from
the base image's layers are shown but do not fail) and ``--baseline`` (only findings not in
a previous report fail).

Images are built with tests/imagebuild.py: Python distributions (dist-info METADATA) in a
base layer and in the image's own layers, with real-shaped histories. The database is the
corpus PyPA advisories (``layerscan db import``); which packages have findings, and which
IDs, is read from the advisory records (their explicit ``versions`` lists), never typed here.
"""

from __future__ import annotations

import json
import zipfile
from functools import cache
from pathlib import Path

import pytest
import yaml
from imagebuild import LayerSpec, build_image, file

from test_cli_main import EXIT_USAGE, assert_one_error_line, run_cli

PYPA_ZIP = Path("feeds/osv-pypi-pypa/pypa-advisory-database-vulns.zip")
SITE = "usr/local/lib/python3.11/site-packages"
BASE_PKG = ("flask", "0.12")  # in the base image
APP_PKG = ("requests", "2.19.1")  # installed by the image's own RUN step
ADDED_PKG = ("urllib3", "1.23")  # installed by a later build: new findings for --baseline
CLEAN_PKG = ("layerscan-gating-app", "1.0.0")  # the application itself: no advisory names it
EXIT = "5"

BASE_STEP = "/bin/sh -c #(nop) ADD file:9b5ad5a8a3b1c1a07f0e6c3b0c9a9d2d2f3e4c5b6a7d8e9f0a1b2c3d4e5f6a7b8 in / "
BASE_CMD = '/bin/sh -c #(nop)  CMD ["python3"]'
APP_CMD = 'CMD ["python3", "-m", "app"]'


# ---- expectations from the advisory data --------------------------------------------------

@cache
def _records(zip_path: Path) -> dict[str, list[dict]]:
    """package directory name -> its (non-withdrawn) PyPA records."""
    out: dict[str, list[dict]] = {}
    with zipfile.ZipFile(zip_path) as zf:
        for name in zf.namelist():
            parts = name.split("/")
            if len(parts) == 3 and name.endswith(".yaml"):
                record = yaml.safe_load(zf.read(name))
                if not record.get("withdrawn"):
                    out.setdefault(parts[1].lower(), []).append(record)
    return out


def expected_ids(corpus: Path, pkg: tuple[str, str]) -> list[set[str]]:
    """One set of ids (record id + aliases) per record whose versions list names the version."""
    name, version = pkg
    return [{r["id"], *r.get("aliases", [])} for r in _records(corpus / PYPA_ZIP).get(name, [])
            if any(version in a.get("versions", []) for a in r.get("affected", []))]


# ---- images ----------------------------------------------------------------------------------

def dist(pkg: tuple[str, str]) -> list:
    name, version = pkg
    info = f"{SITE}/{name.replace('-', '_')}-{version}.dist-info"
    return [file(f"{info}/METADATA", f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"),
            file(f"{info}/RECORD", "")]


def app_image(path: Path, app_layers: list[tuple[tuple[str, str], str]], *, base_cmd: bool = True,
              labels: dict[str, str] | None = None) -> Path:
    """Base layer (BASE_PKG) + its empty CMD, then one layer per (package, RUN step), then the app's CMD."""
    layers = [LayerSpec(dist(BASE_PKG), created_by=BASE_STEP)]
    layers += [LayerSpec(dist(pkg), created_by=step) for pkg, step in app_layers]
    steps = {len(layers): [APP_CMD]}
    if base_cmd:
        steps[1] = [BASE_CMD]
    image = build_image(layers, empty_steps=steps, labels=labels)
    return image.write_docker_archive(path, "layerscan/gating:1.0")


def pip_step(pkg: tuple[str, str]) -> str:
    return f"RUN /bin/sh -c pip install {pkg[0]}=={pkg[1]} # buildkit"


@pytest.fixture(scope="module")
def work(corpus: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    for pkg in (BASE_PKG, APP_PKG, ADDED_PKG):
        assert expected_ids(corpus, pkg), f"the corpus has PyPA records naming {pkg}"
    assert CLEAN_PKG[0] not in _records(corpus / PYPA_ZIP)
    work = tmp_path_factory.mktemp("cli-gating")
    proc = run_cli("db", "import", str(corpus / PYPA_ZIP), "-q", cwd=work)
    assert proc.returncode == 0, proc.stderr
    app_image(work / "app.tar", [(APP_PKG, pip_step(APP_PKG))])
    app_image(work / "clean.tar", [(CLEAN_PKG, "COPY . /app # buildkit")])
    app_image(work / "next.tar", [(APP_PKG, pip_step(APP_PKG)), (ADDED_PKG, pip_step(ADDED_PKG))])
    app_image(work / "nocmd.tar", [(CLEAN_PKG, "COPY . /app # buildkit")], base_cmd=False,
              labels={"org.opencontainers.image.base.name": "docker.io/library/python:3.11-slim"})
    return work


def scan_json(work: Path, image: str, *args: str, env: dict[str, str] | None = None) -> tuple[int, dict]:
    proc = run_cli("image", "--input", image, "-f", "json", "--exit-code", EXIT, *args, cwd=work, env=env)
    assert proc.returncode in (0, int(EXIT)), proc.stderr
    assert "Traceback" not in proc.stderr
    return proc.returncode, json.loads(proc.stdout)


def vulns(doc: dict, pkg: tuple[str, str] | None = None) -> list[dict]:
    return [v for r in doc["Results"] for v in r.get("Vulnerabilities", [])
            if pkg is None or v["PkgName"].lower() == pkg[0]]


def assert_reports(doc: dict, corpus: Path, pkg: tuple[str, str]) -> list[dict]:
    found = vulns(doc, pkg)
    for ids in expected_ids(corpus, pkg):
        assert any(ids & {v["VulnerabilityID"], *v.get("Aliases", [])} for v in found), (pkg, ids)
    return found


# ---- --exclude-base-layers -------------------------------------------------------------------

def test_without_exclusion_base_findings_fail(work: Path, corpus: Path):
    code, doc = scan_json(work, "clean.tar")
    assert assert_reports(doc, corpus, BASE_PKG)
    assert code == int(EXIT)
    assert not any(v.get("BaseLayer") for v in vulns(doc))


@pytest.mark.parametrize("value", ["auto", "1"])
def test_base_findings_shown_but_not_gating(work: Path, corpus: Path, value: str):
    code, doc = scan_json(work, "clean.tar", "--exclude-base-layers", value)
    base = assert_reports(doc, corpus, BASE_PKG)
    assert base and all(v["BaseLayer"] is True and v["Layer"]["Index"] == 0 for v in base)
    assert code == 0
    policy = doc["Layerscan"]["Policy"]
    assert policy["BaseLayers"] == 1 and policy["BaseLayerFindings"] == len(base)
    assert "Failing" not in policy


def test_auto_boundary_keeps_the_image_own_findings_gating(work: Path, corpus: Path):
    code, doc = scan_json(work, "app.tar", "--exclude-base-layers", "auto")
    assert code == int(EXIT)
    base, own = assert_reports(doc, corpus, BASE_PKG), assert_reports(doc, corpus, APP_PKG)
    assert all(v["BaseLayer"] for v in base)
    assert own and not any(v.get("BaseLayer") for v in own)
    assert doc["Layerscan"]["Policy"]["Failing"] == len(own)
    assert "CMD" in doc["Layerscan"]["Policy"]["BaseBoundary"]


def test_zero_layers_excludes_nothing(work: Path):
    code, doc = scan_json(work, "clean.tar", "--exclude-base-layers", "0")
    assert code == int(EXIT) and not any(v.get("BaseLayer") for v in vulns(doc))


def test_env_and_config_key(work: Path):
    assert scan_json(work, "clean.tar", env={"LAYERSCAN_EXCLUDE_BASE_LAYERS": "auto"})[0] == 0
    (work / "gating.yaml").write_text(yaml.safe_dump({"vulnerability": {"exclude-base-layers": 1}}))
    assert scan_json(work, "clean.tar", "--config", "gating.yaml")[0] == 0
    # the command line wins over the config file
    assert scan_json(work, "clean.tar", "--config", "gating.yaml", "--exclude-base-layers", "0")[0] == int(EXIT)


def test_table_header_note_and_marker(work: Path):
    _, doc = scan_json(work, "clean.tar", "--exclude-base-layers", "auto")
    count = len(vulns(doc))
    proc = run_cli("image", "--input", "clean.tar", "--exclude-base-layers", "auto", "--exit-code", EXIT,
                   cwd=work, env={"COLUMNS": "160"})
    assert proc.returncode == 0, proc.stderr
    assert f"{count} findings in base image layers (not gating)" in proc.stdout
    assert proc.stdout.count("[base]") == count + 1  # one per row, plus the note's legend


def test_auto_without_a_base_step_warns_and_excludes_nothing(work: Path):
    proc = run_cli("image", "--input", "nocmd.tar", "-f", "json", "--exclude-base-layers", "auto",
                   "--exit-code", EXIT, cwd=work)
    assert proc.returncode == int(EXIT), proc.stderr
    assert "python:3.11-slim" in proc.stderr and "nothing is excluded" in proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["Layerscan"]["Policy"]["BaseImage"] == "docker.io/library/python:3.11-slim"
    assert not any(v.get("BaseLayer") for v in vulns(doc))


@pytest.mark.parametrize("value", ["base", "-1", "1.5", "999999999999"])
def test_bad_exclude_value_is_a_usage_error(work: Path, value: str):
    proc = run_cli("image", "--input", "clean.tar", "--exclude-base-layers", value, cwd=work)
    assert proc.returncode == EXIT_USAGE
    assert_one_error_line(proc)


# ---- --baseline ------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def baseline(work: Path) -> Path:
    proc = run_cli("image", "--input", "app.tar", "-f", "json", "-o", "baseline.json", cwd=work)
    assert proc.returncode == 0, proc.stderr
    return work / "baseline.json"


def trivy_shaped(doc: dict) -> dict:
    """The report with only the fields Trivy writes (no Aliases, MatchDetail, Layerscan, ...)."""
    keep = ("VulnerabilityID", "PkgID", "PkgName", "InstalledVersion", "FixedVersion", "Status",
            "Layer", "SeveritySource", "PrimaryURL", "Title", "Severity", "References")
    results = [{"Target": r["Target"], "Class": r["Class"], "Type": r["Type"],
                "Vulnerabilities": [{k: v[k] for k in keep if k in v} for v in r.get("Vulnerabilities", [])]}
               for r in doc["Results"]]
    return {"SchemaVersion": 2, "ArtifactName": doc["ArtifactName"], "ArtifactType": "container_image",
            "Metadata": {}, "Results": results}


def test_same_image_against_its_baseline_passes(work: Path, baseline: Path):
    code, doc = scan_json(work, "app.tar", "--baseline", str(baseline))
    assert code == 0
    assert vulns(doc) and not any(v.get("New") for v in vulns(doc))
    assert "NewFindings" not in doc["Layerscan"]["Policy"]


@pytest.mark.parametrize("shape", ["layerscan", "trivy"])
def test_only_new_findings_fail(work: Path, corpus: Path, baseline: Path, shape: str):
    path = baseline
    if shape == "trivy":
        path = work / "trivy-baseline.json"
        path.write_text(json.dumps(trivy_shaped(json.loads(baseline.read_text()))))
    code, doc = scan_json(work, "next.tar", "--baseline", str(path))
    assert code == int(EXIT)
    added = assert_reports(doc, corpus, ADDED_PKG)
    assert added and all(v["New"] is True for v in added)
    old = assert_reports(doc, corpus, BASE_PKG) + assert_reports(doc, corpus, APP_PKG)
    assert old and not any(v.get("New") for v in old)
    policy = doc["Layerscan"]["Policy"]
    assert policy["NewFindings"] == policy["Failing"] == len(added)
    assert policy["Baseline"] == path.name


def test_baseline_and_base_layers_together(work: Path, baseline: Path):
    # the new findings are in layer 2: they gate unless layer 2 counts as base too
    code, doc = scan_json(work, "next.tar", "--baseline", str(baseline), "--exclude-base-layers", "2")
    assert code == int(EXIT) and not any(v.get("New") and v.get("BaseLayer") for v in vulns(doc))
    code, doc = scan_json(work, "next.tar", "--baseline", str(baseline), "--exclude-base-layers", "3")
    assert code == 0 and any(v.get("New") and v.get("BaseLayer") for v in vulns(doc))
    # baseline via the environment
    code, _ = scan_json(work, "next.tar", env={"LAYERSCAN_BASELINE": str(baseline)})
    assert code == int(EXIT)


def test_table_marks_new_findings(work: Path, baseline: Path):
    _, doc = scan_json(work, "next.tar", "--baseline", str(baseline))
    new = sum(1 for v in vulns(doc) if v.get("New"))
    proc = run_cli("image", "--input", "next.tar", "--baseline", str(baseline), cwd=work, env={"COLUMNS": "160"})
    assert proc.returncode == 0, proc.stderr
    assert f"Baseline baseline.json: {new} new findings" in proc.stdout
    assert proc.stdout.count("[new]") == new + 1


@pytest.mark.parametrize("content", [None, b"", b"{not json", b"[]", b'{"Results": []}',
                                     b'{"SchemaVersion": 2, "Results": {}}',
                                     b'{"SchemaVersion": 2, "Results": [{"Vulnerabilities": [{"PkgName": "x"}]}]}',
                                     b"[" * 100_000])
def test_missing_or_invalid_baseline_is_a_usage_error(work: Path, tmp_path: Path, content: bytes | None):
    path = tmp_path / "bad-baseline.json"
    if content is not None:
        path.write_bytes(content)
    proc = run_cli("image", "--input", "app.tar", "--baseline", str(path), cwd=work)
    assert proc.returncode == EXIT_USAGE
    assert_one_error_line(proc)
    assert "baseline" in proc.stderr


def test_sbom_with_layer_indexes_honours_a_layer_count(work: Path):
    from fixtures.report.sample import HERE, SBOM

    sbom = str(HERE / "golden.cdx.json")
    proc = run_cli("sbom", sbom, "-f", "json", "--exit-code", EXIT, cwd=work)
    assert proc.returncode == int(EXIT), proc.stderr
    found = vulns(json.loads(proc.stdout))
    top = max(p.layer.index for p in SBOM.packages if p.layer)
    assert found and all(v["Layer"]["Index"] == top for v in found)  # PyPI findings: the app layer
    assert run_cli("sbom", sbom, "--exclude-base-layers", str(top), "--exit-code", EXIT, "-q",
                   cwd=work).returncode == int(EXIT)
    assert run_cli("sbom", sbom, "--exclude-base-layers", str(top + 1), "--exit-code", EXIT, "-q",
                   cwd=work).returncode == 0
