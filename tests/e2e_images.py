"""The end-to-end test image: a real, language-heavy, multi-layer image built in the test session.

Layers (``created_by`` as a Dockerfile would record them):

0. base: the dpkg status of a real Debian 9 image (corpus ``deb/real-debian9-stretch-image``)
   plus an ``etc/os-release`` for Debian 9;
1. ``pip install`` of old releases (real ``pip install --no-deps --target``, wheels from PyPI)
   into ``usr/local/lib/python3.9/site-packages``;
2. ``npm install`` of old lodash and minimist (real npm) into ``app/node_modules``, with the
   app's own ``package.json`` (the application, not a dependency);
3. ``COPY app.jar``: a Spring-Boot-like fat jar whose ``BOOT-INF/lib/inner.jar`` holds
   ``lib/log4j-core-2.14.1.jar`` (two levels of nesting), built with zipfile;
4. ``COPY gobin``: a real Go binary with build info from the corpus (Go 1.15.2);
5. ``pip uninstall chardet && pip install urllib3==1.24.1``: whiteouts remove chardet and the
   old urllib3 metadata, and the upgraded urllib3 is added.

Expectations (:class:`ExpectedPackage`) are derived from what was installed (dist-info
``METADATA``, ``package.json`` files, the pom.properties written here, the corpus
``expected.json`` of the Go binary, the dpkg status file), never typed by hand.
Downloads are cached in pytest's cache directory so reruns are offline and fast.
"""

from __future__ import annotations

import email.parser
import hashlib
import io
import json
import re
import shutil
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pytest
from imagebuild import BuiltImage, Entry, LayerSpec, build_image, directory, entries_from_directory, file, whiteout
from packageurl import PackageURL

SITE = "usr/local/lib/python3.9/site-packages"
APP_DIR = "app"
JAR_PATH = "srv/app.jar"
INNER_JAR = "BOOT-INF/lib/inner.jar"
LOG4J_JAR = "lib/log4j-core-2.14.1.jar"
GO_PATH = "usr/local/bin/gobin"
GO_CASE = "go/trivy-binary-happy-path"
DEBIAN_CASE = "deb/real-debian9-stretch-image"
REPO_TAG = "layerscan/e2e:1.0"
DEBIAN_VERSION = "9.12"  # etc/debian_version: the OS name reported (as Trivy does), the release is "9"

PIP_RELEASES = ("flask==0.12.2", "requests==2.19.1", "urllib3==1.23", "jinja2==2.10", "werkzeug==0.14.1",
                "idna==2.7", "certifi==2018.4.16", "chardet==3.0.4")
PIP_UPGRADE = "urllib3==1.24.1"
PIP_REMOVED = "chardet"
PIP_REINSTALLED = "flask==0.12.2"  # rewritten unchanged in layer 5: must stay attributed to layer 1
DEB_PURGED = "nano"  # dropped from the dpkg status in layer 5; every other deb stays on layer 0
NPM_RELEASES = ("lodash@4.17.15", "minimist@1.2.0")
APP_MANIFEST = {"name": "e2e-shop", "version": "3.1.4", "private": True,
                "dependencies": {"lodash": "4.17.15", "minimist": "1.2.0"}}
LOG4J = "org.apache.logging.log4j:log4j-core"  # groupId:artifactId, the Maven package name
# (groupId, artifactId, version) of each archive in the fat jar, outermost first.
JAR_COORDS = (("com.example", "shop", "1.0.0"), ("com.example", "inner", "0.3.0"),
              ("org.apache.logging.log4j", "log4j-core", "2.14.1"))

CREATED_BY = (
    "/bin/sh -c #(nop) ADD file:5f1c7a4a0fe3a0b5d1a2b6b8d4a1c1e5e2b7e1a9d52cd1e4e4cdb0f7a1c2b3d4 in / ",
    "/bin/sh -c pip install --no-deps " + " ".join(PIP_RELEASES),
    "RUN /bin/sh -c cd /app && npm install " + " ".join(NPM_RELEASES) + " # buildkit",
    "COPY app.jar /srv/app.jar # buildkit",
    "/bin/sh -c #(nop) COPY file:0c5e1ee5a0b37e5a8d6e3f5f9f6ad1f2c1b3c9b1e0c4d4a5e6f7a8b9c0d1e2f3 in "
    "/usr/local/bin/gobin ",
    f"/bin/sh -c apt-get purge -y {DEB_PURGED} && pip uninstall -y {PIP_REMOVED} && pip install --no-deps "
    f"{PIP_UPGRADE} && pip install --no-deps --force-reinstall {PIP_REINSTALLED}",
)

