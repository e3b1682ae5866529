"""``layerscan recommendations IMAGE``: refresh / patch / minor candidates from the base-image
index, each scanned from a real ``docker-registry`` on 127.0.0.1, ranked.

A "python" base family is built here on the corpus Debian 12 dpkg status, its Python
distributions chosen so each candidate has a different set of PyPA findings. Which findings a
candidate has is read from the advisory records (tests/test_remediate_cli.finding_groups);
the ranking rule is checked on the reported counts. The tag grammar's corner cases (tags that
do not parse, other flavors, other majors) are in the registry too and must not be offered.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from imagebuild import LayerSpec, file

from test_base_index import APP_LAYER, DEBIAN, debian_layer, image
from test_cli_gating import PYPA_ZIP, dist
from test_cli_main import run_cli
from test_remediate_cli import EOL_DIR, finding_groups

from layerscan.remediate.recommend import CLASSES, WEIGHTS
from layerscan.remediate.tags import parse_tag, upgrade_class

FLASK, URLLIB3, REQUESTS = ("flask", "0.12"), ("urllib3", "1.23"), ("requests", "2.19.1")
REPO = "rec/python"


def python_image(corpus: Path, version: str, pkgs: list[tuple[str, str]], flavor: str = ""):
    entries = [file(f"usr/local/bin/python{version}", f"python {version} {flavor}")]
    entries += [e for pkg in pkgs for e in dist(pkg)]
    layer = LayerSpec(entries, created_by=f"RUN /bin/sh -c build python {version}{flavor} # buildkit")
    return image([debian_layer(corpus, "12"), layer], env=[f"PYTHON_VERSION={version}"])


@pytest.fixture(scope="module")
def rec(corpus: Path, registry, tmp_path_factory: pytest.TempPathFactory):
    if not (corpus / DEBIAN["12"][0]).is_dir() or not (corpus / PYPA_ZIP).is_file():
        pytest.skip("corpus Debian 12 status or PyPA advisories are absent")
    work = tmp_path_factory.mktemp("recommend")
    imgs = {
        "v1": python_image(corpus, "3.12.1", [FLASK, URLLIB3]),
        "v2": python_image(corpus, "3.12.9", [URLLIB3]),
        "v5": python_image(corpus, "3.12.5", [FLASK]),
        "v3": python_image(corpus, "3.13.0", []),
        "slim": python_image(corpus, "3.13.0", [], "slim"),
        "major": python_image(corpus, "4.0.0", []),
    }
    tags = {"3.12-bookworm": "v1", "3.12.9-bookworm": "v2", "3.12.5-bookworm": "v5",
            "3.13-bookworm": "v3", "latest": "v3", "3.13-slim-bookworm": "slim", "4.0-bookworm": "major",
            "3.x-bookworm": "v3", "bookworm": "major"}
    for tag, key in tags.items():
        imgs[key].push(registry.host, REPO, tag)
    app = image_on(imgs["v1"], corpus)
    app.write_oci_dir(work / "app", "1.0")
    env = {"LAYERSCAN_CACHE_DIR": str(work / "cache")}
    proc = run_cli("db", "import", str(corpus / PYPA_ZIP), str(corpus / EOL_DIR), "-q", cwd=work, env=env)
    assert proc.returncode == 0, proc.stderr
    repo = f"{registry.host}/{REPO}"
    proc = run_cli("index", "add", repo, "--insecure", cwd=work, env=env)
    assert proc.returncode == 0, proc.stderr
    imgs["v2"].push(registry.host, REPO, "3.12-bookworm")  # the tag moves: a refresh
    proc = run_cli("index", "update", "--insecure", cwd=work, env=env)
    assert proc.returncode == 0 and "moved: 3.12-bookworm" in proc.stderr, proc.stderr
    return work, repo, imgs


def image_on(base, corpus: Path):
    """An application image: the base's own layers (same diff_ids) plus the app's."""
    layers = [debian_layer(corpus, "12"),
              LayerSpec([file("usr/local/bin/python3.12.1", "python 3.12.1 ")]
                        + [e for pkg in (FLASK, URLLIB3) for e in dist(pkg)],
                        created_by="RUN /bin/sh -c build python 3.12.1 # buildkit"),
              LayerSpec(dist(REQUESTS), created_by="RUN pip install requests==2.19.1 # buildkit"), APP_LAYER]
    app = image(layers, env=["PYTHON_VERSION=3.12.1"])
    assert app.diff_ids[:2] == base.diff_ids, "the app is built on the base's exact layers"
    return app


def recommendations(work: Path, *args: str) -> dict:
    proc = run_cli("recommendations", "--input", "app", "--insecure", "--skip-db-update", "-f", "json", *args,
                   cwd=work, env={"LAYERSCAN_CACHE_DIR": str(work / "cache")})
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    return json.loads(proc.stdout)


def test_classes_counts_and_ranking(rec, corpus: Path):
    work, repo, imgs = rec
    doc = recommendations(work)
    base = doc["BaseImage"]
    assert (base["Level"], base["Tag"], base["TagMoved"]) == ("matched", "3.12-bookworm", True)
    by_class = {r["Class"]: r for r in doc["Recommendations"]}
    assert set(by_class) == {"refresh", "patch", "minor"} and len(doc["Recommendations"]) == 3
    assert (by_class["refresh"]["Digest"], by_class["refresh"]["Tag"]) == (imgs["v2"].manifest_digest, "3.12-bookworm")
    assert by_class["refresh"]["Tags"] == ["3.12-bookworm", "3.12.9-bookworm"]
    assert (by_class["patch"]["Digest"], by_class["patch"]["Tag"]) == (imgs["v5"].manifest_digest, "3.12.5-bookworm")
    assert (by_class["minor"]["Digest"], by_class["minor"]["Tag"]) == (imgs["v3"].manifest_digest, "3.13-bookworm")
    # each candidate's findings, from the feed records
    groups = {key: sum(len(finding_groups(corpus, p)) for p in pkgs)
              for key, pkgs in (("refresh", [URLLIB3]), ("patch", [FLASK]), ("minor", []))}
    base_total = sum(len(finding_groups(corpus, p)) for p in (FLASK, URLLIB3))
    for kind, r in by_class.items():
        assert r["Vulnerabilities"] == groups[kind], kind
        assert sum(r["DeltaSeverities"].values()) == groups[kind] - base_total
        assert r["From"] == f"FROM {repo}:{r['Tag']}@{r['Digest']}"
    # ranked: passes the policy, then weighted severity, then disruption
    keys = [(not r["PassesPolicy"], sum(WEIGHTS[s] * n for s, n in r["Severities"].items()),
             CLASSES.index(r["Class"])) for r in doc["Recommendations"]]
    assert keys == sorted(keys)
    assert doc["Recommendations"][0]["Class"] == "minor"  # no PyPA findings at all


def test_table_has_from_lines_to_paste(rec):
    work, repo, imgs = rec
    proc = run_cli("recommendations", "--input", "app", "--insecure", "--skip-db-update", cwd=work,
                   env={"LAYERSCAN_CACHE_DIR": str(work / "cache")})
    assert proc.returncode == 0, proc.stderr
    assert f"   FROM {repo}:3.13-bookworm@{imgs['v3'].manifest_digest}" in proc.stdout.splitlines()
    assert "1. minor" in proc.stdout and "delta" in proc.stdout


def test_an_image_without_an_indexed_base_has_no_candidates(rec, tmp_path: Path):
    work, _, _ = rec
    image([APP_LAYER]).write_oci_dir(work / "lonely", "1.0")
    proc = run_cli("recommendations", "--input", "lonely", "--skip-db-update", "-f", "json", cwd=work,
                   env={"LAYERSCAN_CACHE_DIR": str(work / "cache")})
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["Recommendations"] == [] and "index add REPO" in doc["Note"]


@pytest.mark.parametrize("tag, parts", [
    ("3.12.1-slim-bookworm", ((3, 12, 1), "slim", "bookworm")),
    ("20-alpine3.19", ((20,), "", "alpine3.19")),
    ("3.12", ((3, 12), "", "")),
    ("1.2.3-rc1", ((1, 2, 3), "rc1", "")),
    ("latest", ((), "", "")), ("bookworm-slim", ((), "", "")), ("3.x-bookworm", ((), "", "")),
    ("9" * 12, ((), "", "")), ("1.2.3.4.5", ((), "", "")), ("", ((), "", "")), ("-", ((), "", "")),
])
def test_tag_grammar(tag: str, parts: tuple):
    parsed = parse_tag(tag, {"bookworm"})
    assert (parsed.version, parsed.flavor, parsed.os) == parts


@pytest.mark.parametrize("current, candidate, kind", [
    ("3.12-bookworm", "3.12.9-bookworm", "patch"), ("3.12.1-bookworm", "3.12-bookworm", "patch"),
    ("3.12-bookworm", "3.13-bookworm", "minor"), ("3.12-bookworm", "3.11-bookworm", ""),
    ("3.12-bookworm", "4.0-bookworm", ""), ("3.12-bookworm", "3.13-slim-bookworm", ""),
    ("3.12-bookworm", "3.13-bullseye", ""), ("latest", "3.13-bookworm", ""), ("3.12-bookworm", "latest", ""),
])
def test_upgrade_classes(current: str, candidate: str, kind: str):
    names = {"bookworm", "bullseye"}
    assert upgrade_class(parse_tag(current, names), parse_tag(candidate, names)) == kind
