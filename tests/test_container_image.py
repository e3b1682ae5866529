"""layerscan's own image (Dockerfile), built without a Docker engine and scanned by layerscan.

The Dockerfile's recipe, step by step, with Debian's tools and umoci:

- runtime base (``gcr.io/distroless/python3-debian12``): distroless is built from Debian 12
  ``.deb`` files, not from a base image; here the same packages (RUNTIME_DEBS: Debian's
  Python 3.11 and the libraries it links, base-files, CA certificates, tzdata) are fetched
  with ``apt-get download``, unpacked with ``dpkg-deb -x`` and recorded in
  ``var/lib/dpkg/status.d/`` as distroless does; ``umoci repack`` makes it layer 0;
- builder: ``python3 -m venv /opt/layerscan`` and ``pip install ".[fast]"`` run with the
  image's own Python (``chroot``), from wheels built from this checkout (``pip wheel``),
  with pip brought in for the build only (so the venv has no pip, as the Dockerfile's
  ``pip uninstall`` leaves it); ``umoci repack`` makes ``/opt/layerscan`` layer 1;
- ``USER 65532:65532`` (distroless ``nonroot``) and the ``ENTRYPOINT`` via ``umoci config``;
- the ``debug`` target: busybox (Debian's static build) under ``/busybox`` as distroless'
  ``debug`` images have it, ``ENTRYPOINT ["/busybox/sh"]``.

Then: layerscan scans the OCI layout (database: ../shared/corpus/feeds) and finds no fixable
CRITICAL/HIGH vulnerability, every package attributed to its layer; and layerscan runs inside
the unpacked image as uid 65532 (``chroot --userspec``) against a docker archive, with and
without a vulnerability database; and GitLab's ``container_scanning`` job
(templates/layerscan.gitlab-ci.yml) runs its script with the debug image's shell against
an image in a local registry.

Needs root (chroot), umoci, dpkg-deb, apt-get with a reachable Debian mirror and a package
index for ``pip wheel``; skips otherwise. Slow (about a minute).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from gitlab_runner import load_job, run_job
from registry import RegistryServer, registry  # noqa: F401 - pytest fixture
from test_cli_main import ROOT, run_cli

pytestmark = pytest.mark.slow

# The packages of distroless python3-debian12 that Python and layerscan load at run time.
RUNTIME_DEBS = ("base-files", "ca-certificates", "gcc-12-base", "libbz2-1.0", "libc6", "libcom-err2", "libcrypt1",
                "libdb5.3", "libexpat1", "libffi8", "libgcc-s1", "libgdbm6", "libgssapi-krb5-2", "libk5crypto3",
                "libkeyutils1", "libkrb5-3", "libkrb5support0", "liblzma5", "libncursesw6", "libnsl2",
                "libpython3.11-minimal", "libpython3.11-stdlib", "libreadline8", "libsqlite3-0", "libssl3",
                "libtinfo6", "libtirpc-common", "libtirpc3", "libuuid1", "media-types", "netbase",
                "python3.11-minimal", "readline-common", "tzdata", "zlib1g")
NONROOT = "65532:65532"
ENTRYPOINT = "/opt/layerscan/bin/layerscan"
CHROOT = shutil.which("chroot") or "/usr/sbin/chroot"
DEBUG_PATH = "/opt/layerscan/bin:/busybox:/usr/local/bin:/usr/bin:/bin"


def _run(*cmd: str, cwd: Path | None = None, env: dict[str, str] | None = None,
         timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run(list(cmd), cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


def _need(ok: bool, why: str) -> None:
    if not ok:
        pytest.skip(why)


def _clean_env(**extra: str) -> dict[str, str]:
    return {"PATH": "/opt/layerscan/bin:/usr/sbin:/usr/bin:/bin", "HOME": "/tmp", **extra}


def _runtime_rootfs(rootfs: Path, debs: Path) -> None:
    """What distroless' package rules do: unpack each .deb, record it in status.d/."""
    status = rootfs / "var" / "lib" / "dpkg" / "status.d"
    status.mkdir(parents=True, exist_ok=True)
    for deb in sorted(debs.glob("*.deb")):
        subprocess.run(["dpkg-deb", "-x", str(deb), str(rootfs)], check=True, timeout=120)
        control = subprocess.run(["dpkg-deb", "-f", str(deb)], check=True, capture_output=True, text=True).stdout
        name = control.split("Package:", 1)[1].split()[0]
        (status / name).write_text(control)
    (rootfs / "usr" / "bin" / "python3").symlink_to("python3.11")
    certs = sorted((rootfs / "usr" / "share" / "ca-certificates").rglob("*.crt"))
    (rootfs / "etc" / "ssl" / "certs").mkdir(parents=True, exist_ok=True)
    (rootfs / "etc" / "ssl" / "certs" / "ca-certificates.crt").write_text("".join(c.read_text() for c in certs))


