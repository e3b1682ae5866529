"""Hostile inputs that used to cost gigabytes (issue #16, "memory stays bounded"), and the
limits a real file must still pass: the real CLI on inputs from the hostile corpus's
generators (tests/hostile: stdlib only, deterministic), each asserting a clear error or a recorded Unknown and the child's peak
RSS below 512 MB (``run_cli`` measures it with GNU time, else wait4).

- an rpm ``rpmdb.sqlite`` whose ``Packages`` is a recursive-CTE VIEW, has a generated
  column computing a 900 MB blob per row, or has a trigger (was: past 4 GB / 2.6 GB);
- a 63 MB CycloneDX of ``{}`` components (was: 3.2 GB, exit 0), and the worst document
  still under the value limit;
- jars of 256 MiB with a nested 128 MiB jar, two layers in parallel, and a rootfs one
  (was: read whole, nested ones too: ~1 GB); a jar whose end record claims millions of
  members;
- a METADATA whose Name follows 200,000 Classifier headers (was: not read);
- files past an analyzer's size limit: a warning on stderr per file (summarised past
  five), the JSON report unchanged.

Peak RSS per case is recorded in benchmarks/README.md ("Hostile inputs: peak memory").
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from hostile.blobs import MiB
from hostile.jars import big_jar, lying_end_record, member_list_bomb
from hostile.pkgdb import FEDORA, RPM_SCHEMAS, RPM_SQLITE, metadata_many_headers, rpm_blob_past, sqlite_bytes
from hostile.sboms import empty_components, strings_full_of_structure, worst_under_limit
from imagebuild import Entry, LayerSpec, build_image, file
from test_hostile_cli import Run, Sandbox, assert_clean_failure, box, run_cli, scan_image  # noqa: F401

MAX_RSS_KB = 512 * 1000  # 512 MB


def packages(run: Run) -> set[tuple[str, str]]:
    return {(p["Name"], p.get("Version", "")) for r in run.report()["Results"] for p in r.get("Packages", [])}


def assert_ok(run: Run) -> None:
    assert run.rc == 0, run.stderr
    assert "Traceback" not in run.stderr and "error" not in run.stderr, run.stderr


# ---- rpm: rpmdb.sqlite whose schema computes -----------------------------------------------------

@pytest.mark.parametrize("case", sorted(RPM_SCHEMAS))
def test_rpm_sqlite_schema_bomb_is_an_unknown(box: Sandbox, tmp_path: Path, case: str) -> None:
    schema, reason = RPM_SCHEMAS[case]
    db = sqlite_bytes(schema, tmp_path / "rpmdb.sqlite")
    assert len(db) < 64 * 1024
    root = build_image([LayerSpec([file("etc/os-release", FEDORA), file(RPM_SQLITE, db)])]).write_oci_dir(tmp_path / "oci")
    run = scan_image(box, root, "--list-all-pkgs")
    run_ok = run.rc == 0 and "Traceback" not in run.stderr
    assert run_ok, run.stderr
    assert run.max_rss_kb < MAX_RSS_KB
    reasons = "\n".join(run.unknown_reasons())
    assert RPM_SQLITE in reasons and reason in reasons, reasons


def test_rpm_sqlite_real_schema_in_wal_mode_still_reads(tmp_path: Path) -> None:
    """The hardening keeps rpm's own schema (and its WAL header) readable."""
    from layerscan.analyzers.os.rpm import sqlitedb

    path = tmp_path / "rpmdb.sqlite"
    con = sqlite3.connect(path)
    con.execute("PRAGMA journal_mode = WAL")
    con.execute("CREATE TABLE Packages (hnum INTEGER PRIMARY KEY AUTOINCREMENT, blob BLOB NOT NULL)")
    con.executemany("INSERT INTO Packages (blob) VALUES (?)", [(b"one",), (b"two",)])
    con.commit()
    con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    con.close()
    data = path.read_bytes()
    assert data[18:20] == b"\x02\x02"
    assert list(sqlitedb.iter_values(data)) == [b"one", b"two"]


def test_rpm_sqlite_blob_past_the_length_limit_is_refused(tmp_path: Path) -> None:
    from layerscan.analyzers.os.rpm import RpmAnalyzer, sqlitedb

    data = rpm_blob_past(sqlitedb.MAX_VALUE_BYTES)
    result = RpmAnalyzer().analyze("var/lib/rpm/rpmdb.sqlite", data)
    assert not result.packages
    assert any("too big" in u.reason for u in result.unknowns), result.unknowns


# ---- SBOM input: millions of objects in a few bytes each -----------------------------------------

def test_sbom_of_millions_of_empty_components_is_refused(box: Sandbox, tmp_path: Path) -> None:
    path = empty_components(tmp_path / "empty.cdx.json", 63 * MiB)
    run = run_cli(box, "sbom", str(path), "-f", "json", "--no-progress", "--scanners", "none",
                  max_rss_kb=MAX_RSS_KB)
    assert_clean_failure(run, "JSON values", "refusing")


