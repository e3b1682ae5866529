"""The fix plan on the HTML layer page and in the GitLab report (``-f html`` / ``-f gitlab``
with ``--fix-plan``), and the Dockerfile patches behind GitLab's ``remediations[].diff``.

End to end on the image of tests/test_fixplan.py (built from tests/fixtures/fixplan/Dockerfile:
real Debian 9 dpkg status, an apt-get layer adding the openssl binaries, a pip layer with
requests 2.19.1): every expectation is read from the same scan's ``-f json --fix-plan`` plan.
Patches are checked by ``git apply`` on a copy of the Dockerfile. Hostile input: a crafted
CycloneDX SBOM whose binary package name and layer history carry markup.
"""

from __future__ import annotations

import base64
import json
import re
import shutil
import subprocess
from pathlib import Path
from urllib.parse import quote

import pytest
from test_cli_main import run_cli
from test_fixplan import FIXTURE, OPENSSL_BINARIES, groups_by, item, plan_of, scan, work  # noqa: F401 - fixture
from test_report_gitlab import _errors as gitlab_errors
from test_report_html_browser import CHROMIUM, Browser, browser  # noqa: F401 - fixture

from layerscan.remediate.fixpatch import group_patch, patch_path
from layerscan.report.fixplan import FixGroup, PackageFix
from layerscan.report.html import DATA_ELEMENT_ID

GIT = shutil.which("git")
HOSTILE_NAME = "libssl<script>alert(1)</script>"
HOSTILE_STEP = "/bin/sh -c apt-get install -y openssl </script><img src=x onerror=alert(2)>"
needs_chromium = pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed")


# ---- helpers ------------------------------------------------------------------------------------