OS_RELEASE_DEBIAN9 = """\
PRETTY_NAME="Debian GNU/Linux 9 (stretch)"
NAME="Debian GNU/Linux"
VERSION_ID="9"
VERSION="9 (stretch)"
VERSION_CODENAME=stretch
ID=debian
HOME_URL="https://www.debian.org/"
SUPPORT_URL="https://www.debian.org/support"
BUG_REPORT_URL="https://bugs.debian.org/"
"""


class BuildSkipped(Exception):
    """A tool or download the image needs is unavailable (the fixture turns this into a skip)."""


@dataclass(frozen=True)
class ExpectedPackage:
    name: str
    version: str
    type: str  # deb, pypi, npm, maven, golang
    purl: str
    layer: int
    path: str = ""  # where it is installed ("" for dpkg entries); nested jars use "!/"
    src_name: str = ""
    src_version: str = ""
    application: bool = False  # the project itself (app package.json, Go main module without version)


@dataclass(frozen=True)
class E2EImage:
    image: BuiltImage
    archive: Path  # docker save archive
    packages: tuple[ExpectedPackage, ...]  # present in the final image
    removed: tuple[ExpectedPackage, ...]  # installed by a lower layer, deleted by whiteout
    superseded: tuple[ExpectedPackage, ...]  # replaced by an upgrade in a higher layer
    os_family: str
    os_name: str
    go_case: Path  # corpus case of the Go binary

    def created_by(self, layer: int) -> str:
        return CREATED_BY[layer]

    def of_type(self, pkg_type: str) -> tuple[ExpectedPackage, ...]:
        return tuple(p for p in self.packages if p.type == pkg_type)

    @property
    def applications(self) -> tuple[ExpectedPackage, ...]:
        return tuple(p for p in self.packages if p.application)

    def find(self, pkg_type: str, name: str) -> ExpectedPackage:
        matches = [p for p in self.packages if p.type == pkg_type and p.name == name]
        if len(matches) != 1:
            raise KeyError(f"{pkg_type}/{name}: {len(matches)} expected packages")
        return matches[0]


# ---- tools ----------------------------------------------------------------------------------

def run_tool(cmd: list[str], cwd: Path | None = None, timeout: int = 300) -> None:
    try:
        proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=timeout)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise BuildSkipped(f"{cmd[0]} {cmd[1] if len(cmd) > 1 else ''} failed: {exc}") from None
    if proc.returncode != 0:
        raise BuildSkipped(f"{' '.join(cmd[:4])} ... exited {proc.returncode}: {proc.stderr.strip()[-400:]}")


def pip_install(target: Path, requirements: tuple[str, ...], cache: Path) -> Path:
    """Real ``pip install --no-deps --target`` of wheels only (no builds: pure-Python old releases)."""
    if not target.is_dir():
        tmp = target.with_name(target.name + ".partial")
        shutil.rmtree(tmp, ignore_errors=True)
        run_tool([sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                  "--no-deps", "--only-binary=:all:", "--no-compile", "--target", str(tmp),
                  "--cache-dir", str(cache / "pip"), *requirements])
        tmp.rename(target)
    return target


def npm_install(app: Path, releases: tuple[str, ...], cache: Path) -> Path:
    """Real ``npm install --no-save --ignore-scripts`` next to the app's package.json."""
    if shutil.which("npm") is None:
        raise BuildSkipped("npm is not installed")
    if not (app / "node_modules").is_dir():
        shutil.rmtree(app, ignore_errors=True)
        app.mkdir(parents=True)
        (app / "package.json").write_text(json.dumps(APP_MANIFEST, indent=2) + "\n")
        run_tool(["npm", "install", "--no-save", "--ignore-scripts", "--no-audit", "--no-fund",
                  "--cache", str(cache / "npm"), *releases], cwd=app)
    return app


# ---- expectations from installed metadata ---------------------------------------------------

