"""``layerscan recommendations IMAGE`` (and quickview's recommended row): candidates of every
class from the base-image index, each scanned from a real ``docker-registry`` on 127.0.0.1,
ranked.

Two base families are built here, their Python distributions chosen so each candidate has a
different set of PyPA findings; which findings a candidate has is read from the advisory
records (tests/test_remediate_cli.finding_groups) and the ranking rule is checked on the
reported counts.

- "python" on the corpus Debian 12 dpkg status: refresh / patch / minor (and the major and
  slim tags that the tag grammar reaches); tags that do not parse are in the registry too.
- "node" with NODE_VERSION=14.21.3 on the corpus Debian 10 status (buster, end of life per
  the endoflife.date data): 14-bookworm (os, mandatory), 16/22/24-bookworm (major: only the
  lines the data says are supported), 14-slim-bookworm, 14-alpine3.19 on the corpus apk
  database and 14-distroless-bookworm on a corpus ``status.d`` (alternative).
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from imagebuild import CREATED, BuiltImage, LayerSpec, entries_from_directory, file

from test_base_index import APP_LAYER, DEBIAN, debian_layer, image, os_release
from test_cli_gating import PYPA_ZIP, dist
from test_cli_main import run_cli
from test_remediate_cli import EOL_DIR, assert_fits, eol_cycles, expected_eol, finding_groups

from layerscan.remediate.recommend import CLASSES, WEIGHTS
from layerscan.remediate.tags import parse_tag, upgrade_class

FLASK, URLLIB3, REQUESTS = ("flask", "0.12"), ("urllib3", "1.23"), ("requests", "2.19.1")
REPO = "rec/python"
REQUESTS_LAYER = LayerSpec(dist(REQUESTS), created_by="RUN pip install requests==2.19.1 # buildkit")


def runtime_layer(runtime: str, version: str, pkgs: list[tuple[str, str]], flavor: str = "") -> LayerSpec:
    """The runtime's binary and the Python distributions ``pkgs`` (which decide the findings)."""
    binary = {"python": f"usr/local/bin/python{version}", "node": "usr/local/bin/node"}[runtime]
    entries = [file(binary, f"{runtime} {version} {flavor}")] + [e for pkg in pkgs for e in dist(pkg)]
    return LayerSpec(entries, created_by=f"RUN /bin/sh -c build {runtime} {version}{flavor} # buildkit")


def runtime_image(os_layer: LayerSpec, runtime: str, version: str, pkgs: list[tuple[str, str]],
                  flavor: str = "") -> BuiltImage:
    """An OS layer and a runtime layer; ENV <RUNTIME>_VERSION as the official images set it."""
    return image([os_layer, runtime_layer(runtime, version, pkgs, flavor)], env=[f"{runtime.upper()}_VERSION={version}"])


def python_image(corpus: Path, version: str, pkgs: list[tuple[str, str]], flavor: str = "") -> BuiltImage:
    return runtime_image(debian_layer(corpus, "12"), "python", version, pkgs, flavor)


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
    layers = [debian_layer(corpus, "12"), runtime_layer("python", "3.12.1", [FLASK, URLLIB3]), REQUESTS_LAYER,
              APP_LAYER]
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
    assert set(by_class) == {"refresh", "patch", "minor", "major", "alternative"}
    assert len(doc["Recommendations"]) == 5  # 3.x-bookworm, latest and bookworm do not parse
    assert doc["SkippedTags"] == ["3.x-bookworm", "bookworm", "latest"]
    # python 4.0 has no cycle in the data: not known to be unsupported, offered as the newest major
    assert (by_class["major"]["Tag"], by_class["major"]["Digest"]) == ("4.0-bookworm", imgs["major"].manifest_digest)
    assert (by_class["alternative"]["Tag"], by_class["alternative"]["Note"]) == ("3.13-slim-bookworm",
                                                                               "fewer packages")
    assert (by_class["refresh"]["Digest"], by_class["refresh"]["Tag"]) == (imgs["v2"].manifest_digest, "3.12-bookworm")
    assert by_class["refresh"]["Tags"] == ["3.12-bookworm", "3.12.9-bookworm"]
    assert (by_class["patch"]["Digest"], by_class["patch"]["Tag"]) == (imgs["v5"].manifest_digest, "3.12.5-bookworm")
    assert (by_class["minor"]["Digest"], by_class["minor"]["Tag"]) == (imgs["v3"].manifest_digest, "3.13-bookworm")
    # each candidate's findings, from the feed records
    groups = {key: sum(len(finding_groups(corpus, p)) for p in pkgs)
              for key, pkgs in (("refresh", [URLLIB3]), ("patch", [FLASK]), ("minor", []), ("major", []),
                                ("alternative", []))}
    base_total = sum(len(finding_groups(corpus, p)) for p in (FLASK, URLLIB3))
    for kind, r in by_class.items():
        assert r["Vulnerabilities"] == groups[kind], kind
        assert sum(r["DeltaSeverities"].values()) == groups[kind] - base_total
        assert r["From"] == f"FROM {repo}:{r['Tag']}@{r['Digest']}"
    # ranked: passes the policy, then weighted severity, then disruption
    keys = [(not r["PassesPolicy"], sum(WEIGHTS[s] * n for s, n in r["Severities"].items()),
             CLASSES.index(r["Class"])) for r in doc["Recommendations"]]
    assert keys == sorted(keys)
    assert doc["Recommendations"][0]["Class"] == "minor"  # no PyPA findings at all, least disruptive


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


