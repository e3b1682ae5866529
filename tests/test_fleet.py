"""Fleet on real PostgreSQL (tests/pg.py), a real registry (tests/registry.py) and the real CLI:
`layerscan server` and `layerscan worker` in separate processes, images pushed by the tests, a
vulnerability database imported from real OSV records (examples/feeds) in two generations."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from conftest_paths import ROOT
from imagebuild import LayerSpec, build_image, file, sample_layers
from registry import free_port

psycopg = pytest.importorskip("psycopg", reason="the 'server' extra is not installed")

FEEDS = ROOT / "examples" / "feeds"
ADDED = "PYSEC-2019-132.yaml"  # urllib3 < 1.24.3 (CVE-2019-11236): only in the second generation
WITHDRAWN = "PYSEC-2019-217.yaml"  # jinja2 < 2.10.1 (CVE-2019-10906): only in the first
SHARED_CVE = "CVE-2019-11324"  # urllib3 < 1.24.2, in the shared layer
URLLIB3_LAYER = 4


def dist_info(name: str, version: str) -> list:
    meta = f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"
    return [file(f"usr/lib/python3/dist-packages/{name}-{version}.dist-info/METADATA", meta)]


def fleet_images() -> dict[str, object]:
    """Two images on one base: Debian layers + urllib3 1.24.1; then jinja2 2.10 or 2.11.0."""
    base = sample_layers() + [LayerSpec(dist_info("urllib3", "1.24.1"), created_by="RUN pip install urllib3==1.24.1")]
    return {name: build_image(base + [LayerSpec(dist_info("jinja2", version), created_by=f"RUN pip install "
                                                f"jinja2=={version}")])
            for name, version in (("a", "2.10"), ("b", "2.11.0"))}


def feeds_dir(target: Path, without: str) -> Path:
    target.mkdir(parents=True)
    for entry in FEEDS.iterdir():
        if entry.name != without and entry.is_file():
            shutil.copy(entry, target / entry.name)
    return target


def run_cli(*args: str, **kw: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "layerscan.cli.main", *args], capture_output=True, text=True,
                          timeout=120, **kw)  # type: ignore[call-overload]


def import_db(cache: Path, feeds: Path) -> None:
    done = run_cli("db", "import", str(feeds), "--cache-dir", str(cache), "-q")
    assert done.returncode == 0, done.stderr


def create_token(database: str, scope: str) -> str:
    done = run_cli("server", "token", "create", "--scope", scope, "--database", database)
    assert done.returncode == 0 and "not shown again" in done.stderr, done.stderr
    return done.stdout.strip()


@dataclass
class Http:
    base: str
    token: str = ""

    def call(self, method: str, path: str, body: object = None, token: str | None = None) -> tuple[int, dict]:
        data = None if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
        token = self.token if token is None else token
        req = urllib.request.Request(self.base + path, data=data, method=method,
                                     headers={"Content-Type": "application/json",
                                              **({"Authorization": f"Bearer {token}"} if token else {})})
        try:
            with urllib.request.urlopen(req, timeout=30) as resp:
                return resp.status, json.loads(resp.read())
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read() or b"{}")

    def get(self, path: str) -> dict:
        status, doc = self.call("GET", path)
        assert status == 200, doc
        conforms(path, "get", status, doc)
        return doc


def conforms(path: str, method: str, status: int, doc: object) -> None:
    """``doc`` is what the checked-in OpenAPI document says this endpoint answers."""
    import jsonschema

    from layerscan.fleet.api import openapi_document

    spec = openapi_document()
    route = urllib.parse.urlsplit(path).path
    for template, operations in spec["paths"].items():
        pattern = "^" + "[^/]+".join(re.escape(part) for part in re.split(r"\{[^}]+\}", template)) + "$"
        if re.match(pattern, route) and method in operations:
            schema = operations[method]["responses"][str(status)]["content"]["application/json"]["schema"]
            jsonschema.validate(doc, {**schema, "components": spec["components"]})
            return
    raise AssertionError(f"{method.upper()} {route} is not in the OpenAPI document")


def start(args: list[str], log: Path) -> subprocess.Popen:
    with open(log, "wb") as out:
        return subprocess.Popen([sys.executable, "-m", "layerscan.cli.main", *args], stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def wait_for(what: str, check, logs: list[Path], timeout: float = 180.0):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.3)
    tails = "\n".join(f"--- {log.name}\n{log.read_text(errors='replace')[-3000:]}" for log in logs if log.exists())
    pytest.fail(f"timed out waiting for {what}\n{tails}")


@dataclass
class Fleet:
    http: Http
    database: str
    cache: Path
    work: Path
    refs: dict[str, str]
    logs: list[Path]


@pytest.fixture
def fleet(pg_database: str, registry, tmp_path: Path) -> Iterator[Fleet]:  # registry: tests/registry.py
    cache = tmp_path / "cache"
    import_db(cache, feeds_dir(tmp_path / "gen1", without=ADDED))
    refs = {}
    for name, image in fleet_images().items():
        image.push(registry.host, f"fleet/{name}", "1.0")  # type: ignore[attr-defined]
        refs[name] = f"{registry.host}/fleet/{name}:1.0"
    port = free_port()
    common = ["--database", pg_database, "--cache-dir", str(cache), "--insecure"]
    logs = [tmp_path / "server.log", tmp_path / "worker.log"]
    token = create_token(pg_database, "write")  # applies the migrations first, as the server would
    server = start(["server", "--port", str(port), *common], logs[0])
    worker = None
    try:
        http = Http(f"http://127.0.0.1:{port}", token)

        def up() -> bool:
            if server.poll() is not None:
                pytest.fail(f"server exited: {logs[0].read_text(errors='replace')[-3000:]}")
            try:
                return http.call("GET", "/summary")[0] == 200
            except OSError:
                return False
        wait_for("the server", up, logs, 60)
        worker = start(["worker", *common], logs[1])  # a separate process: the server runs no jobs itself
        yield Fleet(http, pg_database, cache, tmp_path, refs, logs)
    finally:
        if worker:
            stop(worker)
        stop(server)


def affected(fleet: Fleet, vuln_id: str) -> dict[str, tuple]:
    doc = fleet.http.get(f"/vulnerabilities/{vuln_id}/images?limit=50")
    return {next(r for r in item["refs"]): (item["package"], item["version"], item["layer_index"],
                                            item["fixed_version"]) for item in doc["items"]}


def test_two_images_one_base_then_a_new_generation(fleet: Fleet) -> None:
    http = fleet.http
    status, submitted = http.call("POST", "/images", {"refs": [fleet.refs["a"], fleet.refs["b"]]})
    assert status == 202 and [r["status"] for r in submitted["results"]] == ["queued", "queued"]
    conforms("/images", "post", status, submitted)
    wait_for("both images stored", lambda: http.get("/images")["total"] == 2, fleet.logs)

    # packages are stored once fleet-wide: the shared base's rows point at the same package
    with psycopg.connect(fleet.database) as conn:
        rows = conn.execute("SELECT p.purl, count(*) FROM packages p JOIN image_packages ip ON ip.package_id = p.id"
                            " GROUP BY p.purl").fetchall()
        counts = dict(rows)
        assert counts["pkg:pypi/urllib3@1.24.1"] == 2
        assert counts["pkg:pypi/jinja2@2.10"] == 1 and counts["pkg:pypi/jinja2@2.11.0"] == 1
        distinct = conn.execute("SELECT count(*) FROM packages").fetchone()[0]
        assert distinct == len(counts)
        shared = [purl for purl, n in counts.items() if n == 2]
        assert len(shared) == distinct - 2  # everything but the two jinja2 versions is shared

    hits = affected(fleet, SHARED_CVE)
    assert hits == {fleet.refs["a"]: ("urllib3", "1.24.1", URLLIB3_LAYER, "1.24.2"),
                    fleet.refs["b"]: ("urllib3", "1.24.1", URLLIB3_LAYER, "1.24.2")}
    first = http.get(f"/vulnerabilities/{SHARED_CVE}/images")["items"][0]
    assert first["created_by"] == "RUN pip install urllib3==1.24.1" and first["severity"]
    # an alias finds the same rows; pagination keeps the count of images
    assert http.get("/vulnerabilities/GHSA-mh33-7rrq-662w/images")["total"] == 2
    page = http.get(f"/vulnerabilities/{SHARED_CVE}/images?limit=1&offset=1")
    assert page["total"] == 2 and len(page["items"]) == 1
    assert affected(fleet, "CVE-2019-10906") == {fleet.refs["a"]: ("jinja2", "2.10", 5, "2.10.1")}
    assert affected(fleet, "CVE-2019-11236") == {}

    quoted = urllib.parse.quote("pkg:pypi/urllib3@1.24.1", safe="")
    by_package = http.get(f"/packages/{quoted}/images")
    assert by_package["total"] == 2 and {i["layer_index"] for i in by_package["items"]} == {URLLIB3_LAYER}
    assert http.get(f"/packages/{urllib.parse.quote('pkg:pypi/jinja2', safe='')}/images")["total"] == 2
    summary = http.get("/summary")
    assert summary["images"] == 2 and summary["generation"] == 1 and summary["packages"] == distinct

    # resubmitting a stored image by digest does not queue a scan
    digest = next(i["digest"] for i in http.get("/images")["items"] if fleet.refs["a"] in i["refs"])
    assert digest == fleet_images()["a"].manifest_digest  # type: ignore[attr-defined]
    name = fleet.refs["a"].rsplit(":", 1)[0]
    status, again = http.call("POST", "/images", {"ref": f"{name}@{digest}"})
    assert status == 202 and again["results"][0]["status"] == "stored"

    # second generation: one advisory added (urllib3), one withdrawn (jinja2); the worker re-matches
    import_db(fleet.cache, feeds_dir(fleet.work / "gen2", without=WITHDRAWN))
    status, _ = http.call("POST", "/rematch")
    assert status == 202
    wait_for("generation 2", lambda: http.get("/summary")["generation"] == 2, fleet.logs)
    assert affected(fleet, "CVE-2019-11236") == {fleet.refs["a"]: ("urllib3", "1.24.1", URLLIB3_LAYER, "1.24.3"),
                                                 fleet.refs["b"]: ("urllib3", "1.24.1", URLLIB3_LAYER, "1.24.3")}
    assert affected(fleet, "CVE-2019-10906") == {}
    assert affected(fleet, SHARED_CVE) == hits  # unchanged
    with psycopg.connect(fleet.database) as conn:
        keys, packages = conn.execute("SELECT keys_changed, packages FROM generations WHERE id = 2").fetchone()
        events = conn.execute("SELECT count(*) FROM webhook_outbox").fetchone()[0]
    assert (keys, packages) == (2, 3)  # PyPI/urllib3 and PyPI/jinja2; the three packages under them
    assert events == 0  # no webhook endpoint: nothing is written to the outbox


def test_api_refuses_bad_input(fleet: Fleet) -> None:
    http = fleet.http
    for body in (b"not json", {"ref": 5}, {"refs": []}, {"ref": "UPPER/Case:1"}, {"refs": ["a"] * 101}):
        status, doc = http.call("POST", "/images", body)
        assert status == 400 and doc["error"], body
        conforms("/images", "post", status, doc)
    status, doc = http.call("POST", "/images", b'{"refs": ["' + b"a" * (1 << 20) + b'"]}')
    assert status == 413 and "larger than" in doc["error"]
    conforms("/images", "post", status, doc)
    assert http.call("GET", "/images?limit=abc")[0] == 400
    assert http.call("GET", "/images?limit=100000")[0] == 400
    assert http.call("GET", "/packages/not-a-purl/images")[0] == 400
    assert http.get("/vulnerabilities/CVE-0000-0000/images") == {"vulnerability": "CVE-0000-0000", "total": 0,
                                                                 "limit": 100, "offset": 0, "items": []}
    spec = http.get("/openapi.json")
    assert spec["openapi"].startswith("3.1") and "/vulnerabilities/{vuln_id}/images" in spec["paths"]


def test_api_tokens_and_scopes(fleet: Fleet) -> None:
    http = fleet.http
    read = create_token(fleet.database, "read")
    assert read.startswith("lsk_") and read != http.token
    for method, path in (("GET", "/summary"), ("GET", "/images"), ("POST", "/images"), ("POST", "/rematch"),
                         ("GET", f"/vulnerabilities/{SHARED_CVE}/images")):
        for bad in ("", "lsk_0123456789abcdef_wrong", read[:-1] + ("A" if read[-1] != "A" else "B"), "lsk_",
                    "x" * 5000, "lsk_" + "z" * 16 + "_" + read.rsplit("_", 1)[-1]):
            status, doc = http.call(method, path, {"ref": fleet.refs["a"]} if method == "POST" else None, token=bad)
            assert status == 401 and doc["error"], (method, path, bad[:20])
            conforms(path, method.lower(), status, doc)
    req = urllib.request.Request(http.base + "/summary", headers={"Authorization": "Basic dXNlcjpwYXNz"})
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(req, timeout=30)
    assert refused.value.code == 401 and refused.value.headers["WWW-Authenticate"] == "Bearer"
    # a read token reads, and is refused (403) on every POST route; the write token does both
    assert http.call("GET", "/summary", token=read)[0] == 200
    for path, body in (("/images", {"ref": fleet.refs["a"]}), ("/rematch", None)):
        status, doc = http.call("POST", path, body, token=read)
        assert status == 403 and "write" in doc["error"]
        conforms(path, "post", status, doc)
    assert http.call("POST", "/images", {"ref": fleet.refs["a"]})[0] == 202
    # the document itself is public; it names the scheme every other operation needs
    status, spec = http.call("GET", "/openapi.json", token="")
    assert status == 200 and spec["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
    with psycopg.connect(fleet.database) as conn:  # only hashes are stored
        stored = {bytes(h) for (h,) in conn.execute("SELECT hash FROM api_tokens")}
    assert len(stored) == 2 and not any(read.encode() in h or h in read.encode() for h in stored)


def test_token_create_refuses_a_bad_scope(pg_database: str) -> None:
    done = run_cli("server", "token", "create", "--scope", "admin", "--database", pg_database)
    assert done.returncode == 2 and "--scope" in done.stderr and "Traceback" not in done.stderr


def test_migrations_apply_once(pg_database: str) -> None:
    from layerscan.fleet.migrate import migrate, migrations

    with psycopg.connect(pg_database, autocommit=True) as conn:
        assert migrate(conn) == [m.name for m in migrations()]
        assert migrate(conn) == []
        assert conn.execute("SELECT max(version) FROM schema_version").fetchone()[0] == migrations()[-1].version


def test_fleet_commands_without_the_extra_say_what_to_install() -> None:
    # sys.modules[name] = None is how Python blocks an import: as if the extra were not installed
    code = ("import sys; sys.modules['procrastinate'] = None; from layerscan.cli.main import main; "
            "sys.exit(main(['worker', '--database', 'postgresql://127.0.0.1/x']))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                          env={**os.environ, "PYTHONPATH": str(ROOT / "src")})
    assert done.returncode == 3
    assert "install layerscan[server]" in done.stderr and "Traceback" not in done.stderr


def test_worker_without_database_is_a_usage_error() -> None:
    done = run_cli("worker", env={k: v for k, v in os.environ.items() if k != "LAYERSCAN_DATABASE"})
    assert done.returncode == 2 and "--database" in done.stderr


def test_one_pending_scan_per_image_and_the_embedded_worker(pg_database: str, registry, tmp_path: Path) -> None:
    import asyncio

    from layerscan.fleet.migrate import migrate
    from layerscan.fleet.tasks import AlreadyQueued, FleetRuntime, ensure_queue_schema, make_app, submit
    from layerscan.scan.config import DatabaseConfig, InventoryConfig, Target

    cache = tmp_path / "cache"
    import_db(cache, FEEDS)
    image = fleet_images()["b"]
    image.push(registry.host, "fleet/solo", "1.0")  # type: ignore[attr-defined]
    ref = f"{registry.host}/fleet/solo:1.0"
    runtime = FleetRuntime(pg_database, InventoryConfig(Target("image")), DatabaseConfig(cache))
    with psycopg.connect(pg_database, autocommit=True) as conn:
        migrate(conn)
    app = make_app(runtime)
    ensure_queue_schema(app, pg_database)

    async def twice() -> list[str]:
        outcomes = []
        async with app.open_async():
            for _ in range(2):
                try:
                    outcomes.append(f"job {await submit(app, ref)}")
                except AlreadyQueued:
                    outcomes.append("already queued")
        return outcomes
    outcomes = asyncio.run(twice())
    assert outcomes[0].startswith("job ") and outcomes[1] == "already queued"

    port = free_port()
    log = tmp_path / "server.log"
    token = create_token(pg_database, "read")
    server = start(["server", "--embedded-worker", "--port", str(port), "--database", pg_database,
                    "--cache-dir", str(cache), "--insecure"], log)
    try:
        http = Http(f"http://127.0.0.1:{port}", token)

        def stored() -> bool:
            try:
                return http.call("GET", "/images")[1].get("total") == 1
            except OSError:
                return False
        wait_for("the embedded worker's scan", stored, [log], 120)
        assert http.get("/images")["items"][0]["refs"] == [ref]
        # CVE-2019-10906 (jinja2 < 2.10.1) is in this database; jinja2 2.11.0 is not affected by it
        assert http.get("/vulnerabilities/CVE-2019-10906/images")["total"] == 0
        assert http.get("/vulnerabilities/CVE-2020-28493/images")["items"][0]["fixed_version"] == "2.11.3"
    finally:
        stop(server)


def test_worker_without_vulnerability_database_says_what_to_do(pg_database: str, tmp_path: Path) -> None:
    done = run_cli("worker", "--database", pg_database, "--cache-dir", str(tmp_path / "empty"))
    assert done.returncode == 3 and "no vulnerability database" in done.stderr and "db update" in done.stderr
    assert "Traceback" not in done.stderr


def test_key_digests_change_only_for_the_changed_advisories(tmp_path: Path) -> None:
    from layerscan.db.build import import_paths
    from layerscan.db.store import Store

    digests = []
    for name, without in (("gen1", ADDED), ("gen2", WITHDRAWN), ("again", ADDED)):
        target = tmp_path / name / "layerscan.db"
        import_paths(target, [feeds_dir(tmp_path / f"{name}-feeds", without=without)])
        with Store.open(target) as store:
            digests.append({(ns, n): h for ns, n, h in store.key_digests()})
    first, second, rebuilt = digests
    assert first == rebuilt  # a rebuild of the same feeds hashes the same
    changed = {k for k in first.keys() | second.keys() if first.get(k) != second.get(k)}
    assert changed == {("PyPI", "urllib3"), ("PyPI", "jinja2")}
