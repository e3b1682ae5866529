"""The base-image index (``layerscan index add|update|list``, ``db import`` of its dump) and
the ``matched`` base identification level, on a real ``docker-registry`` on 127.0.0.1.

The registry holds a small family built here (tests/imagebuild.py) from real dpkg status
files of the corpus: ``base/debian`` tags 9, 10, 12 and bookworm (12 and bookworm one digest),
and ``base/python:3.12-bookworm`` on top of debian 12. Application images are built on them as
OCI layouts. Chain IDs are computed here from the diff_ids as the OCI image spec defines them;
digests are the ones pushed (skopeo --preserve-digests). Then debian 12 and bookworm are
rebuilt and pushed again: an app still on the old digest is told "tag has moved".

Hostile registries (a small http.server): a tag list that paginates forever, one whose next
link points back at itself, tags that are not valid tags; and a dump with broken lines.
"""

from __future__ import annotations

import hashlib
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from imagebuild import BuiltImage, LayerSpec, build_image, entries_from_directory, file

from test_cli_main import run_cli

DEBIAN = {  # tag -> (corpus dpkg fixture, os-release VERSION_ID)
    "9": ("fixtures/deb/real-debian9-stretch-image", "9"),
    "10": ("fixtures/deb/scalibr-dpkg-transitional-packages-should-be-annotated", "10"),
    "12": ("fixtures/deb/scalibr-dpkg-valid-status-file", "12"),
}
PYTHON_TAG = "3.12-bookworm"


def os_release(version: str) -> str:
    return f'NAME="Debian GNU/Linux"\nVERSION_ID="{version}"\nID=debian\n'


def spec_chain_id(diff_ids: list[str]) -> str:
    """ChainID(L0|...|Ln) = sha256(ChainID(L0|...|Ln-1) + " " + DiffID(Ln)) (OCI image spec)."""
    chain = diff_ids[0]
    for diff_id in diff_ids[1:]:
        chain = "sha256:" + hashlib.sha256(f"{chain} {diff_id}".encode()).hexdigest()
    return chain


def debian_layer(corpus: Path, tag: str, point_release: str = "") -> LayerSpec:
    fixture, version = DEBIAN[tag]
    entries = entries_from_directory(corpus / fixture) + [file("etc/os-release", os_release(version))]
    if point_release:
        entries.append(file("etc/debian_version", point_release + "\n"))
    return LayerSpec(entries, created_by=f"/bin/sh -c #(nop) ADD file:debian-{tag}{point_release} in / ")


PYTHON_LAYER = LayerSpec([file("usr/local/bin/python3.12", b"\x7fELF python"),
                          file("usr/local/lib/python3.12/os.py", "# os\n")],
                         created_by="RUN /bin/sh -c set -eux; ./configure && make install # buildkit")
APP_LAYER = LayerSpec([file("app/main.py", "print('hello')\n")], created_by="COPY app /app # buildkit")


def image(layers: list[LayerSpec], env: list[str] | None = None) -> BuiltImage:
    return build_image(layers, empty_steps={len(layers): ['CMD ["bash"]']}, env=env)


class Family:
    def __init__(self, corpus: Path, host: str) -> None:
        self.host = host
        self.debian = {tag: image([debian_layer(corpus, tag)]) for tag in DEBIAN}
        self.python = image([debian_layer(corpus, "12"), PYTHON_LAYER], env=["PYTHON_VERSION=3.12.1"])
        self.debian12_next = image([debian_layer(corpus, "12", "12.5")])  # the rebuilt 12 / bookworm

    def repo(self, name: str) -> str:
        return f"{self.host}/base/{name}"


def cli(work: Path, *args: str, cache: str = "cache", code: int = 0) -> tuple[str, str]:
    proc = run_cli(*args, cwd=work, env={"LAYERSCAN_CACHE_DIR": str(work / cache)})
    assert proc.returncode == code, proc.stderr
    assert "Traceback" not in proc.stderr
    return proc.stdout, proc.stderr


def index_list(work: Path, cache: str = "cache") -> list[dict]:
    return json.loads(cli(work, "index", "list", "-f", "json", cache=cache)[0])


def quickview(work: Path, target: str, cache: str = "cache") -> dict:
    out, _ = cli(work, "quickview", "--input", target, "--skip-db-update", "-f", "json", cache=cache)
    return json.loads(out)


