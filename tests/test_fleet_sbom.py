"""Fleet SBOM upload, image detail and the kev.added / policy.failed events, on real PostgreSQL
(tests/pg.py) with the real CLI: `layerscan server` and a separate `layerscan worker` process, a
vulnerability database imported from the real records in examples/feeds, SBOMs written by
layerscan itself (the demo image's JSON report), by Trivy (a corpus CycloneDX document) and by Syft
(tests/fixtures/sbom), and webhook receivers on 127.0.0.1 that verify every signature."""

from __future__ import annotations

import contextlib
import http.client
import json
import shutil
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path

import pytest

from conftest_paths import CORPUS, ROOT
from test_fleet import FEEDS, Http, conforms, create_token, import_db, psycopg, run_cli, start, stop, wait_for
from test_fleet_webhooks import Receiver, add_webhook, receiver, verified  # noqa: F401

DEMO = ROOT / "examples" / "demo-image.tar"
SBOMS = ROOT / "tests" / "fixtures" / "sbom"
CORPUS_CDX = CORPUS / "fixtures" / "sbom" / "trivy-sbom-valid-elasticsearch-cdx-file" / "cdx.json"
CORPUS_DIGEST = "sha256:d4b68b602eb3d92ea3256886761752ae1159dc01fd391f4c4a87ebf6ba9d3895"  # its pkg:oci purl
LOG4SHELL = "CVE-2021-44228"
LOG4J_RECORDS = ("GHSA-jfh8-c2jp-5v3q.json", "GHSA-7rjr-3q55-vv33.json")  # CVE-2021-44228, -45046: CRITICAL
KEV_FILE = "known_exploited_vulnerabilities.json"  # lists both
MIB = 1024 * 1024


def feeds(target: Path, *without: str) -> Path:
    target.mkdir(parents=True)
    for entry in FEEDS.iterdir():
        if entry.is_file() and entry.name not in without:
            shutil.copy(entry, target / entry.name)
    return target