def test_sbom_with_structure_in_strings_is_counted_outside_them(box: Sandbox, tmp_path: Path) -> None:
    """Commas and braces inside strings are not values: a description full of them passes."""
    from layerscan.source.sbom_input import MAX_JSON_TOKENS

    path = tmp_path / "strings.cdx.json"
    path.write_bytes(strings_full_of_structure(MAX_JSON_TOKENS))
    run = run_cli(box, "sbom", str(path), "-f", "json", "--list-all-pkgs", "--no-progress", "--scanners", "none",
                  max_rss_kb=MAX_RSS_KB)
    assert_ok(run)
    assert ("lodash", "4.17.20") in packages(run)


def test_sbom_worst_document_under_the_limit_stays_bounded(box: Sandbox, tmp_path: Path) -> None:
    """Just under the limit, the costliest shape per token (dicts with distinct keys, nested
    so that no comma is spent on them) still parses within the bound."""
    from layerscan.source.sbom_input import MAX_JSON_TOKENS

    path = tmp_path / "nested.cdx.json"
    path.write_bytes(worst_under_limit(MAX_JSON_TOKENS))
    run = run_cli(box, "sbom", str(path), "-f", "json", "--list-all-pkgs", "--no-progress", "--scanners", "none",
                  max_rss_kb=MAX_RSS_KB)
    assert_ok(run)
    assert ("a", "1") in packages(run)


# ---- jars: large archives and nested ones as bounded streams -------------------------------------

JAR_PACKAGES = {("org.example:outer", "1.1"), ("org.example:inner", "2.1"),
                ("org.example:outer", "1.2"), ("org.example:inner", "2.2")}


