"""The HTML report in a real browser: Debian's headless Chromium, driven over
the DevTools protocol on --remote-debugging-pipe (no extra dependency): load
the page, click a layer card, read the DOM, take a screenshot."""

from __future__ import annotations

import base64
import fcntl
import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from layerscan.report.document import ScanReport, build_report
from layerscan.report.html import UNATTRIBUTED, render, report_data
from test_report_html import HOSTILE, sample_report

CHROMIUM = next((p for p in (shutil.which("chromium"), shutil.which("chromium-browser")) if p), None)
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed")
MAX_MESSAGE = 64 * 1024 * 1024


class Browser:
    """A minimal CDP client over Chromium's pipe transport (fd 3 in, fd 4 out, NUL-framed JSON)."""

    def __init__(self, profile: Path) -> None:
        to_child_r, self._to_child = os.pipe()
        self._from_child, from_child_w = os.pipe()

        def wire_fds() -> None:  # in the child: the pipes become fds 3 and 4 (dup2: inheritable)
            high_r = fcntl.fcntl(to_child_r, fcntl.F_DUPFD, 10)  # out of the way of 3 and 4 first
            high_w = fcntl.fcntl(from_child_w, fcntl.F_DUPFD, 10)
            os.dup2(high_r, 3)
            os.dup2(high_w, 4)

        self.proc = subprocess.Popen(
            [CHROMIUM, "--headless=new", "--remote-debugging-pipe", "--no-sandbox", "--disable-gpu",
             "--no-first-run", "--no-default-browser-check", "--disable-extensions",
             "--disable-background-networking", "--disable-dev-shm-usage", f"--user-data-dir={profile}",
             "--window-size=1400,1000", "about:blank"],
            close_fds=False, preexec_fn=wire_fds,  # os.pipe fds are not inheritable (PEP 446)
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        os.close(to_child_r)
        os.close(from_child_w)
        self._buf = b""
        self._next_id = 0
        self.session = ""

    def call(self, method: str, params: dict[str, Any] | None = None, *, session: bool = True) -> dict[str, Any]:
        self._next_id += 1
        msg: dict[str, Any] = {"id": self._next_id, "method": method, "params": params or {}}
        if session and self.session:
            msg["sessionId"] = self.session
        os.write(self._to_child, json.dumps(msg).encode() + b"\0")
        while True:
            reply = self._read()
            if reply.get("id") == self._next_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})

    def _read(self) -> dict[str, Any]:
        while b"\0" not in self._buf:
            chunk = os.read(self._from_child, 1 << 16)
            if not chunk:
                raise RuntimeError("chromium closed the DevTools pipe")
            self._buf += chunk
            assert len(self._buf) < MAX_MESSAGE
        raw, _, self._buf = self._buf.partition(b"\0")
        return json.loads(raw)

    def open(self, url: str) -> None:
        target = self.call("Target.createTarget", {"url": "about:blank"}, session=False)["targetId"]
        self.session = self.call("Target.attachToTarget", {"targetId": target, "flatten": True},
                                 session=False)["sessionId"]
        self.call("Page.enable")
        self.call("Emulation.setDeviceMetricsOverride",
                  {"width": 1400, "height": 1000, "deviceScaleFactor": 1, "mobile": False})
        self.call("Page.navigate", {"url": url})
        self.wait_for("document.body && document.body.getAttribute('data-ready') === 'true'")

    def eval(self, expression: str) -> Any:
        result = self.call("Runtime.evaluate", {"expression": expression, "returnByValue": True,
                                                "awaitPromise": True})
        if "exceptionDetails" in result:
            raise RuntimeError(f"page error: {result['exceptionDetails']}")
        return result["result"].get("value")

    def wait_for(self, condition: str, tries: int = 100) -> None:
        for _ in range(tries):
            if self.eval(f"new Promise(r => setTimeout(() => r(!!({condition})), 50))"):
                return
        raise AssertionError(f"never true in the page: {condition}")

    def screenshot(self, path: Path) -> None:
        data = self.call("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": False})["data"]
        path.write_bytes(base64.b64decode(data))

    def close(self) -> None:
        try:
            self.call("Browser.close", session=False)
        except (RuntimeError, OSError):
            pass
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        os.close(self._to_child)
        os.close(self._from_child)


@pytest.fixture()
def browser(tmp_path: Path):
    b = Browser(tmp_path / "profile")
    try:
        yield b
    finally:
        b.close()


def _write_page(report: ScanReport, path: Path) -> str:
    path.write_text(render(report), encoding="utf-8")
    return path.as_uri()


_ROWS = "Array.from(document.querySelectorAll('{} tbody tr')).map(r => Array.from(r.cells).map(c => c.textContent))"