def _install_venv(rootfs: Path, wheels: Path) -> None:
    """The builder stage, run by the image's own Python."""
    build = rootfs / "tmp" / "build"
    shutil.copytree(wheels, build / "wheels")
    import pip

    shutil.copytree(Path(pip.__file__).parent, build / "pip")  # the build's pip, not left in the image
    steps = (("/usr/bin/python3", "-m", "venv", "--without-pip", "/opt/layerscan"),
             ("/opt/layerscan/bin/python", "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
              "--no-index", "--no-cache-dir", "--find-links", "/tmp/build/wheels", "layerscan[fast]"))
    for step in steps:
        proc = _run(CHROOT, str(rootfs), *step, env=_clean_env(PYTHONPATH="/tmp/build"))
        assert proc.returncode == 0, proc.stderr
    shutil.rmtree(build)


@pytest.fixture(scope="module")
def image(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The OCI layout of layerscan's image (tag ``latest``)."""
    _need(os.geteuid() == 0 and os.path.exists(CHROOT), "needs root and chroot")
    _need(all(shutil.which(t) for t in ("umoci", "dpkg-deb", "apt-get")), "needs umoci, dpkg-deb and apt-get")
    work = tmp_path_factory.mktemp("selfimage")
    debs, wheels, layout = work / "debs", work / "wheels", work / "layout"
    debs.mkdir()
    got = _run("apt-get", "download", *RUNTIME_DEBS, cwd=debs, timeout=300)
    _need(got.returncode == 0 and len(list(debs.glob("*.deb"))) == len(RUNTIME_DEBS),
          f"apt-get download failed (no Debian mirror?): {got.stderr[-300:]}")
    built = _run(sys.executable, "-m", "pip", "wheel", "--quiet", "--disable-pip-version-check", "--wheel-dir",
                 str(wheels), f"{ROOT}[fast]", timeout=600)
    _need(built.returncode == 0, f"pip wheel failed (no package index?): {built.stderr[-300:]}")

    def umoci(*args: str) -> None:
        proc = _run("umoci", *args, cwd=work)
        assert proc.returncode == 0, proc.stderr

    umoci("init", "--layout", str(layout))
    umoci("new", "--image", f"{layout}:base")
    umoci("unpack", "--image", f"{layout}:base", str(work / "base"))
    _runtime_rootfs(work / "base" / "rootfs", debs)
    umoci("repack", "--image", f"{layout}:base", "--history.created_by",
          "ADD debian-12-packages / (distroless python3-debian12)", str(work / "base"))
    umoci("unpack", "--image", f"{layout}:base", str(work / "app"))  # a new bundle: the next layer is the diff
    _install_venv(work / "app" / "rootfs", wheels)
    umoci("repack", "--image", f"{layout}:latest", "--history.created_by",
          "COPY /opt/layerscan /opt/layerscan # buildkit", str(work / "app"))
    umoci("config", "--image", f"{layout}:latest", "--config.user", NONROOT, "--config.entrypoint", ENTRYPOINT,
          "--config.env", "PATH=/opt/layerscan/bin:/usr/local/bin:/usr/bin:/bin",
          "--history.created_by", f'ENTRYPOINT ["{ENTRYPOINT}"]')
    _debug_variant(work, layout, debs)
    return layout


def _debug_variant(work: Path, layout: Path, debs: Path) -> None:
    """``latest`` + busybox under /busybox, tagged ``debug``."""
    got = _run("apt-get", "download", "busybox-static", cwd=debs, timeout=120)
    assert got.returncode == 0, got.stderr
    deb = next(debs.glob("busybox-static_*.deb"))
    assert _run("umoci", "unpack", "--image", f"{layout}:latest", str(work / "debug")).returncode == 0
    rootfs = work / "debug" / "rootfs"
    unpacked = work / "busybox-deb"
    subprocess.run(["dpkg-deb", "-x", str(deb), str(unpacked)], check=True, timeout=120)
    (rootfs / "busybox").mkdir()
    shutil.copy2(unpacked / "bin" / "busybox", rootfs / "busybox" / "busybox")
    control = subprocess.run(["dpkg-deb", "-f", str(deb)], check=True, capture_output=True, text=True).stdout
    (rootfs / "var" / "lib" / "dpkg" / "status.d" / "busybox-static").write_text(control)
    proc = _run(CHROOT, str(rootfs), "/busybox/busybox", "--install", "-s", "/busybox", env=_clean_env())
    assert proc.returncode == 0, proc.stderr
    for args in (("repack", "--image", f"{layout}:debug", "--history.created_by", "COPY busybox /busybox",
                  str(work / "debug")),
                 ("config", "--image", f"{layout}:debug", "--config.entrypoint", "/busybox/sh",
                  "--config.env", f"PATH={DEBUG_PATH}", "--history.created_by", 'ENTRYPOINT ["/busybox/sh"]')):
        proc = _run("umoci", *args, cwd=work)
        assert proc.returncode == 0, proc.stderr


def test_the_image_has_no_fixable_critical_or_high(image: Path, corpus_db: Path, tmp_path: Path):
    cache = tmp_path / "cache"
    (cache / "db").mkdir(parents=True)
    shutil.copy(corpus_db, cache / "db" / corpus_db.name)
    proc = run_cli("image", "--input", f"{image}:latest", "--skip-db-update", "--severity", "CRITICAL,HIGH",
                   "--ignore-unfixed", "--exit-code", "1", "--list-all-pkgs", "-f", "json", cwd=tmp_path,
                   env={"LAYERSCAN_CACHE_DIR": str(cache)})
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["Metadata"]["OS"]["Family"] == "debian" and doc["Metadata"]["OS"]["Name"].startswith("12")
    assert not doc["Layerscan"].get("UncheckedOSPackages")  # the OS packages were checked, not skipped
    packages = {(r["Type"], p["Name"]): p["Layer"]["Index"] for r in doc["Results"] for p in r.get("Packages", [])}
    assert packages[("debian", "python3.11-minimal")] == 0 and packages[("debian", "libssl3")] == 0
    assert packages[("python-pkg", "layerscan")] == 1 and packages[("python-pkg", "requests")] == 1
    assert ("python-pkg", "pip") not in packages  # the build's pip is not in the image
    layers = [layer["CreatedBy"] for layer in doc["Metadata"]["Layers"]]
    assert layers == ["ADD debian-12-packages / (distroless python3-debian12)",
                      "COPY /opt/layerscan /opt/layerscan # buildkit"]
    config = doc["Metadata"]["ImageConfig"]["config"]
    assert config["User"] == NONROOT and config["Entrypoint"] == [ENTRYPOINT]


def test_layerscan_runs_inside_the_image_as_nonroot(image: Path, tmp_path: Path):
    bundle = tmp_path / "bundle"
    proc = _run("umoci", "unpack", "--image", f"{image}:latest", str(bundle))
    assert proc.returncode == 0, proc.stderr
    rootfs = bundle / "rootfs"
    (rootfs / "tmp").chmod(0o1777)
    shutil.copy(ROOT / "examples" / "demo-image.tar", rootfs / "tmp" / "app.tar")
    shutil.copytree(ROOT / "examples" / "feeds", rootfs / "tmp" / "feeds")
    inside = lambda *args: _run(CHROOT, f"--userspec={NONROOT}", str(rootfs), ENTRYPOINT, *args,  # noqa: E731
                                env=_clean_env(LAYERSCAN_CACHE_DIR="/tmp/cache"))
    listed = inside("image", "--input", "/tmp/app.tar", "--scanners", "none", "-f", "json", "--list-all-pkgs")
    assert listed.returncode == 0, listed.stderr
    assert {p["Name"] for r in json.loads(listed.stdout)["Results"] for p in r.get("Packages", [])} >= {
        "urllib3", "org.apache.logging.log4j:log4j-core"}
    assert inside("db", "import", "/tmp/feeds").returncode == 0
    gated = inside("image", "--input", "/tmp/app.tar", "--severity", "CRITICAL", "--exit-code", "1",
                   "--skip-db-update")
    assert gated.returncode == 1, gated.stderr
    assert "CVE-2021-44228" in gated.stdout
    assert (rootfs / "tmp" / "cache" / "db").stat().st_uid == 65532  # written as nonroot


def test_gitlab_job_runs_in_the_debug_image(image: Path, registry: RegistryServer, tmp_path: Path):  # noqa: F811
    imagebuild = pytest.importorskip("imagebuild")
    if shutil.which("skopeo") is None:
        pytest.skip("skopeo is not installed")
    imagebuild.skopeo_copy(f"docker-archive:{ROOT / 'examples' / 'demo-image.tar'}", registry.host, "group/app", "1.0")
    bundle = tmp_path / "bundle"
    assert _run("umoci", "unpack", "--image", f"{image}:debug", str(bundle)).returncode == 0
    rootfs = bundle / "rootfs"
    project = rootfs / "builds" / "project"
    project.mkdir(parents=True)
    assert run_cli("db", "import", str(ROOT / "examples" / "feeds"), "--cache-dir", str(project / ".cache" / "layerscan"),
                   cwd=tmp_path).returncode == 0
    subprocess.run(["chown", "-R", NONROOT, str(project)], check=True)
    (rootfs / "dev").mkdir(exist_ok=True)
    subprocess.run(["mknod", "-m", "666", str(rootfs / "dev" / "null"), "c", "1", "3"], check=True)  # as a runtime does
    job = load_job(ROOT / "templates" / "layerscan.gitlab-ci.yml", "container_scanning")
    proc = run_job(job, cwd=tmp_path, shell=(CHROOT, f"--userspec={NONROOT}", str(rootfs), "/busybox/sh", "-c"),
                   inherit_env=False,
                   predefined={"CI_PROJECT_DIR": "/builds/project", "CI_REGISTRY_IMAGE": f"{registry.host}/group/app",
                               "CI_COMMIT_REF_SLUG": "main", "CI_COMMIT_SHA": "1.0", "CI_REGISTRY_USER": "",
                               "CI_REGISTRY_PASSWORD": ""},
                   overrides={"CS_IMAGE": f"{registry.host}/group/app:1.0", "LAYERSCAN_EXIT_CODE": "1",
                              "CS_SEVERITY_THRESHOLD": "CRITICAL",
                              "CS_DEFAULT_BRANCH_IMAGE": f"{registry.host}/group/app:main"},
                   env={"PATH": DEBUG_PATH, "HOME": "/tmp", "LAYERSCAN_INSECURE": "true",
                        "LAYERSCAN_SKIP_DB_UPDATE": "true"})
    assert proc.returncode == 1, proc.stdout + proc.stderr  # CRITICAL findings, LAYERSCAN_EXIT_CODE=1
    assert (project / "gl-container-scanning-report.json").is_file(), proc.stdout + proc.stderr
    doc = json.loads((project / "gl-container-scanning-report.json").read_text())
    assert {v["severity"] for v in doc["vulnerabilities"]} == {"Critical"}
    assert {v["location"]["default_branch_image"] for v in doc["vulnerabilities"]} == {f"{registry.host}/group/app:main"}