@pytest.fixture(scope="module")
def big_jars(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("big-jars")
    return big_jar(root / "one.jar", 1), big_jar(root / "two.jar", 2)


@pytest.mark.slow  # large generated inputs
def test_two_large_jars_in_parallel_layers_stay_bounded(box: Sandbox, tmp_path: Path,
                                                         big_jars: tuple[Path, Path]) -> None:
    layers = [LayerSpec([file(f"app/{jar.name}", jar.read_bytes())], compression="none") for jar in big_jars]
    root = build_image(layers).write_oci_dir(tmp_path / "oci")
    del layers
    run = scan_image(box, root, "--list-all-pkgs", "--parallel", "2")
    assert_ok(run)
    assert run.max_rss_kb < MAX_RSS_KB
    assert packages(run) == JAR_PACKAGES
    assert not run.unknown_reasons()


@pytest.mark.slow  # large generated inputs
def test_large_jars_in_a_rootfs_are_streamed_from_disk(box: Sandbox, tmp_path: Path,
                                                       big_jars: tuple[Path, Path]) -> None:
    rootfs = tmp_path / "rootfs"
    (rootfs / "app").mkdir(parents=True)
    for jar in big_jars:
        (rootfs / "app" / jar.name).symlink_to(jar)  # not followed: the symlink is skipped
        (rootfs / "app" / ("copy-" + jar.name)).hardlink_to(jar)
    run = run_cli(box, "rootfs", str(rootfs), "--sbom-only", "-f", "json", "--list-all-pkgs", "--no-progress",
                  max_rss_kb=MAX_RSS_KB)
    assert_ok(run)
    assert packages(run) == JAR_PACKAGES
    assert {p["FilePath"] for r in run.report()["Results"] for p in r.get("Packages", [])} >= {
        "app/copy-one.jar", "app/copy-one.jar!/BOOT-INF/lib/inner-2.1.jar"}


@pytest.mark.parametrize("zip64", [False, True], ids=["zip", "zip64"])
def test_jar_claiming_millions_of_members_is_refused_before_parsing(zip64: bool) -> None:
    from layerscan.analyzers.java import archive

    members = 50_000_000 if zip64 else 0xFFFF
    limits = archive.Limits(max_members=60_000)
    result = archive.parse("app/evil.jar", lying_end_record(members, 40 * MiB, zip64), limits)
    assert not result.packages
    assert [u.reason for u in result.unknowns] == [f"archive has {members} members (limit 60000)"]
    result = archive.parse("app/evil.jar", lying_end_record(10, 40 * MiB, zip64))
    assert [u.reason for u in result.unknowns] == [
        f"archive's member list is {40 * MiB} bytes (limit {archive.Limits().max_central_directory})"]


@pytest.mark.slow  # large generated inputs
def test_jar_member_list_bomb_in_parallel_layers(box: Sandbox, tmp_path: Path) -> None:
    """Two layers, each a jar whose central directory is just under the size limit but holds
    250,000 entries (over the member limit): both Unknowns, memory bounded with --parallel 2;
    one a little larger is refused from its end record alone."""
    from layerscan.analyzers.java.archive import Limits

    under = member_list_bomb(Limits().max_central_directory - 4096)
    over = member_list_bomb(Limits().max_central_directory + 4096)
    layers = [LayerSpec([file(f"app/bomb{i}.jar", jar)]) for i, jar in enumerate((under, under + b"\0", over))]
    run = scan_image(box, build_image(layers).write_oci_dir(tmp_path / "oci"), "--parallel", "2")
    assert_ok(run)
    assert run.max_rss_kb < MAX_RSS_KB
    reasons = sorted(run.unknown_reasons())
    assert len(reasons) == 3, reasons
    assert reasons[0].startswith("archive has ") and "members (limit 200000) @ app/bomb0.jar" in reasons[0], reasons
    assert "@ app/bomb1.jar" in reasons[1] and "member list is" in reasons[2] and "@ app/bomb2.jar" in reasons[2]


# ---- METADATA: the name after many headers --------------------------------------------------------

def test_python_metadata_name_after_200000_headers(box: Sandbox, tmp_path: Path) -> None:
    rootfs = tmp_path / "rootfs"
    meta = rootfs / "usr/lib/python3/site-packages/late_name-3.1.dist-info/METADATA"
    meta.parent.mkdir(parents=True)
    meta.write_bytes(metadata_many_headers(200_000))
    run = run_cli(box, "rootfs", str(rootfs), "--sbom-only", "-f", "json", "--list-all-pkgs", "--no-progress",
                  max_rss_kb=MAX_RSS_KB)
    assert_ok(run)
    assert ("late-name", "3.1") in packages(run)


# ---- files past a size limit: a warning on stderr -------------------------------------------------

def test_files_over_a_size_limit_are_warned_about(box: Sandbox, tmp_path: Path) -> None:
    from layerscan.analyzers.python.metadata import PythonMetadataAnalyzer

    rootfs = tmp_path / "rootfs"
    limit = PythonMetadataAnalyzer.max_file_size
    paths = [f"usr/lib/python3/site-packages/big{i}-1.0.dist-info/METADATA" for i in range(7)]
    for rel in paths:
        (rootfs / rel).parent.mkdir(parents=True)
        with open(rootfs / rel, "wb") as fh:
            fh.truncate(limit + 1)  # sparse: never read
    run = run_cli(box, "rootfs", str(rootfs), "--sbom-only", "-f", "json", "--no-progress", max_rss_kb=MAX_RSS_KB)
    assert_ok(run)
    lines = run.stderr.splitlines()
    warned = [ln for ln in lines if "not analyzed: file too large" in ln]
    assert len(warned) == 5 and all(ln.startswith("layerscan: warning: usr/lib/python3/") for ln in warned), lines
    assert any("2 more file(s) not analyzed for exceeding a size limit" in ln for ln in lines), lines
    assert f"limit {limit}" in warned[0] and "python-metadata" in warned[0]
    # the JSON report is unchanged: every file is still an Unknown there
    reasons = run.unknown_reasons()
    assert len([r for r in reasons if r.startswith("file too large")]) == 7, reasons
    quiet = run_cli(box, "rootfs", str(rootfs), "--sbom-only", "-f", "json", "--no-progress", "--quiet")
    assert "file too large" not in quiet.stderr and quiet.report()["Results"] == run.report()["Results"]


def test_one_file_over_a_limit_is_one_line_in_an_image(box: Sandbox, tmp_path: Path) -> None:
    from layerscan.analyzers.python.metadata import PythonMetadataAnalyzer

    big = b"Name: big\n" + b"X" * PythonMetadataAnalyzer.max_file_size
    path = "usr/lib/python3/site-packages/big-1.0.dist-info/METADATA"
    root = build_image([LayerSpec([Entry(path, big, "file", 0o644)])]).write_oci_dir(tmp_path / "oci")
    run = scan_image(box, root)
    assert_ok(run)
    warned = [ln for ln in run.stderr.splitlines() if "file too large" in ln]
    assert warned == [f"layerscan: warning: {path}: not analyzed: file too large ({len(big)} bytes, limit "
                      f"{PythonMetadataAnalyzer.max_file_size}) for python-metadata"], run.stderr


def test_json_token_count_ignores_strings_even_unterminated() -> None:
    from layerscan.source.sbom_input import json_tokens

    # exact (strings skipped) once the rough count, strings included, is past the limit
    assert json_tokens(b'{"a,": "{[:", "b": [1, 2]}', limit=7) == 6  # { : , : [ ,
    assert json_tokens(b'["\\"", "\\\\", "[,"]', limit=3) == 3  # [ , ,
    assert json_tokens(b'{"a": "x,,,:::[[[', limit=5) == 2  # the open string runs to the end
    assert json_tokens(b'"' + b'\\",' * 100_000, limit=10) == 0  # escaped quotes: one string, one scan
    assert json_tokens(b"[" + b"{}," * 100, limit=50) > 50


@pytest.mark.slow  # large generated inputs
def test_jar_as_a_stream_gives_what_its_bytes_give(big_jars: tuple[Path, Path]) -> None:
    from layerscan.analyzers.java import archive

    small = big_jar(big_jars[0].parent / "small.jar", 3, nested_mib=1, data_mib=1)
    with open(small, "rb") as stream:
        assert archive.parse("app/small.jar", stream) == archive.parse("app/small.jar", small.read_bytes())