@pytest.fixture(scope="module")
def family(corpus: Path, registry, tmp_path_factory: pytest.TempPathFactory) -> tuple[Family, Path]:
    for fixture, _ in DEBIAN.values():
        if not (corpus / fixture).is_dir():
            pytest.skip(f"corpus {fixture} is absent")
    work = tmp_path_factory.mktemp("baseindex")
    fam = Family(corpus, registry.host)
    for tag, img in fam.debian.items():
        img.push(registry.host, "base/debian", tag)
    fam.debian["12"].push(registry.host, "base/debian", "bookworm")
    fam.python.push(registry.host, "base/python", PYTHON_TAG)
    image([debian_layer(corpus, "12"), APP_LAYER]).write_oci_dir(work / "app-on-12", "1.0")
    image([debian_layer(corpus, "12"), PYTHON_LAYER, APP_LAYER]).write_oci_dir(work / "app-on-python", "1.0")
    image([debian_layer(corpus, "10"), APP_LAYER]).write_oci_dir(work / "app-on-10", "1.0")
    image([APP_LAYER]).write_oci_dir(work / "unrelated", "1.0")
    _, err = cli(work, "index", "add", fam.repo("debian"), fam.repo("python"), "--insecure")
    (work / "add.stderr").write_text(err)
    return fam, work


def test_index_holds_chain_ids_and_digests_of_every_tag(family):
    fam, work = family
    entries = index_list(work)
    by_tag = {(e["repo"], e["tag"]): e for e in entries}
    expected = {(fam.repo("debian"), tag): img for tag, img in fam.debian.items()}
    expected[(fam.repo("debian"), "bookworm")] = fam.debian["12"]
    expected[(fam.repo("python"), PYTHON_TAG)] = fam.python
    assert set(by_tag) == set(expected)
    for key, img in expected.items():
        entry = by_tag[key]
        assert entry["chain_id"] == spec_chain_id(img.diff_ids)
        assert entry["layers"] == len(img.diff_ids)
        assert entry["digest"] == img.manifest_digest == entry["manifest"]
        assert entry["platform"] == "linux/amd64"
        assert entry["current"] is True and entry["first_seen"] == entry["last_seen"]
    # 12 and bookworm are one digest: fetched once; manifests and configs only
    assert "base/debian: 4 tags, 4 current images; 4 HEAD, 3 new digests (3 manifests, 3 configs read, " \
           "no layer blobs)" in (work / "add.stderr").read_text()


def test_matched_level_names_the_immediate_base(family):
    fam, work = family
    doc = quickview(work, "app-on-10")
    base = doc["BaseImage"]
    assert (base["Level"], base["Name"], base["Tag"]) == ("matched", fam.repo("debian"), "10")
    assert base["Digest"] == fam.debian["10"].manifest_digest and base["Layers"] == 1
    assert base["TagMoved"] is False
    # the deepest hit is the immediate base; debian 12 below it is the hierarchy
    base = quickview(work, "app-on-python")["BaseImage"]
    assert (base["Level"], base["Name"], base["Tag"], base["Layers"]) == ("matched", fam.repo("python"),
                                                                         PYTHON_TAG, 2)
    assert base["Digest"] == fam.python.manifest_digest
    assert [h.split("@")[0] for h in base["Hierarchy"]] == [f"{fam.repo('debian')}:12"]
    # no index hit: the ladder goes on to the history boundary
    assert quickview(work, "unrelated")["BaseImage"]["Level"] != "matched"


def test_update_fetches_only_new_digests_and_says_tag_has_moved(family):
    fam, work = family
    before = {(e["tag"], e["digest"]) for e in index_list(work) if e["repo"] == fam.repo("debian")}
    for tag in ("12", "bookworm"):
        fam.debian12_next.push(fam.host, "base/debian", tag)
    _, err = cli(work, "index", "update", "--insecure")
    assert "base/debian: 4 tags, 4 current images; 4 HEAD, 1 new digests (1 manifests, 1 configs read, " \
           "no layer blobs); moved: 12, bookworm" in err
    assert "base/python: 1 tags, 1 current images; 1 HEAD, 0 new digests (0 manifests, 0 configs" in err
    entries = [e for e in index_list(work) if e["repo"] == fam.repo("debian")]
    new = fam.debian12_next.manifest_digest
    assert {(e["tag"], e["digest"]) for e in entries} == before | {("12", new), ("bookworm", new)}
    old12 = [e for e in entries if e["digest"] == fam.debian["12"].manifest_digest]
    assert old12 and all(not e["current"] for e in old12)
    assert all(e["current"] for e in entries if e["digest"] == new)

    proc = run_cli("quickview", "--input", "app-on-12", "--skip-db-update", cwd=work,
                   env={"LAYERSCAN_CACHE_DIR": str(work / "cache")})
    assert proc.returncode == 0 and "Traceback" not in proc.stderr
    assert "tag has moved: refresh available" in proc.stdout
    assert f"now @{new}" in proc.stdout
    assert all(len(line) <= 80 for line in proc.stdout.splitlines())
    base = quickview(work, "app-on-12")["BaseImage"]
    assert base["Level"] == "matched" and base["Digest"] == fam.debian["12"].manifest_digest
    assert base["TagMoved"] is True and base["CurrentDigest"] == new
    # an app on an unchanged tag is not told anything
    assert quickview(work, "app-on-10")["BaseImage"]["TagMoved"] is False


