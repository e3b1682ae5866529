"""The real CLI, run as a subprocess: help, usage errors (2), runtime errors (3),
output files, the sbom command round trip and rootfs on a small tree."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from fixtures.report.sample import HERE as REPORT_FIXTURES, SBOM

EXIT_USAGE, EXIT_RUNTIME = 2, 3
ROOT = Path(__file__).resolve().parents[1]


def run_cli(*args: str, cwd: Path, env: dict[str, str] | None = None,
            stdin: str = "") -> subprocess.CompletedProcess:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("LAYERSCAN_")}
    full_env["LAYERSCAN_CACHE_DIR"] = str(cwd / "cache")
    full_env.update(env or {})
    return subprocess.run([sys.executable, "-m", "layerscan.cli.main", *args], cwd=cwd, env=full_env,
                          input=stdin, capture_output=True, text=True, timeout=120)


def assert_one_error_line(proc: subprocess.CompletedProcess) -> None:
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert "Traceback" not in proc.stderr
    errors = [line for line in lines if line.startswith("layerscan: error:")]
    assert len(errors) == 1, proc.stderr
    assert all(line.startswith("layerscan: ") for line in lines), proc.stderr


def test_help_lists_commands_and_exit_codes(tmp_path: Path):
    proc = run_cli("--help", cwd=tmp_path)
    assert proc.returncode == 0
    for cmd in ("image", "rootfs", "fs", "sbom", "version"):
        assert cmd in proc.stdout
    assert "130 interrupted" in " ".join(proc.stdout.split())


def test_image_help_has_trivy_flags(tmp_path: Path):
    proc = run_cli("image", "--help", cwd=tmp_path)
    assert proc.returncode == 0
    for flag in ("--input", "--severity", "--exit-code", "--ignore-unfixed", "--ignore-status", "--pkg-types",
                 "--vuln-type", "--format", "--output", "--list-all-pkgs", "--skip-db-update", "--offline-scan",
                 "--cache-dir", "--platform", "--username", "--password", "--password-stdin", "--insecure",
                 "--ignorefile", "--vex", "--exit-on-eol", "--fail-on", "--no-progress", "--quiet"):
        assert flag in proc.stdout, flag


def test_help_does_not_import_heavy_modules(tmp_path: Path):
    code = ("import sys\nfrom layerscan.cli.main import main\n"
            "try:\n    main(['image', '--help'])\nexcept SystemExit:\n    pass\n"
            "print(sorted(m for m in ('rich', 'requests', 'yaml', 'cyclonedx') if m in sys.modules))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert proc.stdout.strip().splitlines()[-1] == "[]"


def test_version(tmp_path: Path):
    from layerscan import __version__

    for args in (("version",), ("--version",)):
        proc = run_cli(*args, cwd=tmp_path)
        assert proc.returncode == 0 and proc.stdout.strip() == f"layerscan {__version__}"


def test_python_dash_m_runs_the_cli_and_importing_it_does_not(tmp_path: Path):
    from layerscan import __version__

    env = {k: v for k, v in os.environ.items() if not k.startswith("LAYERSCAN_")}
    env["LAYERSCAN_CACHE_DIR"] = str(tmp_path / "cache")  # no database: the user's own cache may hold one
    ran = subprocess.run([sys.executable, "-m", "layerscan", "version"], cwd=tmp_path, env=env,
                         capture_output=True, text=True, timeout=60)
    assert ran.returncode == 0 and ran.stdout.strip() == f"layerscan {__version__}"
    imported = subprocess.run([sys.executable, "-c", "import layerscan.__main__; print('imported')"],
                              cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert imported.returncode == 0 and imported.stdout.strip() == "imported", imported.stderr


@pytest.mark.parametrize("args,env", [
    ((), {}),
    (("image", "--bogus-flag"), {}),
    (("image", "-f", "xml", "--input", "x.tar"), {}),
    (("image", "--severity", "SEVERE", "--input", "x.tar"), {}),
    (("image", "--pkg-types", "kernel", "--input", "x.tar"), {}),
    (("image", "--exit-code", "300", "--input", "x.tar"), {}),
    (("image", "--input", "x.tar"), {"LAYERSCAN_EXIT_CODE": "one"}),
    (("image", "--input", "x.tar"), {"LAYERSCAN_IGNORE_UNFIXED": "maybe"}),
    (("image", "--config", "missing.yaml", "--input", "x.tar"), {}),
    (("image",), {}),
    (("image", "--ignorefile", "no-such-ignorefile", "--input", "x.tar"), {}),
])
def test_usage_errors_exit_2(tmp_path: Path, args, env):
    proc = run_cli(*args, cwd=tmp_path, env=env)
    assert proc.returncode == EXIT_USAGE, proc.stderr
    assert "Traceback" not in proc.stderr
    assert "error" in proc.stderr


def test_bad_config_file_is_a_usage_error(tmp_path: Path):
    (tmp_path / "layerscan.yaml").write_text("format: [unclosed\n")
    proc = run_cli("image", "--input", "x.tar", cwd=tmp_path)
    assert proc.returncode == EXIT_USAGE
    assert_one_error_line(proc)


def test_non_image_file_is_a_runtime_error(tmp_path: Path):
    (tmp_path / "notes.txt").write_text("not an image\n")
    proc = run_cli("image", "--input", "notes.txt", cwd=tmp_path)
    assert proc.returncode == EXIT_RUNTIME
    assert_one_error_line(proc)
    assert "notes.txt" in proc.stderr
    assert proc.stdout == ""


def test_missing_input_is_a_usage_error(tmp_path: Path):
    proc = run_cli("image", "--input", "absent.tar", cwd=tmp_path)
    assert proc.returncode == EXIT_USAGE
    assert_one_error_line(proc)


def test_debug_shows_traceback(tmp_path: Path):
    (tmp_path / "notes.txt").write_text("not an image\n")
    proc = run_cli("image", "--input", "notes.txt", "--debug", cwd=tmp_path)
    assert proc.returncode == EXIT_RUNTIME
    assert "Traceback" in proc.stderr


def test_rootfs_on_missing_directory(tmp_path: Path):
    proc = run_cli("rootfs", "nowhere", cwd=tmp_path)
    assert proc.returncode == EXIT_USAGE
    assert_one_error_line(proc)


def test_generate_default_config_round_trips(tmp_path: Path):
    import yaml

    proc = run_cli("--generate-default-config", cwd=tmp_path)
    assert proc.returncode == 0
    config = yaml.safe_load(proc.stdout)
    assert config["vulnerability"]["ignore-unfixed"] is False
    assert config["pkg"]["types"] == "os,library"
    (tmp_path / "layerscan.yaml").write_text(proc.stdout)
    assert run_cli("version", cwd=tmp_path).returncode == 0


# ---- sbom command: our own CycloneDX/SPDX output read back ------------------------------------

@pytest.mark.parametrize("golden", ["golden.cdx.json", "golden.spdx.json"])
def test_sbom_command_reads_our_sbom_back(tmp_path: Path, golden: str):
    proc = run_cli("sbom", str(REPORT_FIXTURES / golden), "-f", "json", "--list-all-pkgs",
                   "--scanners", "none", "-o", "out.json", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    doc = json.loads((tmp_path / "out.json").read_text())
    purls = sorted(p["Identifier"]["PURL"] for r in doc["Results"] for p in r.get("Packages", []))
    assert purls == sorted(p.purl for p in SBOM.packages)


def test_default_scan_without_database_fails_with_what_to_do(tmp_path: Path):
    proc = run_cli("sbom", str(REPORT_FIXTURES / "golden.cdx.json"), "--skip-db-update", cwd=tmp_path)
    assert proc.returncode == EXIT_RUNTIME and proc.stdout == ""
    assert_one_error_line(proc)
    assert "no vulnerability database" in proc.stderr and "layerscan db import" in proc.stderr


def test_package_listing_without_database_is_asked_for(tmp_path: Path):
    proc = run_cli("sbom", str(REPORT_FIXTURES / "golden.cdx.json"), "--scanners", "none", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "Packages:" in proc.stdout


def test_gate_without_database_fails_with_hint(tmp_path: Path):
    proc = run_cli("sbom", str(REPORT_FIXTURES / "golden.cdx.json"), "--exit-code", "1", cwd=tmp_path)
    assert proc.returncode == EXIT_RUNTIME
    assert_one_error_line(proc)
    assert "layerscan: hint:" in proc.stderr


def test_quiet_suppresses_warnings(tmp_path: Path):
    assert run_cli("db", "import", str(ROOT / "examples" / "feeds"), cwd=tmp_path).returncode == 0
    ignore = tmp_path / "ignore.yaml"
    ignore.write_text("vulnerabilities:\n  - id: CVE-2021-45960\n    expired_at: 2020-01-01\n")
    args = ("image", "--input", str(ROOT / "examples" / "demo-image.tar"), "--skip-db-update",
            "--ignorefile", str(ignore), "-o", str(tmp_path / "r.txt"))
    loud = run_cli(*args, cwd=tmp_path)
    assert loud.returncode == 0 and "expired on 2020-01-01" in loud.stderr, loud.stderr
    assert "expired on" not in (tmp_path / "r.txt").read_text()  # warnings go to stderr, never the report
    quiet = run_cli(*args, "-q", cwd=tmp_path)
    assert quiet.returncode == 0 and quiet.stderr == "", quiet.stderr


def test_output_to_unwritable_place_is_a_runtime_error(tmp_path: Path):
    proc = run_cli("sbom", str(REPORT_FIXTURES / "golden.cdx.json"), "--scanners", "none",
                   "-o", str(tmp_path / "no" / "such" / "dir" / "r.json"), cwd=tmp_path)
    assert proc.returncode == EXIT_RUNTIME
    assert_one_error_line(proc)
    assert not (tmp_path / "no").exists()


def test_output_to_a_fifo_is_written_in_place(tmp_path: Path):
    """``-o /dev/null`` or ``-o >(gzip)``: renaming a temp file over a device or FIFO would
    replace the node itself (as root, /dev/null became a regular file); it is written through."""
    fifo = tmp_path / "report.fifo"
    os.mkfifo(fifo)
    received: list[bytes] = []
    reader = threading.Thread(target=lambda: received.append(fifo.read_bytes()), daemon=True)
    reader.start()
    proc = run_cli("sbom", str(REPORT_FIXTURES / "golden.cdx.json"), "-f", "json", "--scanners", "none",
                   "-o", str(fifo), cwd=tmp_path)
    reader.join(timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert stat.S_ISFIFO(fifo.lstat().st_mode)
    assert json.loads(received[0])["ArtifactName"]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".layerscan-")]


def test_output_through_a_symlink_keeps_the_link(tmp_path: Path):
    (tmp_path / "reports").mkdir()
    real = tmp_path / "reports" / "latest.json"
    real.write_text("old")
    link = tmp_path / "report.json"
    link.symlink_to(real)
    proc = run_cli("sbom", str(REPORT_FIXTURES / "golden.cdx.json"), "-f", "json", "--scanners", "none",
                   "-o", str(link), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert link.is_symlink() and json.loads(real.read_text())["ArtifactName"]


def test_env_and_config_choose_the_format(tmp_path: Path):
    src = str(REPORT_FIXTURES / "golden.cdx.json")
    (tmp_path / "layerscan.yaml").write_text("format: json\nscan:\n  scanners: none\n")
    proc = run_cli("sbom", src, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["SchemaVersion"] == 2
    proc = run_cli("sbom", src, cwd=tmp_path, env={"LAYERSCAN_FORMAT": "sarif"})
    assert json.loads(proc.stdout)["version"] == "2.1.0"
    proc = run_cli("sbom", src, "-f", "cyclonedx", cwd=tmp_path, env={"LAYERSCAN_FORMAT": "sarif"})
    assert json.loads(proc.stdout)["bomFormat"] == "CycloneDX"


# ---- rootfs on a tree the test writes ----------------------------------------------------------

DPKG_STATUS = """Package: base-files
Status: install ok installed
Priority: required
Section: admin
Installed-Size: 340
Maintainer: Santiago Vila <sanvila@debian.org>
Architecture: amd64
Version: 12.4+deb12u5
Description: Debian base system miscellaneous files