def pep503(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def dist_infos(site: Path) -> list[tuple[str, str, str]]:
    """(name, version, dist-info dir name) from every ``*.dist-info/METADATA`` in ``site``."""
    out = []
    for meta in sorted(site.glob("*.dist-info/METADATA")):
        headers = email.parser.BytesHeaderParser().parsebytes(meta.read_bytes())
        out.append((str(headers["Name"]), str(headers["Version"]), meta.parent.name))
    return out


def pypi_expected(site: Path, layer: int) -> list[ExpectedPackage]:
    return [ExpectedPackage(name, version, "pypi", PackageURL(type="pypi", name=pep503(name), version=version)
                            .to_string(), layer, f"{SITE}/{dist}")
            for name, version, dist in dist_infos(site)]


def npm_name_purl(name: str, version: str) -> str:
    namespace, _, short = name.rpartition("/")
    return PackageURL(type="npm", namespace=namespace or None, name=short, version=version).to_string()


def npm_expected(app: Path, layer: int) -> list[ExpectedPackage]:
    """Every installed ``node_modules/**/package.json`` with a name and version."""
    out = []
    for manifest in sorted((app / "node_modules").rglob("package.json")):
        doc = json.loads(manifest.read_text())
        if isinstance(doc, dict) and doc.get("name") and doc.get("version"):
            rel = manifest.relative_to(app).as_posix()
            out.append(ExpectedPackage(doc["name"], doc["version"], "npm", npm_name_purl(doc["name"], doc["version"]),
                                       layer, f"{APP_DIR}/{rel}"))
    return out


def dpkg_expected(status: bytes, layer: int) -> list[ExpectedPackage]:
    """Installed entries of a dpkg status file (a simple paragraph split, independent of the analyzer)."""
    out = []
    for para in status.decode("utf-8", "replace").split("\n\n"):
        fields = dict(line.split(": ", 1) for line in para.splitlines() if ": " in line and not line[:1].isspace())
        if fields.get("Package") and fields.get("Version") and fields.get("Status", "").endswith(" installed"):
            source, _, paren = fields.get("Source", fields["Package"]).partition(" ")
            out.append(ExpectedPackage(fields["Package"], fields["Version"], "deb", "", layer, src_name=source,
                                       src_version=paren.strip("() ") or fields["Version"]))
    return out


def go_expected(case: Path, layer: int) -> list[ExpectedPackage]:
    doc = json.loads((case / "expected.json").read_text())
    out = []
    for pkg in doc["packages"]:
        namespace, _, name = pkg["name"].rpartition("/")
        purl = PackageURL(type="golang", namespace=namespace or None, name=name,
                          version=pkg["version"] or None).to_string()
        out.append(ExpectedPackage(pkg["name"], pkg["version"], "golang", purl, layer, GO_PATH,
                                   application=not pkg["version"]))
    return out


def maven_expected(layer: int) -> list[ExpectedPackage]:
    """Named ``groupId:artifactId`` (Trivy's JSON convention for Maven packages)."""
    names = (JAR_PATH, INNER_JAR, LOG4J_JAR)
    return [ExpectedPackage(f"{group}:{artifact}", version, "maven",
                            PackageURL(type="maven", namespace=group, name=artifact, version=version).to_string(),
                            layer, "!/".join(names[: i + 1]))
            for i, (group, artifact, version) in enumerate(JAR_COORDS)]


# ---- the fat jar ----------------------------------------------------------------------------

ZIP_TIME = (2021, 12, 1, 0, 0, 0)


def pom_properties(group: str, artifact: str, version: str) -> bytes:
    return (f"#Created by Apache Maven 3.6.3\nversion={version}\ngroupId={group}\nartifactId={artifact}\n"
            .encode())


def _zip(members: list[tuple[str, bytes, int]]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data, method in members:
            info = zipfile.ZipInfo(name, ZIP_TIME)
            info.compress_type = method
            zf.writestr(info, data)
    return buf.getvalue()


def _jar(coords: tuple[str, str, str], manifest: str, extra: list[tuple[str, bytes, int]]) -> bytes:
    group, artifact, version = coords
    return _zip([("META-INF/MANIFEST.MF", manifest.encode(), zipfile.ZIP_DEFLATED),
                 (f"META-INF/maven/{group}/{artifact}/pom.properties", pom_properties(*coords), zipfile.ZIP_DEFLATED),
                 *extra])


def fat_jar() -> bytes:
    """app.jar (Spring Boot layout) -> BOOT-INF/lib/inner.jar -> lib/log4j-core-2.14.1.jar."""
    app, inner, log4j = JAR_COORDS
    log4j_jar = _jar(log4j, "Manifest-Version: 1.0\r\nImplementation-Title: Apache Log4j Core\r\n"
                            f"Implementation-Version: {log4j[2]}\r\n\r\n",
                     [("org/apache/logging/log4j/core/lookup/JndiLookup.class", b"\xca\xfe\xba\xbe",
                       zipfile.ZIP_DEFLATED)])
    inner_jar = _jar(inner, "Manifest-Version: 1.0\r\n\r\n", [(LOG4J_JAR, log4j_jar, zipfile.ZIP_STORED)])
    return _jar(app, "Manifest-Version: 1.0\r\nMain-Class: org.springframework.boot.loader.JarLauncher\r\n"
                     "Start-Class: com.example.shop.App\r\nSpring-Boot-Lib: BOOT-INF/lib/\r\n\r\n",
                [("BOOT-INF/classes/com/example/shop/App.class", b"\xca\xfe\xba\xbe", zipfile.ZIP_DEFLATED),
                 (INNER_JAR, inner_jar, zipfile.ZIP_STORED)])


# ---- layers ---------------------------------------------------------------------------------

def tree_entries(root: Path, prefix: str, skip_top: tuple[str, ...] = ()) -> list[Entry]:
    entries = entries_from_directory(root, prefix, skip=skip_top)
    return [directory(prefix)] + entries


def debian_status(corpus: Path) -> bytes:
    return (corpus / "fixtures" / DEBIAN_CASE / "var/lib/dpkg/status").read_bytes()


def base_layer(corpus: Path) -> LayerSpec:
    entries = entries_from_directory(corpus / "fixtures" / DEBIAN_CASE)
    entries += [directory("etc"), file("etc/os-release", OS_RELEASE_DEBIAN9),
                file("etc/debian_version", DEBIAN_VERSION + "\n")]
    return LayerSpec(entries, created_by=CREATED_BY[0])


def without_package(status: bytes, name: str) -> bytes:
    """The dpkg status with the paragraph of ``name`` removed (what ``apt-get purge`` leaves)."""
    paragraphs = status.decode("utf-8").split("\n\n")
    kept = [p for p in paragraphs if f"Package: {name}" not in p.splitlines()]
    if len(kept) != len(paragraphs) - 1:
        raise ValueError(f"{name} is not exactly once in the status file")
    return "\n\n".join(kept).encode("utf-8")


def reinstalled_dist(site: Path) -> str:
    wanted = pep503(PIP_REINSTALLED.split("==")[0])
    return next(dist for name, _, dist in dist_infos(site) if pep503(name) == wanted)


def upgrade_layer(old_site: Path, new_site: Path, status: bytes) -> LayerSpec:
    """Purge DEB_PURGED from the dpkg status; remove the PIP_REMOVED package and the superseded
    dist-info dirs; add the upgraded files; rewrite the reinstalled dist-info byte for byte."""
    removed = [p.name for p in old_site.iterdir()
               if p.name == PIP_REMOVED
               or (p.name.endswith(".dist-info") and pep503(p.name.split("-")[0]) == PIP_REMOVED)]
    upgraded = {pep503(name) for name, _, _ in dist_infos(new_site)}
    superseded = [dist for name, _, dist in dist_infos(old_site) if pep503(name) in upgraded]
    entries = [whiteout(f"{SITE}/{name}") for name in sorted(removed + superseded)]
    entries += entries_from_directory(new_site, SITE, skip=("bin",))
    dist = reinstalled_dist(old_site)
    entries += entries_from_directory(old_site / dist, f"{SITE}/{dist}")
    entries.append(file("var/lib/dpkg/status", without_package(status, DEB_PURGED)))
    return LayerSpec(entries, created_by=CREATED_BY[5], compression="zstd")


@dataclass(frozen=True)
class Installs:
    site: Path  # layer 1
    upgrade: Path  # layer 5
    app: Path  # layer 2


def install_all(work: Path, cache: Path) -> Installs:
    work.mkdir(parents=True, exist_ok=True)
    return Installs(pip_install(work / "site", PIP_RELEASES, cache),
                    pip_install(work / "site-upgrade", (PIP_UPGRADE,), cache),
                    npm_install(work / "app", NPM_RELEASES, cache))


_BUILT: dict[Path, E2EImage] = {}


def release_key() -> str:
    """Names the install cache after what is installed, so a changed list reinstalls."""
    text = "\n".join((*PIP_RELEASES, PIP_UPGRADE, *NPM_RELEASES, json.dumps(APP_MANIFEST, sort_keys=True)))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def e2e_image(corpus: Path, work: Path, cache: Path) -> E2EImage:
    """The image, built once per process and ``work`` dir (test modules share it)."""
    if work not in _BUILT:
        _BUILT[work] = build_e2e_image(corpus, work, cache)
    return _BUILT[work]


def build_e2e_image(corpus: Path, work: Path, cache: Path) -> E2EImage:
    """Build the image and its docker archive; installs are kept under ``cache``. Raises BuildSkipped."""
    inst = install_all(cache / f"installs-{release_key()}", cache)
    work.mkdir(parents=True, exist_ok=True)
    go_case = corpus / "fixtures" / GO_CASE
    go_binary = next(p for p in sorted(go_case.iterdir()) if p.name != "expected.json")
    layers = [
        base_layer(corpus),
        LayerSpec(tree_entries(inst.site, SITE, skip_top=("bin",)), created_by=CREATED_BY[1]),
        LayerSpec(tree_entries(inst.app, APP_DIR), created_by=CREATED_BY[2]),
        LayerSpec([directory("srv"), file(JAR_PATH, fat_jar())], created_by=CREATED_BY[3], compression="none"),
        LayerSpec([directory("usr/local/bin"), file(GO_PATH, go_binary.read_bytes(), 0o755)],
                  created_by=CREATED_BY[4]),
        upgrade_layer(inst.site, inst.upgrade, debian_status(corpus)),
    ]
    image = build_image(layers, empty_steps={1: ["/bin/sh -c #(nop)  CMD [\"bash\"]"],
                                             6: ['/bin/sh -c #(nop)  ENTRYPOINT ["java", "-jar", "/srv/app.jar"]']})
    archive = image.write_docker_archive(work / "e2e-image.tar", REPO_TAG)
    return E2EImage(image, archive, *expectations(corpus, inst), os_family="debian", os_name=DEBIAN_VERSION,
                    go_case=go_case)


def expectations(corpus: Path, inst: Installs) -> tuple[tuple[ExpectedPackage, ...], tuple[ExpectedPackage, ...],
                                                         tuple[ExpectedPackage, ...]]:
    debs = dpkg_expected(debian_status(corpus), 0)
    purged = tuple(p for p in debs if p.name == DEB_PURGED)
    pip_old = pypi_expected(inst.site, 1)
    pip_new = pypi_expected(inst.upgrade, 5)
    upgraded = {pep503(p.name) for p in pip_new}
    removed = tuple(p for p in pip_old if pep503(p.name) == PIP_REMOVED) + purged
    superseded = tuple(p for p in pip_old if pep503(p.name) in upgraded)
    kept = [p for p in pip_old if p not in removed and p not in superseded]
    app = ExpectedPackage(APP_MANIFEST["name"], APP_MANIFEST["version"], "npm",
                          npm_name_purl(APP_MANIFEST["name"], APP_MANIFEST["version"]), 2, f"{APP_DIR}/package.json",
                          application=True)
    present = ([p for p in debs if p not in purged] + kept + [app] + npm_expected(inst.app, 2) + maven_expected(3)
               + go_expected(corpus / "fixtures" / GO_CASE, 4) + pip_new)
    return tuple(present), removed, superseded


# ---- pytest fixtures and the CLI ------------------------------------------------------------

@pytest.fixture(scope="session")
def e2e(corpus: Path, tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> E2EImage:
    """The e2e image (skips with the reason when pip/npm/PyPI are unavailable)."""
    store = getattr(request.config, "cache", None)  # absent with -p no:cacheprovider
    cache = Path(store.mkdir("layerscan-e2e")) if store else tmp_path_factory.mktemp("e2e-cache")
    try:
        return e2e_image(corpus, tmp_path_factory.getbasetemp() / "e2e-image", cache)
    except BuildSkipped as exc:
        pytest.skip(f"cannot build the e2e image: {exc}")


@pytest.fixture(scope="session")
def e2e_pushed(registry, e2e: E2EImage) -> str:  # registry: tests/registry.py RegistryServer
    """The e2e image pushed to the local test registry; returns its reference."""
    if shutil.which("skopeo") is None:
        pytest.skip("skopeo is not installed")
    return e2e.image.push(registry.host, "e2e/shop", "1.0")


CLI_TIMEOUT = 600


def run_cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """``python -m layerscan.cli.main ARGS`` as a user would run it."""
    return subprocess.run([sys.executable, "-m", "layerscan.cli.main", *args], capture_output=True, text=True,
                          timeout=CLI_TIMEOUT, cwd=cwd, stdin=subprocess.DEVNULL)


@dataclass(frozen=True)
class ReportedPackage:
    result_type: str
    target: str
    doc: dict

    @property
    def purl(self) -> str:
        return self.doc.get("Identifier", {}).get("PURL", "")

    @property
    def purl_type(self) -> str:
        return PackageURL.from_string(self.purl).type if self.purl else ""

    @property
    def layer_index(self) -> int | None:
        return self.doc.get("Layer", {}).get("Index")


def reported_packages(report: dict) -> list[ReportedPackage]:
    return [ReportedPackage(r.get("Type", ""), r.get("Target", ""), p)
            for r in report.get("Results") or [] for p in r.get("Packages") or []]


def reported_vulns(report: dict) -> list[dict]:
    return [v for r in report.get("Results") or [] for v in r.get("Vulnerabilities") or []]
