"""``--ecosystems auto`` (issue #11): a scan fetches only the sources its SBOM needs, a
missing one on demand later, and says what is missing when it cannot fetch it.

The real CLI against the feed mirror of tests/test_db_update.py (127.0.0.1, upstream
layout) with OSV ecosystems for PyPI, npm and Alpine; every other source points at a
closed port so nothing leaves the machine.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from http.server import ThreadingHTTPServer
from pathlib import Path

from test_db_update import _osv, _populate, mirror  # noqa: F401  (the mirror fixture)

from layerscan.db.needs import (ALWAYS, all_source_keys, held_sources, needed_sources, osv_key, select,
                                update_command)
from layerscan.db.store import Store
from layerscan.ecosystems import DISTROS, language_namespaces
from layerscan.model import OSInfo, Package, Sbom

Mirror = tuple[str, Path, ThreadingHTTPServer]
DEAD = "http://127.0.0.1:9"


def _osv_zip(root: Path, ecosystem: str, vuln_id: str, package: str, release: str = "") -> None:
    """One more OSV ecosystem in the mirror: ``all.zip`` and ``modified_id.csv``."""
    eco = root / "osv" / ecosystem
    eco.mkdir(parents=True, exist_ok=True)
    record = _osv(vuln_id, "9.0", "2024-01-01T00:00:00Z")
    record["affected"][0]["package"] = {"ecosystem": ecosystem + release, "name": package}
    with zipfile.ZipFile(eco / "all.zip", "w") as zf:
        zf.writestr(f"{vuln_id}.json", json.dumps(record))
    (eco / "modified_id.csv").write_text(f"2024-01-01T00:00:00Z,{vuln_id}\n")


def _env(base: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LAYERSCAN_")}
    env.update({f"LAYERSCAN_DB_{key.upper().replace('-', '_')}_URL": DEAD
                for key in {k.partition(":")[0] for k in all_source_keys()}})
    env.update({"LAYERSCAN_DB_OSV_URL": f"{base}/osv", "LAYERSCAN_DB_DEBIAN_URL": f"{base}/debian.json",
                "LAYERSCAN_DB_ALPINE_URL": f"{base}/alpine", "LAYERSCAN_DB_KEV_URL": f"{base}/kev.json",
                "LAYERSCAN_DB_EPSS_URL": f"{base}/epss.csv.gz", "LAYERSCAN_DB_EOL_URL": f"{base}/eol",
                "LAYERSCAN_DB_NVD_URL": f"{base}/nvd.json"})
    return env


def cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "layerscan", *args], capture_output=True, text=True, env=env,
                          timeout=300)


def _alpine_rootfs(path: Path) -> Path:
    (path / "lib/apk/db").mkdir(parents=True)
    (path / "lib/apk/db/installed").write_text("P:zlib\nV:1.3-r0\nA:x86_64\no:zlib\n\n")
    (path / "etc").mkdir()
    (path / "etc/os-release").write_text('ID=alpine\nVERSION_ID=3.19.0\nPRETTY_NAME="Alpine Linux v3.19"\n')
    return path


def _python_project(path: Path, requirement: str = "demo-pkg==0.5\n", name: str = "requirements.txt") -> Path:
    path.mkdir(parents=True)
    (path / name).write_text(requirement)
    return path


def _requests(server: ThreadingHTTPServer, prefix: str) -> int:
    return sum(n for (path, _), n in server.log.items() if path.startswith(prefix))  # type: ignore[attr-defined]


def _vuln_ids(stdout: str) -> set[str]:
    return {v["VulnerabilityID"] for r in json.loads(stdout)["Results"] for v in r.get("Vulnerabilities") or []}


def _next_update(db: Path) -> str:
    with Store.open(db) as store:
        return str(store.metadata()["next_update"])


def _mirror_with_npm_and_alpine(root: Path) -> None:
    _populate(root)
    _osv_zip(root, "npm", "GHSA-npm-1", "left-pad")
    _osv_zip(root, "Alpine", "ALPINE-1", "zlib", ":v3.19")


def test_needed_sources_follow_the_sbom() -> None:
    alpine = Sbom("a", "rootfs", os=OSInfo("alpine", "3.19.0"), packages=(Package("zlib", "1.3-r0", "apk"),))
    assert needed_sources(alpine) == {"alpine", "osv:Alpine", *ALWAYS}
    mixed = Sbom("m", "filesystem", os=OSInfo("redhat", "9.3"),
                 packages=(Package("flask", "2.0", "pypi"), Package("x", "1", "generic")))
    assert needed_sources(mixed) == {"redhat", "osv:PyPI", *ALWAYS}
    chosen = select({"osv:PyPI", "debian", "nvd", "import"})
    assert chosen.sources == ("osv", "debian", "nvd") and chosen.ecosystems == ("PyPI",)
    assert chosen.keys == ("osv:PyPI", "debian", "nvd")
    assert update_command({"osv:npm", "alpine"}) == "layerscan db update --sources osv,alpine --ecosystems npm"


def test_every_distro_feed_is_a_source_db_update_fetches() -> None:
    keys = set(all_source_keys())
    assert {f for d in DISTROS for f in d.feeds} <= keys
    assert {osv_key(d.namespace) for d in DISTROS if d.fetched} <= keys
    assert {osv_key(ns) for ns in language_namespaces().values()} & keys  # the languages db update fetches


def test_first_scan_fetches_only_what_the_image_needs_then_the_rest_on_demand(mirror: Mirror,  # noqa: F811
                                                                              tmp_path: Path) -> None:
    base, root, server = mirror
    _mirror_with_npm_and_alpine(root)
    env, cache = _env(base), tmp_path / "cache"
    db = cache / "db" / "layerscan.db"

    first = cli(env, "rootfs", str(_alpine_rootfs(tmp_path / "alpine")), "--cache-dir", str(cache),
                "-f", "json", "--no-progress", "--timeout", "20")
    assert first.returncode == 0, first.stderr
    assert "Traceback" not in first.stderr
    assert {"CVE-2023-45853", "ALPINE-1"} <= _vuln_ids(first.stdout)
    assert f"fetched 6 of {len(all_source_keys())} sources for this scan: osv:Alpine, alpine, kev, epss, eol, nvd" \
        in first.stderr
    assert _requests(server, "/osv/npm/") == 0 and _requests(server, "/osv/PyPI/") == 0
    assert _requests(server, "/debian.json") == 0
    assert held_sources(db) == {"osv:Alpine", "alpine", *ALWAYS}
    schedule = _next_update(db)

    # a Python project later: osv:PyPI is fetched on demand and merged, the Alpine data kept
    second = cli(env, "fs", str(_python_project(tmp_path / "py")), "--cache-dir", str(cache),
                 "-f", "json", "--no-progress", "--timeout", "20")
    assert second.returncode == 0, second.stderr
    assert {"PYSEC-1", "PYSEC-2"} <= _vuln_ids(second.stdout)
    assert "fetched 1 of" in second.stderr and "sources for this scan: osv:PyPI" in second.stderr
    assert server.log[("/osv/PyPI/all.zip", 200)] == 1  # type: ignore[attr-defined]
    assert _requests(server, "/osv/npm/") == 0
    assert held_sources(db) == {"osv:Alpine", "osv:PyPI", "alpine", *ALWAYS}
    assert _next_update(db) == schedule  # on demand: the refresh schedule of the rest is kept
    with Store.open(db) as store:
        assert store.affected("Alpine:v3.19", "zlib")

    # the same project again: nothing is missing, nothing is fetched
    before = sum(server.log.values())  # type: ignore[attr-defined]
    third = cli(env, "fs", str(tmp_path / "py"), "--cache-dir", str(cache), "-f", "json", "--no-progress")
    assert third.returncode == 0, third.stderr
    assert sum(server.log.values()) == before and "fetched" not in third.stderr  # type: ignore[attr-defined]

    # db update --ecosystems auto: the sources this database holds, never npm
    update = cli(env, "db", "update", "--ecosystems", "auto", "--cache-dir", str(cache), "--no-progress",
                 "--force")
    assert update.returncode == 0, update.stderr
    assert "updating the 7 of" in update.stderr and "osv:PyPI" in update.stderr
    assert _requests(server, "/osv/npm/") == 0


def test_offline_with_a_needed_source_missing_warns_and_names_it(mirror: Mirror, tmp_path: Path) -> None:  # noqa: F811
    """--offline-scan cannot fetch osv:npm: the scan still runs (exit 0 without findings, as
    docs/cli.md says) but stderr names the missing source and says findings may be incomplete,
    and the report records it as an Unknown (analyzer "database")."""
    base, root, server = mirror
    _mirror_with_npm_and_alpine(root)
    env, cache = _env(base), tmp_path / "cache"
    assert cli(env, "rootfs", str(_alpine_rootfs(tmp_path / "alpine")), "--cache-dir", str(cache),
               "--no-progress", "--timeout", "20").returncode == 0
    lock = {"name": "app", "lockfileVersion": 3, "packages": {
        "": {"name": "app"}, "node_modules/left-pad": {"version": "1.0.0"}}}
    project = _python_project(tmp_path / "node", json.dumps(lock), "package-lock.json")
    requests = sum(server.log.values())  # type: ignore[attr-defined]
    offline = cli(env, "fs", str(project), "--cache-dir", str(cache), "--offline-scan", "-f", "json",
                  "--no-progress")
    assert offline.returncode == 0, offline.stderr
    assert sum(server.log.values()) == requests  # type: ignore[attr-defined]
    warning = [line for line in offline.stderr.splitlines() if "has no data from" in line]
    assert len(warning) == 1 and "osv:npm" in warning[0] and "findings may be incomplete" in warning[0]
    recorded = [u for r in json.loads(offline.stdout)["Results"] for u in r.get("Unknowns") or []]
    assert [(u["Analyzer"], u["Reason"].partition(": ")[0]) for u in recorded] == [("database", "osv:npm")]
    assert "layerscan db update --sources osv --ecosystems npm" in warning[0]
    assert "Traceback" not in offline.stderr
    gated = cli(env, "fs", str(project), "--cache-dir", str(cache), "--offline-scan", "--exit-code", "1",
                "--no-progress")
    assert gated.returncode == 0 and "osv:npm" in gated.stderr
    # the command the warning names fetches just that source and keeps the others
    hinted = cli(env, *warning[0].rpartition("run '")[2].rstrip("'").split()[1:], "--cache-dir", str(cache),
                 "--no-progress")
    assert hinted.returncode == 0, hinted.stderr
    assert held_sources(cache / "db" / "layerscan.db") >= {"osv:npm", "osv:Alpine", "alpine"}
    again = cli(env, "fs", str(project), "--cache-dir", str(cache), "--offline-scan", "-f", "json", "--no-progress")
    assert again.returncode == 0, again.stderr
    assert "GHSA-npm-1" in _vuln_ids(again.stdout) and "has no data from" not in again.stderr


def test_a_source_that_failed_waits_for_the_next_due_refresh(mirror: Mirror, tmp_path: Path) -> None:  # noqa: F811
    """osv:PyPI answers 500 on the first scan: the others are built, the report says PyPI is
    missing, and the next scan does not retry it (no download per scan) but warns again."""
    base, root, server = mirror
    _mirror_with_npm_and_alpine(root)
    server.broken.add("/osv/PyPI/modified_id.csv")  # type: ignore[attr-defined]
    env, cache = _env(base), tmp_path / "cache"
    project = _python_project(tmp_path / "py")
    for _ in range(2):
        out = cli(env, "fs", str(project), "--cache-dir", str(cache), "-f", "json", "--no-progress", "--timeout", "20")
        assert out.returncode == 0, out.stderr
        assert "has no data from osv:PyPI" in out.stderr and "Traceback" not in out.stderr
    assert server.log[("/osv/PyPI/modified_id.csv", 500)] == 1  # type: ignore[attr-defined]
    assert held_sources(cache / "db" / "layerscan.db") == set(ALWAYS)