# ---- node: os (mandatory on an EOL OS), major (supported lines), alternative flavours -------

NODE_REPO = "rec/node"
NODE14 = "14.21.3"
APK = "fixtures/apk/trivy-apk-happy-path"
STATUS_D = "fixtures/deb/syft-debian-single-package"
NODE_CANDIDATES = {  # tag -> (class expected, PyPA distributions in the image)
    "14-bookworm": ("os", [URLLIB3]),
    "16-bookworm": ("major", []), "22-bookworm": ("major", [FLASK]), "24-bookworm": ("major", [URLLIB3, FLASK]),
    "14-slim-bookworm": ("alternative", [FLASK, URLLIB3]), "14-alpine3.19": ("alternative", []),
    "14-distroless-bookworm": ("alternative", [FLASK]),
}
NODE_UNPARSED = ["14.x-buster", "99999999999-bookworm", "current-alpine", "latest", "lts-bookworm"]  # sorted


def alpine_layer(corpus: Path) -> LayerSpec:
    entries = entries_from_directory(corpus / APK) + [
        file("etc/os-release", 'NAME="Alpine Linux"\nID=alpine\nVERSION_ID=3.19.1\n')]
    return LayerSpec(entries, created_by="/bin/sh -c #(nop) ADD file:alpine-3.19 in / ")


def distroless_layer(corpus: Path) -> LayerSpec:
    entries = entries_from_directory(corpus / STATUS_D) + [file("etc/os-release", os_release("12"))]
    return LayerSpec(entries, created_by="bazel build //base:static_debian12")


def node_family(corpus: Path) -> dict[str, BuiltImage]:
    """tag -> image; "14-buster" is the base the application is built on."""
    def node(os_layer: LayerSpec, version: str, pkgs: list[tuple[str, str]], flavor: str = "") -> BuiltImage:
        return runtime_image(os_layer, "node", version, pkgs, flavor)

    versions = {"14": NODE14, "16": "16.20.2", "22": "22.11.0", "24": "24.1.0"}
    imgs = {"14-buster": node(debian_layer(corpus, "10"), NODE14, [FLASK, URLLIB3])}
    for tag, (_, pkgs) in NODE_CANDIDATES.items():
        major, *rest = tag.split("-")
        flavor = "-".join(rest[:-1])
        os_layer = (alpine_layer(corpus) if rest[-1].startswith("alpine")
                    else distroless_layer(corpus) if flavor == "distroless" else debian_layer(corpus, "12"))
        imgs[tag] = node(os_layer, versions[major], pkgs, flavor)
    return imgs


@pytest.fixture(scope="module")
def node_rec(corpus: Path, registry, tmp_path_factory: pytest.TempPathFactory):
    for need in (DEBIAN["10"][0], DEBIAN["12"][0], APK, STATUS_D, PYPA_ZIP, EOL_DIR):
        if not (corpus / need).exists():
            pytest.skip(f"corpus {need} is absent")
    work = tmp_path_factory.mktemp("recommend-node")
    imgs = node_family(corpus)
    for tag, img in imgs.items():
        img.push(registry.host, NODE_REPO, tag)
    imgs["14-buster"].push(registry.host, NODE_REPO, f"{NODE14}-buster")  # one digest, two tags
    for tag in NODE_UNPARSED:
        imgs["24-bookworm"].push(registry.host, NODE_REPO, tag)
    base = imgs["14-buster"]
    app = image([debian_layer(corpus, "10"), runtime_layer("node", NODE14, [FLASK, URLLIB3]), REQUESTS_LAYER,
                 APP_LAYER], env=[f"NODE_VERSION={NODE14}"])
    assert app.diff_ids[:2] == base.diff_ids
    app.write_oci_dir(work / "app", "1.0")
    env = {"LAYERSCAN_CACHE_DIR": str(work / "cache")}
    proc = run_cli("db", "import", str(corpus / PYPA_ZIP), str(corpus / EOL_DIR), "-q", cwd=work, env=env)
    assert proc.returncode == 0, proc.stderr
    proc = run_cli("index", "add", f"{registry.host}/{NODE_REPO}", "--insecure", cwd=work, env=env)
    assert proc.returncode == 0, proc.stderr
    return work, f"{registry.host}/{NODE_REPO}", imgs