Package: libssl3
Status: install ok installed
Priority: optional
Section: libs
Installed-Size: 6161
Maintainer: Debian OpenSSL Team <pkg-openssl-devel@alioth-lists.debian.net>
Architecture: amd64
Multi-Arch: same
Source: openssl
Version: 3.0.11-1~deb12u2
Description: Secure Sockets Layer toolkit - shared libraries
"""

OS_RELEASE = 'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nNAME="Debian GNU/Linux"\nVERSION_ID="12"\nID=debian\n'


def test_rootfs_lists_dpkg_packages(tmp_path: Path):
    root = tmp_path / "root"
    (root / "var/lib/dpkg").mkdir(parents=True)
    (root / "etc").mkdir()
    (root / "var/lib/dpkg/status").write_text(DPKG_STATUS)
    (root / "etc/os-release").write_text(OS_RELEASE)
    proc = run_cli("rootfs", "root", "-f", "json", "--list-all-pkgs", "--scanners", "none", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    os_result = doc["Results"][0]
    assert os_result["Class"] == "os-pkgs" and os_result["Type"] == "debian"
    pkgs = {p["Name"]: p for p in os_result["Packages"]}
    assert set(pkgs) == {"base-files", "libssl3"}
    assert (pkgs["libssl3"]["Version"], pkgs["libssl3"]["Release"]) == ("3.0.11", "1~deb12u2")
    assert pkgs["libssl3"]["SrcName"] == "openssl"


# ---- fs on the corpus lockfile fixtures: one result per lockfile, typed by its analyzer ------

@pytest.mark.parametrize("ecosystem", ["pypi", "npm"])
def test_fs_results_are_lockfiles(corpus: Path, tmp_path: Path, ecosystem: str):
    from layerscan.analyzers import all_analyzers

    root = corpus / "fixtures" / ecosystem
    inputs = {f"{case.parent.name}/{path}" for case in root.glob("*/expected.json")
              for path in json.loads(case.read_text()).get("inputs", [])}
    proc = run_cli("fs", str(root), "-f", "json", "--list-all-pkgs", "--scanners", "none", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["ArtifactType"] == "filesystem" and doc["Results"]
    known_types = {a.result_type for a in all_analyzers() if "fs" in a.modes}
    for result in doc["Results"]:
        assert result["Class"] == "lang-pkgs"
        assert result["Target"] in inputs, result["Target"]
        assert result["Type"] in known_types, (result["Target"], result["Type"])
        assert all(p.get("FilePath", result["Target"]).split("!")[0] == result["Target"]
                   for p in result.get("Packages", []))
