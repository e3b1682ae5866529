"""A new user's install: layerscan without extras in a fresh venv, then with [fast].

This is the test that would have caught `packaging` missing from [project].dependencies:
the test extras pull it in, so every other test runs with it installed. Here nothing is
installed but what pyproject.toml declares, and the venv imports every module of the
package, scans the demo image into every report format, and inventories a root
filesystem and a project holding one package of every analyzer family.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import venv
import zipfile
from pathlib import Path

import pytest

from conftest_paths import ROOT

pytestmark = pytest.mark.slow

FAMILIES = ROOT / "tests" / "fixtures" / "families"
DEMO = ROOT / "examples" / "demo-image.tar"
REPORT_FORMATS = ("table", "json", "sarif", "cyclonedx", "spdx-json", "html")
IMPORT_EVERY_MODULE = (
    "import importlib, pkgutil, layerscan\n"
    "names = [m.name for m in pkgutil.walk_packages(layerscan.__path__, 'layerscan.')]\n"
    "for name in names: importlib.import_module(name)\n"
    "print(len(names))\n"
)


class FreshVenv:
    """A venv that holds only what `pip install` of layerscan brings."""

    def __init__(self, where: Path) -> None:
        self.dir = where / "venv"
        self.cache = where / "cache"
        venv.EnvBuilder(with_pip=True, clear=True).create(self.dir)
        self.bin = self.dir / "bin"

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME")}
        env["PATH"] = f"{self.bin}{os.pathsep}{env.get('PATH', '')}"
        env["LAYERSCAN_CACHE_DIR"] = str(self.cache)
        env["LAYERSCAN_SKIP_DB_UPDATE"] = "true"
        env["NO_COLOR"] = "1"
        return env

    def run(self, *argv: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
        return subprocess.run(list(argv), cwd=cwd, env=self.env(), capture_output=True, text=True, timeout=900)

    def pip_install(self, spec: str) -> None:
        proc = self.run(str(self.bin / "python"), "-m", "pip", "install", "-q", "--disable-pip-version-check", spec)
        assert proc.returncode == 0, proc.stderr[-3000:]

    def layerscan(self, *args: str) -> subprocess.CompletedProcess[str]:
        return self.run(str(self.bin / "layerscan"), *args)

    def has_module(self, name: str) -> bool:
        probe = f"import importlib.util, sys; sys.exit(0 if importlib.util.find_spec({name!r}) else 1)"
        return self.run(str(self.bin / "python"), "-c", probe).returncode == 0


def _build_families(tmp: Path) -> tuple[Path, Path]:
    """The fixture rootfs plus a fat jar (built here: binary fixtures stay out of git)."""
    rootfs = tmp / "rootfs"
    subprocess.run(["cp", "-a", str(FAMILIES / "rootfs"), str(rootfs)], check=True)
    jar = rootfs / "opt" / "app" / "app.jar"
    jar.parent.mkdir(parents=True)
    with zipfile.ZipFile(jar, "w") as zf:
        zf.writestr("META-INF/maven/org.apache.logging.log4j/log4j-core/pom.properties",
                    "groupId=org.apache.logging.log4j\nartifactId=log4j-core\nversion=2.14.1\n")
    return rootfs, FAMILIES / "project"


def _package_types(report_json: str) -> set[str]:
    doc = json.loads(report_json)
    return {r["Type"] for r in doc.get("Results", []) if r.get("Packages")}


def _exercise(fresh: FreshVenv, tmp: Path) -> None:
    imported = fresh.run(str(fresh.bin / "python"), "-c", IMPORT_EVERY_MODULE)
    assert imported.returncode == 0, imported.stderr
    assert int(imported.stdout) > 100

    built = fresh.layerscan("db", "import", str(ROOT / "examples" / "feeds"))
    assert built.returncode == 0, built.stderr

    for fmt in REPORT_FORMATS:
        out = tmp / f"demo.{fmt}"
        proc = fresh.layerscan("image", "--input", str(DEMO), "-f", fmt, "-o", str(out), "--no-progress")
        assert proc.returncode == 0, f"-f {fmt}: {proc.stderr}"
        assert "Traceback" not in proc.stderr and "unexpected" not in proc.stderr, proc.stderr
        text = out.read_text(encoding="utf-8")
        if fmt in ("json", "table", "sarif", "html"):
            assert "CVE-2021-44228" in text, f"-f {fmt} lost Log4Shell"

    rootfs, project = _build_families(tmp)
    inventory = fresh.layerscan("rootfs", str(rootfs), "-f", "json", "--list-all-pkgs", "--no-progress")
    assert inventory.returncode == 0, inventory.stderr
    assert _package_types(inventory.stdout) >= {"debian", "conda-pkg", "jar", "node-pkg", "python-pkg"}
    lockfiles = fresh.layerscan("fs", str(project), "-f", "json", "--list-all-pkgs", "--no-progress")
    assert lockfiles.returncode == 0, lockfiles.stderr
    assert _package_types(lockfiles.stdout) >= {"cargo", "bundler", "composer", "nuget", "pip"}


@pytest.fixture(scope="module")
def fresh(tmp_path_factory: pytest.TempPathFactory) -> FreshVenv:
    if sys.prefix == sys.base_prefix and not _can_make_venv():
        pytest.skip("this Python cannot create a venv with pip (Debian: apt install python3-venv)")
    return FreshVenv(tmp_path_factory.mktemp("fresh"))


def _can_make_venv() -> bool:
    try:
        import ensurepip  # noqa: F401
    except ImportError:
        return False
    return True


def test_install_without_extras_scans_everything(fresh: FreshVenv, tmp_path: Path) -> None:
    fresh.pip_install(str(ROOT))
    for test_only in ("pytest", "hypothesis", "jsonschema", "isal", "orjson"):
        assert not fresh.has_module(test_only), f"{test_only} leaked into the plain install"
    _exercise(fresh, tmp_path)


def test_install_with_fast_extra_scans_everything(fresh: FreshVenv, tmp_path: Path) -> None:
    fresh.pip_install(f"{ROOT}[fast]")
    assert fresh.has_module("isal") and fresh.has_module("orjson")
    _exercise(fresh, tmp_path)