def node_doc(work: Path, *args: str) -> dict:
    return recommendations(work, *args)


def supported_node_line(corpus: Path, major: str, today: dt.date) -> bool:
    end = eol_cycles(corpus, "nodejs")[major]["eol"]
    return end is False or (isinstance(end, dt.date) and end > today)


def blob_size(img: BuiltImage) -> int:
    return sum(len(layer.blob) for layer in img.layers)


def test_node_classes_supported_majors_mandatory_os_and_alternatives(node_rec, corpus: Path):
    work, repo, imgs = node_rec
    doc = node_doc(work)
    today = dt.date.today()
    assert (doc["BaseImage"]["Level"], doc["BaseImage"]["Tag"]) == ("matched", "14-buster")
    expected = {tag for tag, (kind, _) in NODE_CANDIDATES.items()
                if kind != "major" or supported_node_line(corpus, tag.split("-")[0], today)}
    by_tag = {r["Tag"]: r for r in doc["Recommendations"]}
    assert set(by_tag) == expected, sorted(by_tag)
    assert "16-bookworm" not in by_tag  # node 16 ended in the data long ago
    assert doc["SkippedTags"] == NODE_UNPARSED
    base_total = sum(len(finding_groups(corpus, p)) for p in (FLASK, URLLIB3))
    for tag, r in by_tag.items():
        kind, pkgs = NODE_CANDIDATES[tag]
        groups = sum(len(finding_groups(corpus, p)) for p in pkgs)
        assert (r["Class"], r["Digest"]) == (kind, imgs[tag].manifest_digest), tag
        assert r["Vulnerabilities"] == groups and sum(r["DeltaSeverities"].values()) == groups - base_total, tag
        assert r["Size"] == blob_size(imgs[tag]), tag  # from the manifest's layer descriptors
        assert r["SizeDelta"] == blob_size(imgs[tag]) - blob_size(imgs["14-buster"]), tag
        assert (r["Created"], r["AgeDays"]) == (CREATED, (today - dt.date.fromisoformat(CREATED[:10])).days)
        assert r["From"] == f"FROM {repo}:{tag}@{r['Digest']}"
    buster_eol = expected_eol(corpus, "debian", "10", True)[0]
    assert by_tag["14-bookworm"]["Mandatory"] is buster_eol
    assert by_tag["14-bookworm"]["Note"] == ("debian 10 is end of life" if buster_eol else "")
    notes = {tag: by_tag[tag]["Note"] for tag in ("14-slim-bookworm", "14-alpine3.19", "14-distroless-bookworm")}
    assert notes == {"14-slim-bookworm": "fewer packages", "14-alpine3.19": "musl libc",
                     "14-distroless-bookworm": "no shell or package manager"}
    # the candidate's own OS end of life, from its scan (Alpine 3.19 per the data)
    assert by_tag["14-alpine3.19"]["OSEndOfLife"] is expected_eol(corpus, "alpine-linux", "3.19", False)[0]
    keys = [(not r["PassesPolicy"], sum(WEIGHTS[s] * n for s, n in r["Severities"].items()),
             CLASSES.index(r["Class"]), r["Size"]) for r in doc["Recommendations"]]
    assert keys == sorted(keys)


def test_node_policy_gate_ranks_passing_candidates_first(node_rec):
    work, _, _ = node_rec
    doc = node_doc(work, "--exit-code", "1")
    ranked = doc["Recommendations"]
    assert {r["PassesPolicy"] for r in ranked} == {True, False}
    assert all(r["PassesPolicy"] is (r["Vulnerabilities"] == 0) for r in ranked)
    passes = [r["PassesPolicy"] for r in ranked]
    assert passes == sorted(passes, reverse=True)


