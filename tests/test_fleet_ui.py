"""The fleet web UI (GET /ui) in Debian's headless Chromium against a real `layerscan server` on PostgreSQL:
log in with an API token (an HttpOnly SameSite=Strict cookie, never in a URL), the severity counts equal
/summary, a CVE search lists the affected image with its layer and fixed version, the link opens the layer
page, hostile package names render as text, and no request leaves 127.0.0.1."""

from __future__ import annotations

import json
import urllib.parse
from pathlib import Path
from typing import Any

import pytest

from test_fleet import wait_for
from test_fleet_sbom import LOG4SHELL, Server, demo_report, fleet_server  # noqa: F401
from test_report_html_browser import CHROMIUM, Browser, browser  # noqa: F401

pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed")
HOSTILE = "<img src=x onerror=window.pwned=2>"
EVIL_PURL = f"pkg:npm/{HOSTILE}@1.0.0"  # a package search lists the purl: markup in its name


def hostile_sbom() -> bytes:
    """A minimal CycloneDX 1.5 document (per its spec) with one npm component whose name is markup."""
    return json.dumps({
        "bomFormat": "CycloneDX", "specVersion": "1.5", "version": 1,
        "metadata": {"component": {"type": "container", "name": "registry.local/evil"}},
        "components": [{"type": "library", "name": HOSTILE, "version": "1.0.0", "purl": EVIL_PURL}],
    }).encode()


def settle(b: Browser, condition: str, tries: int = 200) -> None:
    """wait_for across a navigation (an evaluation cut short by the page changing is retried)."""
    for _ in range(tries):
        try:
            b.wait_for(condition, 1)
            return
        except (RuntimeError, AssertionError):
            continue
    raise AssertionError(f"never true in the page: {condition}")


def requests_seen(b: Browser) -> list[str]:
    return b.eval("performance.getEntriesByType('resource').map(e => e.name).concat([location.href])")


def login(b: Browser, base: str, token: str) -> None:
    b.open_plain(base + "/ui")
    b.eval(f"document.getElementById('token').value = {json.dumps(token)}; "
           "document.getElementById('login').submit(); true")
    settle(b, "location.pathname === '/ui' && !document.getElementById('main').hidden")


def _open_plain(self: Browser, url: str) -> None:
    target = self.call("Target.createTarget", {"url": "about:blank"}, session=False)["targetId"]
    self.session = self.call("Target.attachToTarget", {"targetId": target, "flatten": True},
                             session=False)["sessionId"]
    self.call("Page.enable")
    self.call("Network.enable")
    self.call("Page.navigate", {"url": url})
    self.wait_for("document.readyState === 'complete' && document.getElementById('token')")


Browser.open_plain = _open_plain  # type: ignore[attr-defined]


def test_ui_overview_search_and_layer_page(fleet_server: Server, demo_report: bytes,  # noqa: F811
                                           browser: Browser) -> None:  # noqa: F811
    srv = fleet_server
    assert srv.upload(demo_report, "?name=registry.local/demo:1.0")[0] == 201
    status, evil = srv.upload(hostile_sbom(), "?name=registry.local/evil:1")
    assert status == 201, evil
    base = srv.http.base

    # the page itself holds no data and forbids every other origin
    status, headers, body = srv.raw("/ui", {})
    csp = headers["content-security-policy"]
    assert status == 200 and "default-src 'none'" in csp and "connect-src 'self'" in csp and b"http" not in body

    login(browser, base, srv.http.token)
    assert srv.http.token not in browser.eval("location.href")
    assert browser.eval("document.cookie") == ""  # HttpOnly: not readable by script
    summary: dict[str, Any] = srv.http.get("/summary")
    shown = browser.eval("Object.fromEntries(Array.from(document.querySelectorAll('#severity tr'))"
                         ".map(r => [r.cells[0].textContent, Number(r.cells[1].textContent)]))")
    assert shown == summary["images_affected_by_severity"] and shown["CRITICAL"] >= 1

    browser.eval(f"document.getElementById('q').value = {json.dumps(LOG4SHELL)}; "
                 "document.getElementById('search').requestSubmit(); true")
    browser.wait_for("document.querySelectorAll('#results tr.hit').length > 0")
    rows = browser.eval("Array.from(document.querySelectorAll('#results tr')).map(r => "
                        "Array.from(r.cells).map(c => c.textContent))")
    (hit,) = srv.http.get(f"/vulnerabilities/{LOG4SHELL}/images")["items"]
    assert len(rows) == 1
    image, vuln, package, version, layer, fixed, severity = rows[0]
    assert (vuln, package, version, fixed, severity) == (LOG4SHELL, hit["package"], "2.14.1", "2.15.0", "CRITICAL")
    assert layer.startswith(str(hit["layer_index"])) and hit["created_by"] in layer
    assert image == "registry.local/demo:1.0"

    # hostile markup from a stored SBOM is text, nothing ran
    browser.eval(f"document.getElementById('q').value = {json.dumps(EVIL_PURL)}; "
                 "document.getElementById('search').requestSubmit(); true")
    browser.wait_for("document.querySelectorAll('#results tr.hit').length > 0 || "
                     "document.getElementById('error').textContent")
    assert browser.eval("window.pwned === undefined && document.querySelectorAll('#results img, #results script')"
                        ".length === 0")
    assert HOSTILE in browser.eval("document.getElementById('results').textContent")

    # back to log4j, follow the image link: the layer page, authorised by the cookie
    browser.eval(f"document.getElementById('q').value = {json.dumps(LOG4SHELL)}; "
                 "document.getElementById('search').requestSubmit(); true")
    browser.wait_for("document.querySelector('#results tr.hit a') && "
                     "document.querySelector('#results tr.hit td:nth-child(2)').textContent === 'CVE-2021-44228'")
    href = browser.eval("document.querySelector('#results tr.hit a').getAttribute('href')")
    assert href == "/images/" + urllib.parse.quote(hit["digest"], safe="") + "?format=html"
    seen = requests_seen(browser)
    browser.eval("document.querySelector('#results tr.hit a').click(); true")
    settle(browser, "location.pathname.startsWith('/images/') && document.readyState === 'complete' && "
           "document.querySelectorAll('.layer-card').length > 0")
    seen += requests_seen(browser)
    assert seen and all(urllib.parse.urlsplit(u).hostname == "127.0.0.1" for u in seen), seen