def git_apply(tmp: Path, name: str, text: str, patch: str) -> str:
    """``text`` saved as ``name`` in a fresh git work tree, ``patch`` applied by git: the result."""
    if GIT is None:
        pytest.skip("git is not installed")
    tree = tmp / "tree"
    shutil.rmtree(tree, ignore_errors=True)
    (tree / name).parent.mkdir(parents=True, exist_ok=True)
    (tree / name).write_bytes(text.encode())
    subprocess.run([GIT, "init", "-q", str(tree)], check=True)
    (tmp / "fix.patch").write_bytes(patch.encode())
    proc = subprocess.run([GIT, "apply", "--check", str(tmp / "fix.patch")], cwd=tree, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    subprocess.run([GIT, "apply", str(tmp / "fix.patch")], cwd=tree, check=True)
    return (tree / name).read_bytes().decode()


def group(owner: str, manager: str, command: str, line: int | None, *pins: tuple[str, str, str]) -> FixGroup:
    items = tuple(PackageFix(n, "pypi" if manager == "pip" else manager, old, new, ((n, old),), ("CVE-1",), ())
                  for n, old, new in pins)
    return FixGroup(owner, manager, command, items, 1, "", line)


def page_data(page: str) -> dict:
    m = re.search(rf'<script type="application/json" id="{DATA_ELEMENT_ID}">(.*?)</script>', page, re.S)
    assert m, "the data block"
    return json.loads(m.group(1))


# ---- patches (pure) -----------------------------------------------------------------------------

DOCKERFILE = ("FROM debian:stretch\n"
              "RUN apt-get update && \\\n"
              "    apt-get install -y openssl\n"
              "RUN pip install Requests==2.19.1 'flask[async]==0.12' six\n"
              "CMD [\"app\"]\n")
APT = "apt-get update && apt-get install -y --only-upgrade libssl1.1 openssl"


def test_os_patch_appends_to_the_instructions_last_line(tmp_path: Path):
    patch = group_patch(DOCKERFILE, "Dockerfile", group("os", "apt", APT, 2))
    assert patch.startswith("diff --git a/Dockerfile b/Dockerfile\n--- a/Dockerfile\n+++ b/Dockerfile\n")
    after = git_apply(tmp_path, "Dockerfile", DOCKERFILE, patch)
    assert after.splitlines()[2] == f"    apt-get install -y openssl && {APT}"
    assert after.splitlines()[:2] + after.splitlines()[3:] == DOCKERFILE.splitlines()[:2] + DOCKERFILE.splitlines()[3:]


def test_lang_patch_changes_exact_pins(tmp_path: Path):
    pins = group("lang", "pip", "pip install ...", 4, ("requests", "2.19.1", "2.31.0"), ("flask", "0.12", "2.2.5"))
    after = git_apply(tmp_path, "Dockerfile", DOCKERFILE, group_patch(DOCKERFILE, "Dockerfile", pins))
    assert after.splitlines()[3] == "RUN pip install Requests==2.31.0 'flask[async]==2.2.5' six"
    # a package of the group that the line does not pin (six): no patch at all, never half of one
    assert group_patch(DOCKERFILE, "Dockerfile", group("lang", "pip", "", 4, ("six", "1.10.0", "1.16.0"))) == ""
    # a pin of another version (the installed one is what the line must name)
    assert group_patch(DOCKERFILE, "Dockerfile", group("lang", "pip", "", 4, ("requests", "2.18.0", "2.31.0"))) == ""
    npm = "FROM node:20\nRUN npm install -g @scope/pkg@1.0.0 lodash@4.17.20\n"
    after = git_apply(tmp_path, "Dockerfile", npm, group_patch(npm, "Dockerfile", group(
        "lang", "npm", "", 2, ("lodash", "4.17.20", "4.17.21"), ("@scope/pkg", "1.0.0", "1.0.1"))))
    assert after == "FROM node:20\nRUN npm install -g @scope/pkg@1.0.1 lodash@4.17.21\n"


@pytest.mark.parametrize("dockerfile, line", [
    ("FROM x\nRUN [\"apt-get\", \"install\", \"openssl\"]\n", 2),  # exec form
    ("FROM x\nRUN apt-get install -y openssl # tools\n", 2),  # the shell would comment the command out
    ("FROM x\nRUN apt-get install -y openssl # tools \\\n    && true\n", 2),  # the same, continued
    ("FROM x\nRUN <<EOF\napt-get install -y openssl\nEOF\n", 2),  # heredoc
    ("FROM x\nCOPY app /app\n", 2),  # not a RUN
    ("FROM x\nRUN apt-get install -y openssl\n", 3),  # no instruction starts there
    ("FROM x\u2028RUN a\nRUN apt-get install -y openssl\n", 2),  # a line break git does not count
    ("FROM x\nRUN apt-get install -y \\", 2),  # a continuation that never ends
])
def test_no_patch_unless_exact(dockerfile: str, line: int):
    assert group_patch(dockerfile, "Dockerfile", group("os", "apt", APT, line)) == ""


def test_twice_pinned_and_base_groups_get_no_patch():
    twice = "FROM x\nRUN pip install requests==2.19.1 && pip install requests==2.19.1\n"
    assert group_patch(twice, "Dockerfile", group("lang", "pip", "", 2, ("requests", "2.19.1", "2.31.0"))) == ""
    assert group_patch(DOCKERFILE, "Dockerfile", group("base", "", "", 1)) == ""
    assert group_patch(DOCKERFILE, "Dockerfile", group("rebuild", "apt", "docker build --pull .", 2)) == ""
    assert group_patch(DOCKERFILE, "Dockerfile", group("os", "apt", APT, None)) == ""


def test_crlf_and_missing_final_newline_survive(tmp_path: Path):
    crlf = "FROM x\r\nRUN apt-get install -y openssl\r\nUSER app\r\n"
    after = git_apply(tmp_path, "Dockerfile", crlf, group_patch(crlf, "Dockerfile", group("os", "apt", APT, 2)))
    assert after == f"FROM x\r\nRUN apt-get install -y openssl && {APT}\r\nUSER app\r\n"
    last = "FROM x\nRUN apt-get install -y openssl"
    after = git_apply(tmp_path, "docker/app.Dockerfile", last,
                      group_patch(last, "docker/app.Dockerfile", group("os", "apt", APT, 2)))
    assert after == f"FROM x\nRUN apt-get install -y openssl && {APT}"


def test_patch_path_is_relative_to_the_job_directory(tmp_path: Path):
    assert patch_path("Dockerfile") == "Dockerfile" and patch_path("./docker/Dockerfile") == "docker/Dockerfile"
    assert patch_path(str(tmp_path / "sub" / "Dockerfile"), cwd=str(tmp_path)) == "sub/Dockerfile"
    assert patch_path(str(tmp_path / "Dockerfile"), cwd=str(tmp_path / "elsewhere")) == ""
    assert patch_path("../Dockerfile") == "" and patch_path("my Dockerfile") == "" and patch_path("") == ""


# ---- GitLab remediations, end to end ------------------------------------------------------------

@pytest.fixture(scope="module")
def dockerfile(work: Path) -> str:  # noqa: F811 - the fixture imported above
    """The recipe beside the archive, named as the GitLab template passes CS_DOCKERFILE_PATH."""
    shutil.copy(FIXTURE / "Dockerfile", work / "Dockerfile")
    return "Dockerfile"


def test_gitlab_remediations_fix_the_groups_vulnerabilities(work: Path, dockerfile: str, tmp_path: Path):  # noqa: F811
    plan = plan_of(work, "--dockerfile", dockerfile)
    doc = json.loads(scan(work, "-f", "gitlab", "--fix-plan", "--dockerfile", dockerfile).stdout)
    assert gitlab_errors(doc) == []
    groups = groups_by(plan)
    os_group, pip_group = groups[("os", 1)], groups[("lang", 2)]
    assert len(doc["remediations"]) == 2, "the base group has no patch: the plan names no other base"
    by_summary = {r["summary"]: r for r in doc["remediations"]}
    os_summary = f"Upgrade {' '.join(OPENSSL_BINARIES)} in layer 1 (Dockerfile line {os_group['DockerfileLine']}): " \
                 f"{os_group['Command']}"
    pip_summary = f"Upgrade requests in layer 2 (Dockerfile line {pip_group['DockerfileLine']}): {pip_group['Command']}"
    assert set(by_summary) == {os_summary, pip_summary}
    for summary, g in ((os_summary, os_group), (pip_summary, pip_group)):
        wanted = {(p["Name"], p["InstalledVersion"], fix) for i in g["Packages"] for p in i["Packages"] for fix in i["Fixes"]}
        expected = {v["id"] for v in doc["vulnerabilities"]
                    if (v["location"]["dependency"]["package"]["name"], v["location"]["dependency"]["version"],
                        v["identifiers"][0]["value"]) in wanted}
        got = [f["id"] for f in by_summary[summary]["fixes"]]
        assert expected and sorted(got) == sorted(expected) and len(got) == len(set(got))
    # both diffs apply to the Dockerfile with git, and change exactly the group's line
    recipe = (FIXTURE / "Dockerfile").read_text()
    target = item(pip_group, "requests")["TargetVersion"]
    for summary, g in ((os_summary, os_group), (pip_summary, pip_group)):
        patched = git_apply(tmp_path, "Dockerfile", recipe, base64.b64decode(by_summary[summary]["diff"]).decode())
        old, new = recipe.splitlines(), patched.splitlines()
        changed = [n for n, (a, b) in enumerate(zip(old, new), 1) if a != b]
        assert changed == [g["DockerfileLine"]] and len(old) == len(new)
        line = new[g["DockerfileLine"] - 1]
        if g is os_group:
            assert line == f"{old[g['DockerfileLine'] - 1]} && {g['Command']}"
        else:
            assert line == f"RUN pip install requests=={target}"


def test_gitlab_without_an_exact_patch_has_no_remediations(work: Path, dockerfile: str):  # noqa: F811
    misaligned = "Dockerfile.misaligned"
    shutil.copy(FIXTURE / misaligned, work / misaligned)
    for args in (("--fix-plan",), ("--fix-plan", "--dockerfile", misaligned), ("--dockerfile", dockerfile)):
        doc = json.loads(scan(work, "-f", "gitlab", *args).stdout)
        assert gitlab_errors(doc) == [] and doc["remediations"] == [], args
        assert doc["vulnerabilities"]


# ---- HTML, end to end ---------------------------------------------------------------------------

def test_html_page_carries_the_plan_per_layer(work: Path, dockerfile: str):  # noqa: F811
    plan = plan_of(work, "--dockerfile", dockerfile)
    page = scan(work, "-f", "html", "--fix-plan", "--dockerfile", dockerfile).stdout
    data = page_data(page)
    keys = {layer["index"]: layer["key"] for layer in data["layers"] if not layer["pseudo"]}
    shown = data["fix_plan"]
    assert [g["owner"] for g in shown["groups"]] == [g["Owner"] for g in plan["Groups"]]
    for g, want in zip(shown["groups"], plan["Groups"]):
        assert g["command"] == want.get("Command", "") and g["dockerfile_line"] == want.get("DockerfileLine")
        assert [(i["name"], i["installed"], i["target"]) for i in g["items"]] == \
            [(i["Name"], i["InstalledVersion"], i["TargetVersion"]) for i in want["Packages"]]
        if "Layer" in want:
            assert g["layer"] == keys[want["Layer"]] and g["layers"] == [keys[want["Layer"]]]
        else:  # base / rebuild: the layers its packages came from
            assert g["layer"] is None and set(g["layers"]) == {keys[i["Layer"]] for i in want["Packages"]}
    os_group = next(g for g in shown["groups"] if g["owner"] == "os")
    assert os_group["patch"].startswith("diff --git a/Dockerfile b/Dockerfile")
    assert "fix_plan" not in page_data(scan(work, "-f", "html").stdout)
    assert not re.search(r"<(link|img|iframe)\b|\bsrc=\"http", page)


@needs_chromium
def test_click_a_layer_shows_its_fix_group(work: Path, dockerfile: str, tmp_path: Path, browser: Browser):  # noqa: F811
    plan = plan_of(work, "--dockerfile", dockerfile)
    page = tmp_path / "report.html"
    page.write_text(scan(work, "-f", "html", "--fix-plan", "--dockerfile", dockerfile).stdout, encoding="utf-8")
    data = page_data(page.read_text())
    keys = {layer["index"]: layer["key"] for layer in data["layers"] if not layer["pseudo"]}
    browser.open(page.as_uri())
    assert browser.eval("document.getElementById('fix-plan').hidden") is False
    assert browser.eval("document.querySelectorAll('#fix-plan-list li').length") == len(plan["Groups"])
    groups = groups_by(plan)
    for (owner, layer), g in groups.items():
        index = layer if layer is not None else g["Packages"][0]["Layer"]
        browser.eval(f"document.querySelector('.layer-card[data-layer=\"{keys[index]}\"]').click()")
        owners = browser.eval("Array.from(document.querySelectorAll('#fix-groups .fix-group')).map(e => e.dataset.owner)")
        assert owner in owners
        box = f"document.querySelector('#fix-groups .fix-group[data-owner=\"{owner}\"]')"
        if g.get("Command"):
            assert browser.eval(f"{box}.querySelector('.fix-command code').textContent") == g["Command"]
        rows = browser.eval(f"Array.from({box}.querySelectorAll('tbody tr')).map(r => Array.from(r.cells).map(c => c.textContent))")
        want = {(i["Name"], i["InstalledVersion"], i["TargetVersion"]) for i in g["Packages"] if i.get("Layer") == index}
        assert {(r[0].split(" (")[0], r[1], r[2]) for r in rows} == want
        if "DockerfileLine" in g:
            assert f"Dockerfile line {g['DockerfileLine']}" in browser.eval(f"{box}.textContent")
    # the OS group's panel: the binaries it upgrades, its history step
    browser.eval(f"document.querySelector('.layer-card[data-layer=\"{keys[1]}\"]').click()")
    text = browser.eval("document.getElementById('fix-groups').textContent")
    assert all(b in text for b in OPENSSL_BINARIES) and groups[("os", 1)]["CreatedBy"] in text
    # the summary's button selects the group's layer
    browser.eval(f"document.querySelector('#fix-plan-list button[data-layer=\"{keys[2]}\"]').click()")
    assert browser.eval("location.hash") == f"#layer={keys[2]}"
    assert browser.eval("document.querySelector('#fix-groups .fix-group').dataset.owner") == "lang"
    # a layer without a step of the plan says so
    browser.eval(f"document.querySelector('.layer-card[data-layer=\"{keys[3]}\"]').click()")
    assert browser.eval("document.querySelectorAll('#fix-groups .fix-group').length") == 0


# ---- hostile: markup in a crafted SBOM ----------------------------------------------------------

def crafted_sbom(corpus: Path) -> dict:
    """A CycloneDX 1.5 document (the properties Trivy and layerscan write) of a Debian 9
    image whose layer 1 installed openssl's binaries, one of them named with markup."""
    status = (corpus / "fixtures/deb/real-debian9-stretch-image/var/lib/dpkg/status").read_text()
    version = re.search(r"^Package: openssl\n(?:.+\n)*?Version: (\S+)", status, re.M).group(1)
    layers = ["sha256:" + c * 64 for c in "ab"]

    def component(name: str) -> dict:
        purl = f"pkg:deb/debian/{quote(name, safe='')}@{quote(version, safe='')}?distro=debian-9"
        return {"bom-ref": purl, "type": "library", "name": name, "version": version, "purl": purl,
                "properties": [{"name": "aquasecurity:trivy:PkgType", "value": "debian"},
                               {"name": "aquasecurity:trivy:SrcName", "value": "openssl"},
                               {"name": "aquasecurity:trivy:SrcVersion", "value": version},
                               {"name": "layerscan:layer:diff_id", "value": layers[1]}]}
    image_props = [{"name": "layerscan:image:layer:0", "value": f"{layers[0]} /bin/sh -c #(nop) ADD file:x in / "},
                   {"name": "layerscan:image:layer:1", "value": f"{layers[1]} {HOSTILE_STEP}"}]
    return {"bomFormat": "CycloneDX", "specVersion": "1.5", "version": 1,
            "metadata": {"component": {"bom-ref": "image", "type": "container", "name": "evil:1",
                                       "properties": image_props}},
            "components": [{"bom-ref": "os", "type": "operating-system", "name": "debian", "version": "9.13",
                            "properties": [{"name": "aquasecurity:trivy:Class", "value": "os-pkgs"},
                                           {"name": "aquasecurity:trivy:Type", "value": "debian"}]},
                           component("openssl"), component(HOSTILE_NAME)]}


def test_hostile_names_in_the_plan_are_text(work: Path, corpus: Path, tmp_path: Path):  # noqa: F811
    sbom = work / "evil.cdx.json"
    sbom.write_text(json.dumps(crafted_sbom(corpus)))
    proc = run_cli("sbom", str(sbom), "--skip-db-update", "--fix-plan", "-f", "json", cwd=work)
    assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stderr
    plan = json.loads(proc.stdout)["FixPlan"]
    names = {p["Name"] for g in plan["Groups"] for i in g["Packages"] for p in i["Packages"]}
    assert HOSTILE_NAME in names, "the crafted binary is planned (its source is openssl)"
    proc = run_cli("sbom", str(sbom), "--skip-db-update", "--fix-plan", "-f", "html", cwd=work)
    assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stderr
    page = proc.stdout
    assert "<script>alert" not in page and "<img" not in page and "onerror=alert(2)>" not in page
    assert page.count("<script") == 2 and page.count("</script>") == 2
    data = page_data(page)
    assert any(HOSTILE_NAME in json.dumps(g) for g in data["fix_plan"]["groups"])
    (tmp_path / "evil.html").write_text(page, encoding="utf-8")
    proc = run_cli("sbom", str(sbom), "--skip-db-update", "--fix-plan", "-f", "gitlab", cwd=work)
    assert proc.returncode == 0 and gitlab_errors(json.loads(proc.stdout)) == []


@needs_chromium
def test_hostile_plan_in_the_browser(work: Path, corpus: Path, tmp_path: Path, browser: Browser):  # noqa: F811
    sbom = work / "evil.cdx.json"
    sbom.write_text(json.dumps(crafted_sbom(corpus)))
    proc = run_cli("sbom", str(sbom), "--skip-db-update", "--fix-plan", "-f", "html", cwd=work)
    assert proc.returncode == 0, proc.stderr
    page = tmp_path / "evil.html"
    page.write_text(proc.stdout, encoding="utf-8")
    browser.open(page.as_uri() + "#layer=all")
    assert browser.eval("document.querySelectorAll('img').length") == 0
    assert browser.eval("document.querySelectorAll('script').length") == 2
    text = browser.eval("document.getElementById('fix-groups').textContent")
    assert HOSTILE_NAME in text and HOSTILE_STEP in text
    assert HOSTILE_NAME in browser.eval("document.getElementById('fix-plan-list').textContent")