def test_dump_imports_air_gapped(family):
    fam, work = family
    dump, _ = cli(work, "index", "list", "-f", "jsonl")
    (work / "index.jsonl").write_text(dump)
    cli(work, "db", "import", "index.jsonl", cache="airgapped")
    assert index_list(work, cache="airgapped") == index_list(work)
    base = quickview(work, "app-on-python", cache="airgapped")["BaseImage"]
    assert (base["Level"], base["Tag"]) == ("matched", PYTHON_TAG)


def test_dump_with_broken_lines_keeps_the_good_ones(family, tmp_path: Path):
    fam, work = family
    good = cli(work, "index", "list", "-f", "jsonl", "--repo", fam.repo("python"))[0].splitlines()
    assert len(good) == 1
    first = json.loads(good[0])
    broken = [dict(first, chain_id="sha256:xyz"), dict(first, tag="not a tag!"), dict(first, layers=-1),
              dict(first, repo="../../etc"), dict(first, last_seen="yesterday")]
    text = good[0] + "\n" + "\n".join(json.dumps(b) for b in broken) + "\n{not json\n" + "[" * 100000 + "\n"
    (tmp_path / "index.jsonl").write_text(text)
    proc = run_cli("db", "import", "index.jsonl", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "base-index: 7 malformed record(s) skipped" in proc.stderr
    assert [e["tag"] for e in index_list(tmp_path)] == [PYTHON_TAG]


# ---- hostile registries ---------------------------------------------------------------------

class FakeRegistry:
    """/v2/ answers; tag lists: ``forever`` links to a new page every time, ``loop`` links back
    to itself; every page lists a valid tag and a tag that is not valid. Manifests are 404."""

    def __init__(self) -> None:
        self.pages = 0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_HEAD(self) -> None:  # noqa: N802 - http.server API
                self._answer(404, b"")

            def do_GET(self) -> None:  # noqa: N802
                url = urlsplit(self.path)
                if url.path == "/v2/":
                    return self._answer(200, b"{}")
                repo = url.path.removeprefix("/v2/").removesuffix("/tags/list")
                if not url.path.endswith("/tags/list"):
                    return self._answer(404, b"")
                outer.pages += 1
                page = int(parse_qs(url.query).get("last", ["0"])[0])
                link = f"</v2/{repo}/tags/list?n=2&last={page + 1}>" if repo == "evil/forever" \
                    else f"<{self.path}>"
                self._answer(200, json.dumps({"name": repo, "tags": ["1.0", "bad tag!"]}).encode(),
                             {"Link": f'{link}; rel="next"'})

            def _answer(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
                self.send_response(status)
                for key, value in {"Content-Type": "application/json", **(headers or {})}.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.host = f"127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture(scope="module")
def fake_registry():
    fake = FakeRegistry()
    yield fake
    fake.server.shutdown()
    fake.server.server_close()


@pytest.mark.parametrize("repo, warning", [("evil/forever", "the tag list has more than 50 pages"),
                                           ("evil/loop", "links back to a page already read")])
def test_endless_tag_lists_are_cut_off(fake_registry, tmp_path: Path, repo: str, warning: str):
    start = fake_registry.pages
    proc = run_cli("index", "add", f"{fake_registry.host}/{repo}", "--insecure", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    assert warning in proc.stderr and "stopped at 2 tags" in proc.stderr
    assert fake_registry.pages - start <= 50
    assert "tag 'bad tag!' is not a valid tag: skipped" in proc.stderr
    assert f"{repo}:1.0: not indexed:" in proc.stderr


@pytest.mark.parametrize("name", ["127.0.0.1:1/base/debian@sha256:" + "0" * 64, "UPPER/case", "a" * 2000])
def test_bad_repository_names_are_usage_errors(tmp_path: Path, name: str):
    proc = run_cli("index", "add", name, cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.startswith("layerscan: error: index add") and "Traceback" not in proc.stderr


def test_update_of_an_empty_index_says_what_to_do(tmp_path: Path):
    proc = run_cli("index", "update", cwd=tmp_path)
    assert proc.returncode == 2 and "index add REPO" in proc.stderr


# ---- the index inside the database file -----------------------------------------------------

def db_status(work: Path, cache: str) -> dict:
    return json.loads(cli(work, "db", "status", "--json", cache=cache)[0])


def test_index_runs_keep_the_advisory_data_and_its_age(family, corpus: Path):
    fam, work = family
    cli(work, "db", "import", str(corpus / "feeds/endoflife-date"), "-q", cache="withdata")
    before = db_status(work, "withdata")
    cli(work, "index", "add", f"{fam.repo('debian')}:10", "--insecure", cache="withdata")
    after = db_status(work, "withdata")
    assert after["built_at"] == before["built_at"]  # the advisories are as old as they were
    assert after["sources"]["eol"]["rows"] == before["sources"]["eol"]["rows"]
    assert after["sources"][f"index:{fam.repo('debian')}"]["rows"] == 1
    assert [e["tag"] for e in index_list(work, cache="withdata")] == ["10"]


def test_schema_1_file_is_refused_by_scans_and_reused_by_the_next_build(family, corpus: Path):
    import sqlite3

    fam, work = family
    cli(work, "db", "import", str(corpus / "feeds/endoflife-date"), "-q", cache="old")
    rows = db_status(work, "old")["sources"]["eol"]["rows"]
    path = work / "old" / "db" / "layerscan.db"
    with sqlite3.connect(path) as conn:  # what a layerscan before the index wrote
        conn.execute("DROP TABLE base_index")
        conn.execute("PRAGMA user_version = 1")
    proc = run_cli("quickview", "--input", "app-on-10", "--skip-db-update", cwd=work,
                   env={"LAYERSCAN_CACHE_DIR": str(work / "old")})
    assert proc.returncode == 3 and "old schema 1" in proc.stderr and "db update" in proc.stderr
    assert "Traceback" not in proc.stderr
    cli(work, "index", "add", f"{fam.repo('debian')}:10", "--insecure", cache="old")
    status = db_status(work, "old")
    assert status["schema_version"] == 2
    assert status["sources"]["eol"]["status"] == "kept" and status["sources"]["eol"]["rows"] == rows > 0
    assert quickview(work, "app-on-10", cache="old")["BaseImage"]["Level"] == "matched"


def test_index_reads_no_layer_blob(corpus: Path, tmp_path: Path):
    """On a registry of its own whose layer blobs were deleted from storage: the index is still
    built (manifests and configs only), while pulling the image itself fails."""
    import shutil as _shutil

    from registry import start_registry

    if _shutil.which("docker-registry") is None or not (corpus / DEBIAN["10"][0]).is_dir():
        pytest.skip("docker-registry or the corpus fixture is absent")
    server = start_registry()
    try:
        img = image([debian_layer(corpus, "10"), APP_LAYER])
        img.push(server.host, "bare/debian", "10")
        blobs = server.workdir / "storage" / "docker" / "registry" / "v2" / "blobs" / "sha256"
        for layer in img.layers:
            hexpart = layer.digest.split(":")[1]
            _shutil.rmtree(blobs / hexpart[:2] / hexpart)
        _, err = cli(tmp_path, "index", "add", f"{server.host}/bare/debian", "--insecure")
        assert "1 new digests (1 manifests, 1 configs read, no layer blobs)" in err
        [entry] = index_list(tmp_path)
        assert entry["chain_id"] == spec_chain_id(img.diff_ids) and entry["layers"] == 2
        proc = run_cli("image", f"{server.host}/bare/debian:10", "--insecure", "--scanners", "none", cwd=tmp_path)
        assert proc.returncode != 0  # the layers really are gone
    finally:
        server.stop()


def test_multi_platform_tag_is_indexed_per_platform(family, corpus: Path):
    from imagebuild import build_index

    fam, work = family
    # the same layers on both platforms (one chain ID): the image's own platform picks the row
    layers = [debian_layer(corpus, "10"), LayerSpec([file("etc/motd", "hello\n")])]
    per_arch = {arch: build_image(layers, architecture=arch) for arch in ("amd64", "arm64")}
    index = build_index(list(per_arch.values()))
    index.push(fam.host, "multi/debian", "10")
    cli(work, "index", "add", f"{fam.host}/multi/debian", "--insecure", cache="multi")
    entries = index_list(work, cache="multi")
    assert sorted((e["platform"], e["manifest"], e["chain_id"]) for e in entries) == sorted(
        (f"linux/{arch}", img.manifest_digest, spec_chain_id(img.diff_ids)) for arch, img in per_arch.items())
    assert {e["digest"] for e in entries} == {index.digest}
    assert len({e["chain_id"] for e in entries}) == 1
    for arch in per_arch:
        build_image(layers + [APP_LAYER], architecture=arch).write_oci_dir(work / f"app-{arch}", "1.0")
        base = quickview(work, f"app-{arch}", cache="multi")["BaseImage"]
        assert (base["Level"], base["Digest"], base["Layers"]) == ("matched", index.digest, 2)
        assert base["Platform"] == f"linux/{arch}"