def test_click_a_layer_shows_its_packages_and_vulns(corpus: Path, tmp_path: Path, browser: Browser) -> None:
    report = sample_report(corpus)
    data = report_data(report)
    browser.open(_write_page(report, tmp_path / "report.html"))
    # the stack: newest on top, base at the bottom
    keys = browser.eval("Array.from(document.querySelectorAll('.layer-card')).map(c => c.dataset.layer)")
    assert keys == [layer["key"] for layer in reversed(data["layers"])]
    for layer in data["layers"]:
        browser.eval(f"document.querySelector('.layer-card[data-layer=\"{layer['key']}\"]').click()")
        pressed = browser.eval("document.querySelector('.layer-card[aria-pressed=\"true\"]').dataset.layer")
        assert pressed == layer["key"]
        shown = browser.eval(_ROWS.format("#pkg-table"))
        want = sorted((p["name"], p["version"], p["type"]) for p in data["packages"] if p["layer"] == layer["key"])
        assert sorted((r[0], r[1], r[2]) for r in shown) == want
        vulns = browser.eval(_ROWS.format("#vuln-table"))
        want_v = [f for f in data["findings"] if f["layer"] == layer["key"] and not f["suppressed"]]
        assert sorted(r[1] for r in vulns) == sorted(f["name"] for f in want_v)
        assert browser.eval("location.hash") == f"#layer={layer['key']}"
    # the layer with the most findings, for the screenshot
    busiest = max(data["layers"], key=lambda la: sum(f["layer"] == la["key"] for f in data["findings"]))
    browser.eval(f"document.querySelector('.layer-card[data-layer=\"{busiest['key']}\"]').click()")
    shot = tmp_path / "layer.png"
    browser.screenshot(shot)
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    keep = os.environ.get("LAYERSCAN_SCREENSHOT_DIR")
    if keep:
        shutil.copy(shot, Path(keep) / "html-report-layer.png")


def test_filters_and_fragment(corpus: Path, tmp_path: Path, browser: Browser) -> None:
    report = sample_report(corpus)
    data = report_data(report)
    browser.open(_write_page(report, tmp_path / "report.html") + "#layer=all")
    assert browser.eval("document.getElementById('all-layers').getAttribute('aria-pressed')") == "true"
    header = browser.eval("document.getElementById('os-line').textContent")
    assert f"build fails: {report.policy.failing} findings" in header and f"exit code {report.policy.exit_code}" in header
    assert "end of life" in header
    active = [f for f in data["findings"] if not f["suppressed"]]
    assert browser.eval("document.querySelectorAll('#vuln-table tbody tr').length") == len(active)
    browser.eval("document.getElementById('fixable-only').click()")
    assert browser.eval("document.querySelectorAll('#vuln-table tbody tr').length") == \
        sum(1 for f in active if f["fixed"])
    browser.eval("document.getElementById('fixable-only').click()")
    browser.eval("document.querySelector('button.chip[data-severity=\"CRITICAL\"]').click()")
    assert browser.eval("document.querySelectorAll('#vuln-table tbody tr').length") == \
        sum(1 for f in active if f["severity"] != "CRITICAL")


def test_hostile_content_is_text(corpus: Path, tmp_path: Path, browser: Browser) -> None:
    report = sample_report(corpus)
    data = report_data(report)
    evil = next(p for p in data["packages"] if p["name"] == HOSTILE)
    browser.open(_write_page(report, tmp_path / "report.html") + f"#layer={evil['layer']}")
    assert browser.eval("document.querySelectorAll('img').length") == 0
    assert browser.eval("document.querySelectorAll('script').length") == 2
    assert HOSTILE in browser.eval("document.getElementById('pkg-table').textContent")
    # its finding's primary URL is javascript:..., so the ID is shown as plain text
    assert browser.eval("document.querySelectorAll('#vuln-table a').length") == 0
    evil_finding = next(f for f in data["findings"] if f["name"] == HOSTILE)
    row = browser.eval(_ROWS.format("#vuln-table"))[0]
    assert row[0].startswith(evil_finding["id"]) and row[1] == HOSTILE
    assert f"EPSS {evil_finding['epss'] * 100:.1f}%" in row[6]
    browser.eval("document.getElementById('all-layers').click()")
    hrefs = browser.eval("Array.from(document.querySelectorAll('a')).map(a => a.getAttribute('href'))")
    assert hrefs and all(h.startswith(("https://", "http://")) for h in hrefs)


def test_rootfs_and_no_findings(tmp_path: Path, browser: Browser) -> None:
    from layerscan.model import Package, Sbom
    pkgs = tuple(Package(name=f"pkg{i}", version=f"1.{i}", type="apk") for i in range(3))
    report = build_report(Sbom(artifact_name="/srv/rootfs", artifact_type="rootfs", packages=pkgs),
                          created_at="2026-01-01T00:00:00Z", tool_version="t")
    browser.open(_write_page(report, tmp_path / "r.html"))
    assert browser.eval("Array.from(document.querySelectorAll('.layer-card')).map(c => c.dataset.layer)") == [UNATTRIBUTED]
    assert browser.eval("document.querySelectorAll('#pkg-table tbody tr').length") == 3
    assert browser.eval("document.getElementById('vuln-empty').hidden") is False