@pytest.fixture(scope="module")
def demo_report(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """Our own JSON report of the demo image (Debian 9 packages, urllib3/jinja2, log4j-core 2.14.1 in a jar),
    each package with its layer."""
    out = tmp_path_factory.mktemp("demo") / "demo.json"
    done = run_cli("image", "--input", str(DEMO), "-f", "json", "--list-all-pkgs", "--scanners", "none",
                   "-o", str(out), "-q")
    assert done.returncode == 0, done.stderr
    return out.read_bytes()


@dataclass
class Server:
    http: Http
    database: str
    cache: Path
    work: Path
    logs: list[Path]

    def upload(self, body: bytes, query: str = "", token: str | None = None) -> tuple[int, dict]:
        status, doc = self.http.call("POST", "/sboms" + query, body, token=token)
        conforms("/sboms", "post", status, doc)
        return status, doc

    def rematch(self, generation: int) -> None:
        """Ask for a re-match and wait until the worker has run it (the fleet is at ``generation``)."""
        assert self.http.call("POST", "/rematch")[0] == 202

        def done() -> bool:
            with psycopg.connect(self.database) as conn:
                waiting = conn.execute("SELECT count(*) FROM procrastinate_jobs WHERE task_name = 'layerscan.rematch'"
                                       " AND status IN ('todo', 'doing')").fetchone()
            return waiting[0] == 0 and self.http.get("/summary")["generation"] == generation
        wait_for(f"generation {generation}", done, self.logs)

    def raw(self, path: str, headers: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
        conn = http.client.HTTPConnection(self.http.base.removeprefix("http://"), timeout=30)
        try:
            conn.request("GET", path, headers={"Authorization": f"Bearer {self.http.token}", **headers})
            resp = conn.getresponse()
            return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
        finally:
            conn.close()


@contextlib.contextmanager
def serve(database: str, cache: Path, work: Path) -> Iterator[Server]:
    """`layerscan server` and a separate `layerscan worker` on ``database``, stopped on exit."""
    from registry import free_port

    port = free_port()
    common = ["--database", database, "--cache-dir", str(cache)]
    logs = [work / "server.log", work / "worker.log"]
    token = create_token(database, "write")
    server = start(["server", "--port", str(port), *common], logs[0])
    worker = None
    try:
        http_ = Http(f"http://127.0.0.1:{port}", token)

        def up() -> bool:
            if server.poll() is not None:
                pytest.fail(f"server exited: {logs[0].read_text(errors='replace')[-3000:]}")
            try:
                return http_.call("GET", "/summary")[0] == 200
            except OSError:
                return False
        wait_for("the server", up, logs, 60)
        worker = start(["worker", *common], logs[1])
        # the worker is up before any test runs, so teardown never stops it mid-start (a SIGINT
        # during its imports is a KeyboardInterrupt traceback, not a finding)
        wait_for("the worker", lambda: "procrastinate.worker" in logs[1].read_text(errors="replace"), logs)
        yield Server(http_, database, cache, work, logs)
    finally:
        if worker:
            stop(worker)
        stop(server)
    for log in logs:  # no request, bad or not, ever reached a traceback
        assert "Traceback" not in log.read_text(errors="replace"), log.read_text(errors="replace")[-3000:]


@pytest.fixture
def fleet_server(pg_database: str, tmp_path: Path) -> Iterator[Server]:
    cache = tmp_path / "cache"
    import_db(cache, feeds(tmp_path / "gen1"))
    with serve(pg_database, cache, tmp_path) as srv:
        yield srv


class _DataScript(HTMLParser):
    """The JSON the layer page embeds (<script type="application/json" id="layerscan-data">)."""

    def __init__(self) -> None:
        super().__init__()
        self.inside = False
        self.text = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.inside = tag == "script" and ("id", "layerscan-data") in attrs

    def handle_endtag(self, tag: str) -> None:
        self.inside = False

    def handle_data(self, data: str) -> None:
        if self.inside:
            self.text += data


def page_data(page: bytes) -> dict:
    parser = _DataScript()
    parser.feed(page.decode())
    assert parser.text, "the page embeds no layerscan-data"
    return json.loads(parser.text)


def test_upload_our_report_then_detail_json_and_the_layer_page(fleet_server: Server, demo_report: bytes) -> None:
    srv = fleet_server
    status, stored = srv.upload(demo_report, "?name=registry.local/demo:1.0")
    assert status == 201 and stored["status"] == "stored"
    image_id = json.loads(demo_report)["Metadata"]["ImageID"]
    assert stored["digest"] == image_id and stored["packages"] == 9 and stored["new_packages"] == 9

    hits = srv.http.get(f"/vulnerabilities/{LOG4SHELL}/images")
    assert hits["total"] == 1
    (hit,) = hits["items"]
    jar_layer = next(r["Packages"][0]["Layer"]["DiffID"] for r in json.loads(demo_report)["Results"]
                     if r["Target"] == "Java")
    assert (hit["digest"], hit["refs"], hit["package"], hit["version"], hit["fixed_version"]) == (
        image_id, ["registry.local/demo:1.0"], "org.apache.logging.log4j:log4j-core", "2.14.1", "2.15.0")
    assert hit["created_by"] and hit["layer_index"] is not None

    # the same document again, without a name: the same image (now also under the document's own name),
    # nothing new to match
    status, again = srv.upload(demo_report)
    assert status == 201 and again["digest"] == image_id and again["new_packages"] == 0
    listed = srv.http.get("/images")
    assert listed["total"] == 1 and listed["items"][0]["refs"] == [str(DEMO), "registry.local/demo:1.0"]

    detail = srv.http.get(f"/images/{image_id}?limit=100")
    assert detail["digest"] == image_id and detail["total"] == 9 == len(detail["items"])
    layer_of = {item["name"]: item["layer_index"] for item in detail["items"]}
    assert layer_of["org.apache.logging.log4j:log4j-core"] == hit["layer_index"]
    assert [entry["diff_id"] for entry in detail["layers"] if entry["index"] == hit["layer_index"]] == [jar_layer]
    assert sum(entry["packages"] for entry in detail["layers"]) == 9
    log4j = next(item for item in detail["items"] if item["name"].endswith("log4j-core"))
    by_id = {v["id"]: v for v in log4j["vulnerabilities"]}
    assert by_id[LOG4SHELL]["kev"] is True and by_id[LOG4SHELL]["fixed_version"] == "2.15.0"
    assert [i["layer_index"] for i in detail["items"]] == sorted(i["layer_index"] for i in detail["items"])
    # pages: two at a time, all of them once
    names = []
    for offset in range(0, 9, 2):
        names += [i["name"] for i in srv.http.get(f"/images/{image_id}?limit=2&offset={offset}")["items"]]
    assert names == [i["name"] for i in detail["items"]]
    # by the reference it was stored under too
    assert srv.http.get("/images/registry.local%2Fdemo%3A1.0?limit=1")["digest"] == image_id

    # the HTML layer page, rendered by report/html.py from the stored rows
    for headers, query in (({"Accept": "text/html"}, ""), ({}, "?format=html")):
        status, got, page = srv.raw(f"/images/{image_id}{query}", headers)
        assert status == 200 and got["content-type"].startswith("text/html")
        assert "default-src 'none'" in got["content-security-policy"]
        data = page_data(page)
        layers = {layer["index"]: layer for layer in data["layers"] if not layer["pseudo"]}
        assert set(layers) == {entry["index"] for entry in detail["layers"]}
        assert layers[hit["layer_index"]]["diff_id"] == jar_layer
        assert len(data["packages"]) == 9
        log4shell = next(f for f in data["findings"] if f["id"] == LOG4SHELL)
        assert (log4shell["layer"], log4shell["kev"], log4shell["fixed"]) == (str(hit["layer_index"]), True, "2.15.0")
        assert data["artifact"]["name"] == str(DEMO) and data["artifact"]["image_id"] == image_id
    status, doc = srv.http.call("GET", "/images/sha256:" + "0" * 64)
    assert status == 404 and "no stored image" in doc["error"]
    conforms("/images/x", "get", status, doc)
    assert srv.http.call("GET", f"/images/{image_id}?format=pdf")[0] == 400


def test_upload_other_tools_sboms_and_through_the_cli(fleet_server: Server) -> None:
    srv = fleet_server
    syft = (SBOMS / "sample-syft.syft.json").read_bytes()
    status, stored = srv.upload(syft)
    assert status == 201 and stored["packages"] == 3
    detail = srv.http.get(f"/images/{stored['digest']}")
    assert {i["name"] for i in detail["items"]} == {"base-files", "libc6", "zlib1g"}
    assert {i["layer_index"] for i in detail["items"]} == {3}  # upgraded in the last layer, as Syft says

    done = run_cli("server", "sbom", "add", str(SBOMS / "small-syft.cdx.json"), "--name", "small:1",
                   "--database", srv.database, "--cache-dir", str(srv.cache))
    assert done.returncode == 0 and "stored" in done.stderr, done.stderr
    digest = done.stdout.strip()
    small = srv.http.get(f"/images/{digest}")
    assert small["refs"] == ["small:1"] and small["total"] == 10
    libc6 = next(i["purl"] for i in small["items"] if i["name"] == "libc6")
    found = srv.http.get(f"/packages/{urllib.parse.quote(libc6, safe='')}/images")
    assert {i["digest"] for i in found["items"]} == {digest}

    bad = srv.work / "bad.json"
    bad.write_text('{"bomFormat": "CycloneDX", "components": 5}')
    refused = run_cli("server", "sbom", "add", str(bad), "--database", srv.database, "--cache-dir", str(srv.cache))
    assert refused.returncode == 2 and "lists no packages" in refused.stderr and "Traceback" not in refused.stderr
    missing = run_cli("server", "sbom", "add", str(srv.work / "nope.json"), "--database", srv.database)
    assert missing.returncode == 2 and "Traceback" not in missing.stderr

    if not CORPUS_CDX.is_file():
        pytest.skip("../shared/corpus is not present (the Trivy CycloneDX document)")
    status, trivy = srv.upload(CORPUS_CDX.read_bytes())
    assert status == 201 and trivy["digest"] == CORPUS_DIGEST  # the image digest its pkg:oci purl names
    purl = "pkg%3Amaven%2Fco.elastic.apm%2Fapm-agent%401.36.0"
    found = srv.http.get(f"/packages/{purl}/images")
    assert found["total"] == 1 and found["items"][0]["refs"] == ["bitnami/elasticsearch:8.7.1-debian-11-r7"]
    assert found["items"][0]["file_path"].endswith("modules/apm/elastic-apm-agent-1.36.0.jar")


def _chunked_upload(srv: Server, total: int) -> int:
    """POST ``total`` bytes with chunked transfer encoding (no Content-Length); the answer's status."""
    conn = http.client.HTTPConnection(srv.http.base.removeprefix("http://"), timeout=60)
    try:
        conn.putrequest("POST", "/sboms")
        conn.putheader("Authorization", f"Bearer {srv.http.token}")
        conn.putheader("Transfer-Encoding", "chunked")
        conn.endheaders()
        chunk = b"[" * MIB
        try:
            for _ in range(total // MIB):
                conn.send(b"%x\r\n" % len(chunk) + chunk + b"\r\n")
            conn.send(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server answered and stopped reading: the answer is waiting
        resp = conn.getresponse()
        body = json.loads(resp.read() or b"{}")
        assert body.get("error"), body
        return resp.status
    finally:
        conn.close()


def test_hostile_bodies_are_refused_never_a_server_error(fleet_server: Server) -> None:
    srv = fleet_server
    cases = {
        b"": "SBOM document",
        b"not json at all": "not a CycloneDX or SPDX",
        b"<bom xmlns='http://cyclonedx.org/schema/bom/1.6'/>": "XML",
        b'{"hello": "world"}': "not a CycloneDX or SPDX",
        b'{"bomFormat": "CycloneDX", "specVersion": "1.6", "components": {"a": 1}}': "lists no packages",
        b"[" * 200_000 + b"]" * 200_000: "nested too deeply",
        b'{"SchemaVersion": 2, "ArtifactName": 5}': "ArtifactName",
        b'{"SchemaVersion": 2, "Results": [' + b"[" * 100_000: "nested too deeply",
        b'{"bomFormat": "CycloneDX", "components": [' + b"{}," * 2_100_000 + b"{}]}": "JSON values",
        b"\xff\xfe\x00garbage": "UTF-8",
    }
    for body, says in cases.items():
        status, doc = srv.upload(body)
        assert status == 400 and says in doc["error"], (body[:60], doc)
    status, doc = srv.upload(b"{}", "?name=" + "%0a" * 3)
    assert status == 400 and "printable" in doc["error"]

    # too large: refused on the declared length, and while streaming a body that declares none
    conn = http.client.HTTPConnection(srv.http.base.removeprefix("http://"), timeout=60)
    conn.putrequest("POST", "/sboms")
    conn.putheader("Authorization", f"Bearer {srv.http.token}")
    conn.putheader("Content-Length", str(65 * MIB))
    conn.endheaders()
    resp = conn.getresponse()
    assert resp.status == 413 and "larger than" in json.loads(resp.read())["error"]
    conn.close()
    assert _chunked_upload(srv, 65 * MIB) == 413

    read = create_token(srv.database, "read")
    status, doc = srv.upload(b"{}", token=read)
    assert status == 403 and "write" in doc["error"]
    status, doc = srv.upload(b"{}", token="")
    assert status == 401
    assert srv.http.get("/summary")["images"] == 0  # nothing refused was stored
    # the server is still well
    status, _ = srv.upload((SBOMS / "small-trivy.cdx.json").read_bytes())
    assert status == 201


def test_a_kev_listing_and_a_policy_flip_are_each_one_signed_event(pg_database: str, tmp_path: Path,
                                                                  receiver: Receiver, demo_report: bytes) -> None:
    cache = tmp_path / "cache"
    import_db(cache, feeds(tmp_path / "gen1", *LOG4J_RECORDS, KEV_FILE))  # no Log4Shell records yet
    with serve(pg_database, cache, tmp_path) as srv:
        secret = add_webhook(srv, receiver.url("/hooks"), "--allow-private")  # type: ignore[arg-type]
        policy = run_cli("server", "policy", "set", "--fail-on", "critical", "--database", srv.database)
        assert policy.returncode == 0 and "0 fail now" in policy.stderr, policy.stderr
        status, stored = srv.upload(demo_report, "?name=registry.local/demo:1.0")
        assert status == 201 and stored["events"] == 1
        digest = stored["digest"]
        assert srv.http.get(f"/images/{digest}")["policy_failing"] is False
        wait_for("scan.completed", lambda: receiver.at("/hooks"), srv.logs)

        def events(n: int) -> list[dict]:
            wait_for(f"{n} events", lambda: len(receiver.at("/hooks")) >= n, srv.logs)
            got = receiver.at("/hooks")
            assert all(verified(secret, d) for d in got)
            return [d.doc for d in got]

        # generation 2: the Log4Shell records (CRITICAL) arrive: new vulnerabilities, and the image fails now
        import_db(cache, feeds(tmp_path / "gen2", KEV_FILE))
        srv.rematch(2)
        got = events(3)
        by_type = {e["type"]: e["data"] for e in got[1:]}
        assert sorted(by_type) == ["policy.failed", "vulnerability.new"]
        failed = by_type["policy.failed"]
        assert failed["image"]["digest"] == digest and failed["policy"] == {"fail_on": "CRITICAL",
                                                                             "ignore_unfixed": False}
        assert {v["id"] for v in failed["vulnerabilities"]} == {LOG4SHELL, "CVE-2021-45046"}
        assert all(v["severity"] == "CRITICAL" and not v["kev"] for v in failed["vulnerabilities"])
        assert srv.http.get(f"/images/{digest}")["policy_failing"] is True

        # generation 3: the same records, and the KEV catalogue now lists both: kev.added, nothing else
        import_db(cache, feeds(tmp_path / "gen3"))
        srv.rematch(3)
        got = events(4)
        kev = got[3]
        assert kev["type"] == "kev.added" and kev["data"]["image"]["digest"] == digest
        assert kev["data"]["generation"] == 3 and kev["data"]["count"] == 2
        assert {(v["id"], v["kev"], v["layer_index"] is not None) for v in kev["data"]["vulnerabilities"]} == {
            (LOG4SHELL, True, True), ("CVE-2021-45046", True, True)}

        # the image is scanned again, and the database updated again: still failing, no second policy.failed
        assert srv.upload(demo_report)[0] == 201
        srv.rematch(3)  # nothing changed: no generation, no event
        got = events(5)
        assert got[4]["type"] == "scan.completed"
        with psycopg.connect(srv.database) as conn:
            pending = conn.execute("SELECT count(*) FROM webhook_deliveries WHERE status <> 'delivered'").fetchone()
            kinds = [t for (t,) in conn.execute("SELECT event_type FROM webhook_outbox ORDER BY id")]
        assert pending[0] == 0
        assert kinds == ["scan.completed", "vulnerability.new", "policy.failed", "kev.added", "scan.completed"]
        assert [e["type"] for e in events(5)].count("policy.failed") == 1
        shown = run_cli("server", "policy", "show", "--database", srv.database)
        assert shown.returncode == 0 and "1 of 1 images failing" in shown.stdout
        again = run_cli("server", "policy", "set", "--fail-on", "HIGH", "--ignore-unfixed", "--database", srv.database)
        assert again.returncode == 0 and "1 fail now" in again.stderr, again.stderr
        bogus = run_cli("server", "policy", "set", "--fail-on", "SEVERE", "--database", srv.database)
        assert bogus.returncode == 2 and "--fail-on" in bogus.stderr and "Traceback" not in bogus.stderr
        cleared = run_cli("server", "policy", "clear", "--database", srv.database)
        assert cleared.returncode == 0 and "removed" in cleared.stderr
        assert srv.http.get(f"/images/{digest}")["policy_failing"] is None


@pytest.mark.parametrize(("fail_on", "ignore_unfixed", "expected"), [
    ("CRITICAL", False, {"c"}), ("HIGH", False, {"c", "h"}), ("HIGH", True, {"c"}),
    ("LOW", False, {"c", "h", "l"}), ("UNKNOWN", False, {"c", "h", "l", "u", "odd"})])
def test_policy_thresholds(fail_on: str, ignore_unfixed: bool, expected: set[str]) -> None:
    from layerscan.fleet.outbox import ImageVuln
    from layerscan.fleet.policy import FleetPolicy, PolicyError, failing

    vulns = {v.id: v for v in (ImageVuln("c", "CRITICAL", "p", "1", "2", 0), ImageVuln("h", "HIGH", "p", "1", "", 0),
                               ImageVuln("l", "LOW", "p", "1", "2", 0), ImageVuln("u", "UNKNOWN", "p", "1", "2", 1),
                               ImageVuln("odd", "moderate", "p", "1", "2", None))}
    assert {v.id for v in failing(FleetPolicy(fail_on, ignore_unfixed), vulns)} == expected
    with pytest.raises(PolicyError, match="fail_on"):
        FleetPolicy("SEVERE")