def test_ui_login_refuses_a_bad_token_and_posts_need_the_header(fleet_server: Server) -> None:  # noqa: F811
    import http.client

    srv = fleet_server
    host = srv.http.base.removeprefix("http://")
    conn = http.client.HTTPConnection(host, timeout=30)
    conn.request("POST", "/ui/login", body="token=nope", headers={"Content-Type": "application/x-www-form-urlencoded"})
    resp = conn.getresponse()
    assert resp.status == 401 and "set-cookie" not in {k.lower() for k, _ in resp.getheaders()}
    resp.read()
    conn.request("POST", "/ui/login", body=urllib.parse.urlencode({"token": srv.http.token}),
                 headers={"Content-Type": "application/x-www-form-urlencoded"})
    resp = conn.getresponse()
    cookie = resp.getheader("set-cookie", "")
    resp.read()
    assert resp.status == 303 and resp.getheader("location") == "/ui"
    assert "httponly" in cookie.lower() and "samesite=strict" in cookie.lower()
    jar = cookie.split(";", 1)[0]
    conn.request("GET", "/summary", headers={"Cookie": jar})
    resp = conn.getresponse()
    assert resp.status == 200
    resp.read()
    # the cookie never authorises a write (no cross-site form can post with it)
    conn.request("POST", "/rematch", headers={"Cookie": jar})
    resp = conn.getresponse()
    assert resp.status == 401
    resp.read()
    conn.close()


def test_ui_page_is_in_package_data() -> None:
    from layerscan.fleet import ui

    text = ui.page()
    assert "<script>" in text and "innerHTML" not in text and "https://" not in text
    pyproject = (Path(__file__).resolve().parents[1] / "pyproject.toml").read_text(encoding="utf-8")
    assert '"fleet/ui/*"' in pyproject


def test_docker_compose_runs_real_commands() -> None:
    """docker-compose.yml (no Docker here): parsed, and each service command is a real CLI command
    whose every flag its --help lists."""
    import subprocess
    import sys

    import yaml

    root = Path(__file__).resolve().parents[1]
    doc = yaml.safe_load((root / "docker-compose.yml").read_text(encoding="utf-8"))
    services = doc["services"]
    assert {"db", "server", "worker"} <= set(services) and services["db"]["image"].startswith("postgres:")
    for name in ("server", "worker"):
        command = services[name]["command"]
        assert services[name]["build"]["target"] == "runtime"  # a Dockerfile stage whose ENTRYPOINT is layerscan
        assert command[0] == name and services[name]["depends_on"]["db"]["condition"] == "service_healthy"
        shown = subprocess.run([sys.executable, "-m", "layerscan", command[0], "--help"], capture_output=True,
                               text=True, timeout=60)
        assert shown.returncode == 0, shown.stderr
        for flag in (arg for arg in command[1:] if arg.startswith("--")):
            assert flag in shown.stdout, (name, flag)