def test_node_table_flags_the_mandatory_os_upgrade(node_rec, corpus: Path):
    work, repo, imgs = node_rec
    proc = run_cli("recommendations", "--input", "app", "--insecure", "--skip-db-update", cwd=work,
                   env={"LAYERSCAN_CACHE_DIR": str(work / "cache")})
    assert proc.returncode == 0, proc.stderr
    text = proc.stdout
    assert_fits("\n".join(line for line in text.splitlines() if not line.startswith("   FROM ")))  # kept whole
    if expected_eol(corpus, "debian", "10", True)[0]:
        assert "   ! mandatory: debian 10 is end of life" in text.splitlines()
    assert any(line.startswith("            5 tags skipped, no version: 14.x-buster, 99999999999-bookworm")
               for line in text.splitlines())
    assert f"   FROM {repo}:14-alpine3.19@{imgs['14-alpine3.19'].manifest_digest}" in text.splitlines()
    assert "musl libc" in text and "size " in text and " days" in text


def test_quickview_shows_the_best_candidate_and_its_delta(node_rec):
    work, repo, _ = node_rec
    best = node_doc(work)["Recommendations"][0]
    env = {"LAYERSCAN_CACHE_DIR": str(work / "cache")}
    proc = run_cli("quickview", "--input", "app", "--insecure", "--skip-db-update", "-f", "json", cwd=work, env=env)
    assert proc.returncode == 0, proc.stderr
    rec = json.loads(proc.stdout)["Recommended"]
    assert rec["Available"] is True
    assert (rec["Tag"], rec["Digest"], rec["Delta"], rec["Class"]) == (best["Tag"], best["Digest"], best["Delta"],
                                                                        best["Class"])
    proc = run_cli("quickview", "--input", "app", "--insecure", "--skip-db-update", cwd=work, env=env)
    assert proc.returncode == 0, proc.stderr
    assert_fits(proc.stdout)
    lines = proc.stdout.splitlines()
    row = next(n for n, line in enumerate(lines) if line.startswith("  Recommended"))
    assert lines[row].split()[1] == f"{repo}:{best['Tag']}"
    assert lines[row + 1].strip().endswith(f"delta {best['Delta']}")


def test_candidates_keep_the_mandatory_os_upgrade_under_the_cap():
    from layerscan.db.records import IndexEntry
    from layerscan.remediate.base import BaseImage
    from layerscan.remediate.recommend import MAX_CANDIDATES, Context, candidates

    def row(tag: str, n: int) -> IndexEntry:
        return IndexEntry(f"sha256:{n:064x}", 2, "r/node", tag, f"sha256:{n:064x}", "", "linux/amd64", "", "")

    tags = ["14-buster"] + [f"14.{m}.0-buster" for m in range(1, 20)] + ["14-bookworm", "nonsense-", "-"]
    rows = [row(t, n) for n, t in enumerate(tags)]
    base = BaseImage("matched", "r/node", "14-buster", rows[0].digest, 2, platform="linux/amd64")
    ctx = Context({"buster": ("debian", (10,)), "bookworm": ("debian", (12,))}, os_eol="debian 10")
    found = candidates(base, rows, (), ctx)
    assert len(found) == MAX_CANDIDATES
    assert (found[0].kind, found[0].entry.tag, found[0].mandatory) == ("os", "14-bookworm", True)
    assert {c.kind for c in found[1:]} == {"minor"}


@pytest.mark.parametrize("current, candidate, newer", [
    ("14-buster", "14-bookworm", True), ("14-bookworm", "14-buster", False), ("14-bookworm", "14-bookworm", False),
    ("14-alpine3.18", "14-alpine3.19", True), ("14-alpine3.19", "14-alpine3.9", False),
    ("14-alpine", "14-alpine3.19", None), ("14-buster", "14-alpine3.19", None), ("14", "14-bookworm", None),
    ("14-buster", "14-noble", None),
])
def test_os_order(current: str, candidate: str, newer):
    from layerscan.remediate.tags import newer_os

    ranks = {"buster": ("debian", (10,)), "bookworm": ("debian", (12,))}
    names = set(ranks) | {"noble"}
    assert newer_os(parse_tag(current, names), parse_tag(candidate, names), ranks) is newer


@pytest.mark.parametrize("tag, kind", [
    ("14-slim-bookworm", "slim"), ("14-alpine3.19", "alpine"), ("14-alpine", "alpine"),
    ("14-distroless-bookworm", "distroless"), ("14-bookworm", ""), ("14-slimmer-bookworm", ""),
])
def test_variants(tag: str, kind: str):
    from layerscan.remediate.tags import variant

    assert variant(parse_tag(tag, {"bookworm"})) == kind
