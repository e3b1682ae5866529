"""Hostile inputs that used to cost gigabytes (issue #16, "memory stays bounded"), and the
limits a real file must still pass: the real CLI on inputs generated here (stdlib only,
deterministic), each asserting a clear error or a recorded Unknown and the child's peak
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

import json
import random
import sqlite3
import struct
import zipfile
import zlib
from pathlib import Path

import pytest

from imagebuild import Entry, LayerSpec, build_image, file
from test_hostile_cli import Run, Sandbox, assert_clean_failure, box, run_cli, scan_image  # noqa: F401

MiB = 1 << 20
MAX_RSS_KB = 512 * 1000  # 512 MB
FEDORA = "NAME=Fedora Linux\nID=fedora\nVERSION_ID=39\nPRETTY_NAME=\"Fedora Linux 39\"\n"


def packages(run: Run) -> set[tuple[str, str]]:
    return {(p["Name"], p.get("Version", "")) for r in run.report()["Results"] for p in r.get("Packages", [])}


def assert_ok(run: Run) -> None:
    assert run.rc == 0, run.stderr
    assert "Traceback" not in run.stderr and "error" not in run.stderr, run.stderr


# ---- rpm: rpmdb.sqlite whose schema computes -----------------------------------------------------

RPM_SCHEMAS = {
    # 1,000 rows of 100 MB each, built by SQLite on reading (the file is 4 KB)
    "view-cte": ("CREATE VIEW Packages AS WITH RECURSIVE c(hnum, blob) AS (SELECT 1, zeroblob(100000000) "
                 "UNION ALL SELECT hnum + 1, blob FROM c WHERE hnum < 1000) SELECT hnum, blob FROM c",
                 "it is a view"),
    # every read of a row computes a 900 MB blob
    "generated-column": ("CREATE TABLE Packages (hnum INTEGER PRIMARY KEY, x INTEGER, "
                         "blob BLOB GENERATED ALWAYS AS (zeroblob(900000000)) VIRTUAL);"
                         "INSERT INTO Packages (hnum, x) VALUES (1, 1), (2, 2), (3, 3)",
                         "generated columns"),
    "trigger": ("CREATE TABLE Packages (hnum INTEGER PRIMARY KEY AUTOINCREMENT, blob BLOB NOT NULL);"
                "CREATE TRIGGER t AFTER INSERT ON Packages BEGIN SELECT 1; END;",
                "has triggers"),
    "virtual-table": ("CREATE VIRTUAL TABLE Packages USING fts4(hnum, blob)", "not a plain table"),
}


def rpmdb(path: Path, schema: str) -> bytes:
    con = sqlite3.connect(path)
    con.executescript(schema)
    con.commit()
    con.close()
    return path.read_bytes()


@pytest.mark.parametrize("case", sorted(RPM_SCHEMAS))
def test_rpm_sqlite_schema_bomb_is_an_unknown(box: Sandbox, tmp_path: Path, case: str) -> None:
    schema, reason = RPM_SCHEMAS[case]
    db = rpmdb(tmp_path / "rpmdb.sqlite", schema)
    assert len(db) < 64 * 1024
    root = build_image([LayerSpec([file("etc/os-release", FEDORA),
                                   file("usr/lib/sysimage/rpm/rpmdb.sqlite", db)])]).write_oci_dir(tmp_path / "oci")
    run = scan_image(box, root, "--list-all-pkgs")
    run_ok = run.rc == 0 and "Traceback" not in run.stderr
    assert run_ok, run.stderr
    assert run.max_rss_kb < MAX_RSS_KB
    reasons = "\n".join(run.unknown_reasons())
    assert "usr/lib/sysimage/rpm/rpmdb.sqlite" in reasons and reason in reasons, reasons


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

    data = rpmdb(tmp_path / "rpmdb.sqlite",
                 "CREATE TABLE Packages (hnum INTEGER PRIMARY KEY AUTOINCREMENT, blob BLOB NOT NULL);"
                 f"INSERT INTO Packages (blob) VALUES (zeroblob({sqlitedb.MAX_VALUE_BYTES + 1}))")
    result = RpmAnalyzer().analyze("var/lib/rpm/rpmdb.sqlite", data)
    assert not result.packages
    assert any("too big" in u.reason for u in result.unknowns), result.unknowns


# ---- SBOM input: millions of objects in a few bytes each -----------------------------------------

CDX_HEAD = b'{"bomFormat": "CycloneDX", "specVersion": "1.5", "components": ['


def test_sbom_of_millions_of_empty_components_is_refused(box: Sandbox, tmp_path: Path) -> None:
    path = tmp_path / "empty.cdx.json"
    count = 63 * MiB // 3
    path.write_bytes(CDX_HEAD + b"{}," * count + b"{}]}")
    run = run_cli(box, "sbom", str(path), "-f", "json", "--no-progress", "--scanners", "none",
                  max_rss_kb=MAX_RSS_KB)
    assert_clean_failure(run, "JSON values", "refusing")


def test_sbom_with_structure_in_strings_is_counted_outside_them(box: Sandbox, tmp_path: Path) -> None:
    """Commas and braces inside strings are not values: a description full of them passes."""
    from layerscan.source.sbom_input import MAX_JSON_TOKENS

    filler = "{[,:" * (MAX_JSON_TOKENS // 4 + 1)
    doc = {"bomFormat": "CycloneDX", "specVersion": "1.5", "components": [
        {"type": "library", "name": "lodash", "version": "4.17.20", "purl": "pkg:npm/lodash@4.17.20",
         "description": filler, "properties": [{"name": "escaped \\\" {", "value": "\""}]}]}
    path = tmp_path / "strings.cdx.json"
    path.write_text(json.dumps(doc))
    run = run_cli(box, "sbom", str(path), "-f", "json", "--list-all-pkgs", "--no-progress", "--scanners", "none",
                  max_rss_kb=MAX_RSS_KB)
    assert_ok(run)
    assert ("lodash", "4.17.20") in packages(run)


def test_sbom_worst_document_under_the_limit_stays_bounded(box: Sandbox, tmp_path: Path) -> None:
    """Just under the limit, the costliest shape per token (dicts with distinct keys, nested
    so that no comma is spent on them) still parses within the bound."""
    from layerscan.source.sbom_input import MAX_JSON_TOKENS

    depth, chains, key = 500, [], 0
    budget = MAX_JSON_TOKENS - 10_000
    while budget > 2 * depth + 1:
        chains.append("".join(f'{{"k{key + i}":' for i in range(depth)) + "0" + "}" * depth)
        key += depth
        budget -= 2 * depth + 1
    path = tmp_path / "nested.cdx.json"
    path.write_text('{"bomFormat": "CycloneDX", "specVersion": "1.5", "components": '
                    '[{"type": "library", "name": "a", "version": "1", "purl": "pkg:npm/a@1"}], '
                    f'"x": [{",".join(chains)}]}}')
    run = run_cli(box, "sbom", str(path), "-f", "json", "--list-all-pkgs", "--no-progress", "--scanners", "none",
                  max_rss_kb=MAX_RSS_KB)
    assert_ok(run)
    assert ("a", "1") in packages(run)


# ---- jars: large archives and nested ones as bounded streams -------------------------------------

def big_jar(path: Path, seed: int, nested_mib: int = 128, data_mib: int = 128) -> Path:
    """A stored jar: its own pom.properties, a nested jar (pom.properties + incompressible
    ``nested_mib``) and ``data_mib`` of incompressible data beside it."""
    rng = random.Random(seed)
    inner_path = path.with_suffix(".inner")
    with zipfile.ZipFile(inner_path, "w", zipfile.ZIP_STORED) as zf:
        zf.writestr("META-INF/maven/org.example/inner/pom.properties",
                    f"groupId=org.example\nartifactId=inner\nversion=2.{seed}\n")
        zf.writestr("blob.bin", rng.randbytes(nested_mib * MiB))
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as zf:
        zf.writestr("META-INF/MANIFEST.MF", "Manifest-Version: 1.0\n")
        zf.writestr("META-INF/maven/org.example/outer/pom.properties",
                    f"groupId=org.example\nartifactId=outer\nversion=1.{seed}\n")
        zf.write(inner_path, f"BOOT-INF/lib/inner-2.{seed}.jar")
        zf.writestr("data.bin", rng.randbytes(data_mib * MiB))
    inner_path.unlink()
    return path


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


def lying_end_record(members: int, cd_size: int, zip64: bool = False) -> bytes:
    """A tiny real jar whose end-of-central-directory record claims ``members`` entries and a
    central directory of ``cd_size`` bytes."""
    import io

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("META-INF/MANIFEST.MF", "Manifest-Version: 1.0\n")
    data = buf.getvalue()
    at = data.rindex(b"PK\x05\x06")
    cd_offset = struct.unpack_from("<I", data, at + 16)[0]
    if not zip64:
        return data[:at] + struct.pack("<4s4H2IH", b"PK\x05\x06", 0, 0, min(members, 0xFFFF),
                                       min(members, 0xFFFF), min(cd_size, 0xFFFFFFFF), cd_offset, 0)
    record = struct.pack("<4sQ2H2I4Q", b"PK\x06\x06", 44, 45, 45, 0, 0, members, members, cd_size, cd_offset)
    locator = struct.pack("<4sIQI", b"PK\x06\x07", 0, at, 1)
    end = struct.pack("<4s4H2IH", b"PK\x05\x06", 0, 0, 0xFFFF, 0xFFFF, 0xFFFFFFFF, 0xFFFFFFFF, 0)
    return data[:at] + record + locator + end


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


def member_list_bomb(cd_bytes: int) -> bytes:
    """One real member, then a central directory of ``cd_bytes`` of minimal entries all
    pointing at it, behind an end record claiming a single member (zipfile builds an
    object of ~550 bytes per 50-byte entry)."""
    name, data = b"META-INF/MANIFEST.MF", b"Manifest-Version: 1.0\n"
    crc = zlib.crc32(data)
    local = struct.pack("<4s5H3I2H", b"PK\x03\x04", 20, 0, 0, 0, 0, crc, len(data), len(data), len(name), 0)
    entries, size, i = [], 0, 0
    while size < cd_bytes:
        n = b"%x" % i
        entries.append(struct.pack("<4s6H3I5H2I", b"PK\x01\x02", 20, 20, 0, 0, 0, 0, crc, len(data), len(data),
                                   len(n), 0, 0, 0, 0, 0, 0) + n)
        size, i = size + len(entries[-1]), i + 1
    directory = b"".join(entries)
    end = struct.pack("<4s4H2IH", b"PK\x05\x06", 0, 0, 1, 1, len(directory), len(local) + len(name) + len(data), 0)
    return local + name + data + directory + end


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
    headers = "".join(f"Classifier: Topic :: Generated :: {i}\n" for i in range(200_000))
    text = f"Metadata-Version: 2.1\n{headers}Name: late-name\nVersion: 3.1\n\nbody\n"
    rootfs = tmp_path / "rootfs"
    meta = rootfs / "usr/lib/python3/site-packages/late_name-3.1.dist-info/METADATA"
    meta.parent.mkdir(parents=True)
    meta.write_text(text)
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
