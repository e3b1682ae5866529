"""rpm analyzer: corpus databases (BDB, NDB, SQLite), databases built here, hostile input."""

from __future__ import annotations

import random
import sqlite3
import struct
from pathlib import Path

import pytest
from packageurl import PackageURL

from layerscan.analyzers.os.rpm import RpmAnalyzer, split_source_rpm
from layerscan.analyzers.os.rpm import header as tags
from layerscan.analyzers.os.rpm.header import HeaderError, parse_header
from layerscan.analyzers.os.rpm.package import header_package
from layerscan.model import Package
from os_analyzer_helpers import case_files, corpus_cases, find, full_version, load_case, run_analyzer


def _version_matches(pkg: Package, expected: dict) -> bool:
    """Full [epoch:]version-release; syft's table also lists its metadata view
    of the same package (Version without Release), which is our upstream part."""
    version = full_version(expected)
    evr = pkg.version.split(":", 1)[-1]
    return version in (pkg.version, evr, evr.rsplit("-", 1)[0])


@pytest.mark.parametrize("case", corpus_cases("rpm"))
def test_corpus_rpm(corpus: Path, case: str) -> None:
    case_dir, expected = load_case(corpus, "rpm", case)
    results = run_analyzer(RpmAnalyzer(), case_files(case_dir))
    assert results, "no rpm database was wanted"
    assert not [u for r in results for u in r.unknowns]
    packages = [p for r in results for p in r.packages]
    for want in expected["packages"]:
        found = [p for p in find(packages, want["name"]) if _version_matches(p, want)]
        assert found, f"{want['name']} {want['version']} not found"
        pkg = found[0]
        if want.get("arch"):
            assert pkg.arch == want["arch"]
        if want.get("source_rpm"):
            # SOURCERPM round trip: name-version-release.src.rpm from our source fields.
            src_evr = pkg.src_version.split(":", 1)[-1]
            assert f"{pkg.src_name}-{src_evr}.src.rpm" == want["source_rpm"]
    if not expected.get("partial"):
        assert {p.name for p in packages} == {w["name"] for w in expected["packages"]}


def test_peer_fields_license_and_vendor(corpus: Path) -> None:
    case_dir, expected = load_case(corpus, "rpm", "rpmdb-sle15-bci-ndb")
    packages = {p.name: p for r in run_analyzer(RpmAnalyzer(), case_files(case_dir)) for p in r.packages}
    for peer in expected["peer_fields"]:
        pkg = packages[peer["Name"]]
        assert pkg.licenses == (peer["License"],)
        assert dict(pkg.extra).get("vendor", "") == peer["Vendor"]
        purl = PackageURL.from_string(pkg.purl)
        assert (purl.type, purl.namespace, purl.name) == ("rpm", "redhat", pkg.name)
        assert purl.version == f"{peer['Version']}-{peer['Release']}"


# --- databases built by the tests -------------------------------------------------


def build_header(fields: dict[int, tuple[int, object]]) -> bytes:
    entries, store = [], bytearray()
    for tag, (typ, value) in sorted(fields.items()):
        if typ == tags.INT32:
            store += b"\x00" * (-len(store) % 4)
            values = list(value)  # type: ignore[call-overload]
            entries.append((tag, typ, len(store), len(values)))
            store += struct.pack(f">{len(values)}i", *values)
        elif typ == tags.STRING:
            entries.append((tag, typ, len(store), 1))
            store += str(value).encode() + b"\x00"
        else:
            values = list(value)  # type: ignore[call-overload]
            entries.append((tag, typ, len(store), len(values)))
            store += b"".join(v.encode() + b"\x00" for v in values)
    index = b"".join(struct.pack(">iIiI", *e) for e in entries)
    return struct.pack(">ii", len(entries), len(store)) + index + bytes(store)


def package_header(name: str, version: str, release: str, epoch: int | None = None, files: tuple[str, ...] = ()) -> bytes:
    fields: dict[int, tuple[int, object]] = {
        tags.NAME: (tags.STRING, name),
        tags.VERSION: (tags.STRING, version),
        tags.RELEASE: (tags.STRING, release),
        tags.ARCH: (tags.STRING, "x86_64"),
        tags.SOURCERPM: (tags.STRING, f"{name}-src-{version}-{release}.src.rpm"),
        tags.LICENSE: (tags.STRING, "MIT"),
    }
    if epoch is not None:
        fields[tags.EPOCH] = (tags.INT32, [epoch])
    if files:
        dirs = sorted({f.rsplit("/", 1)[0] + "/" for f in files})
        fields[tags.DIRNAMES] = (tags.STRING_ARRAY, dirs)
        fields[tags.BASENAMES] = (tags.STRING_ARRAY, [f.rsplit("/", 1)[1] for f in files])
        fields[tags.DIRINDEXES] = (tags.INT32, [dirs.index(f.rsplit("/", 1)[0] + "/") for f in files])
    return build_header(fields)


def build_ndb(blobs: list[bytes]) -> bytes:
    out = bytearray(b"RpmP" + struct.pack("<IIII", 0, 1, 1, len(blobs) + 1) + b"\x00" * 12)
    out += b"\x00" * (4096 - len(out))
    data = bytearray()
    for index, blob in enumerate(blobs, start=1):
        block = (4096 + len(data)) // 16
        record = b"BlbS" + struct.pack("<III", index, 0, len(blob)) + blob
        record += b"\x00" * (-len(record) % 16)
        struct.pack_into("<4sIII", out, 32 + (index - 1) * 16, b"Slot", index, block, len(record) // 16)
        data += record
    return bytes(out + data)


PAGE = 512


def _page_header(pgno: int, next_pgno: int, entries: int, hf_offset: int, page_type: int, order: str = "<") -> bytearray:
    page = bytearray(PAGE)
    struct.pack_into(f"{order}IIIHH", page, 8, pgno, 0, next_pgno, entries, hf_offset)
    page[25] = page_type
    return page


def build_bdb(blobs: list[bytes], order: str = "<") -> bytes:
    """A BerkeleyDB hash file in the given byte order: one hash page per value, each on overflow pages."""
    pages: list[bytearray] = [bytearray(PAGE)]
    for key, blob in enumerate(blobs, start=1):
        hash_pgno = len(pages)
        chunks = [blob[i : i + PAGE - 26] for i in range(0, len(blob), PAGE - 26)]
        first_overflow = hash_pgno + 1
        page = _page_header(hash_pgno, 0, 2, 0, 13, order)
        key_off, data_off = PAGE - 5, PAGE - 5 - 12
        page[key_off] = 1
        struct.pack_into(f"{order}I", page, key_off + 1, key)
        page[data_off] = 3
        struct.pack_into(f"{order}II", page, data_off + 4, first_overflow, len(blob))
        struct.pack_into(f"{order}HH", page, 26, key_off, data_off)
        pages.append(page)
        for i, chunk in enumerate(chunks):
            pgno = first_overflow + i
            next_pgno = pgno + 1 if i + 1 < len(chunks) else 0
            overflow = _page_header(pgno, next_pgno, 1, len(chunk), 7, order)
            overflow[26 : 26 + len(chunk)] = chunk
            pages.append(overflow)
    meta = pages[0]
    struct.pack_into(f"{order}IIIBB", meta, 12, 0x061561, 9, PAGE, 0, 8)
    struct.pack_into(f"{order}I", meta, 32, len(pages) - 1)
    return b"".join(bytes(p) for p in pages)


def build_sqlite(tmp_path: Path, blobs: list[bytes]) -> bytes:
    db = tmp_path / "rpmdb.sqlite"
    con = sqlite3.connect(db)
    con.execute("CREATE TABLE Packages (hnum INTEGER PRIMARY KEY AUTOINCREMENT, blob BLOB NOT NULL)")
    con.executemany("INSERT INTO Packages (blob) VALUES (?)", [(b,) for b in blobs])
    con.execute("PRAGMA journal_mode = WAL")
    con.commit()
    con.close()
    return db.read_bytes()


BLOBS = [
    package_header("openssl-libs", "1.1.1k", "5.el8", epoch=1, files=("/usr/lib64/libssl.so.1.1", "/usr/lib64/libcrypto.so.1.1")),
    package_header("bash", "4.4.20", "4.el8", files=("/usr/bin/bash",)),
    build_header({tags.NAME: (tags.STRING, "gpg-pubkey"), tags.VERSION: (tags.STRING, "fd431d51")}),
]


def _check_built(result_packages: tuple[Package, ...]) -> None:
    by_name = {p.name: p for p in result_packages}
    assert set(by_name) == {"openssl-libs", "bash"}  # gpg-pubkey pseudo-package skipped
    ssl = by_name["openssl-libs"]
    assert (ssl.version, ssl.src_name, ssl.src_version) == ("1:1.1.1k-5.el8", "openssl-libs-src", "1:1.1.1k-5.el8")
    assert ssl.installed_files == ("usr/lib64/libssl.so.1.1", "usr/lib64/libcrypto.so.1.1")
    assert ssl.purl == "pkg:rpm/redhat/openssl-libs@1.1.1k-5.el8?arch=x86_64&epoch=1"
    assert by_name["bash"].version == "4.4.20-4.el8"


def test_built_ndb() -> None:
    result = RpmAnalyzer().analyze("usr/lib/sysimage/rpm/Packages.db", build_ndb(BLOBS))
    assert not result.unknowns
    _check_built(result.packages)


@pytest.mark.parametrize("order", ["<", ">"])
def test_built_bdb(order: str) -> None:
    result = RpmAnalyzer().analyze("var/lib/rpm/Packages", build_bdb(BLOBS, order))
    assert not result.unknowns
    _check_built(result.packages)


def test_built_sqlite_in_wal_mode(tmp_path: Path) -> None:
    result = RpmAnalyzer().analyze("var/lib/rpm/rpmdb.sqlite", build_sqlite(tmp_path, BLOBS))
    assert not result.unknowns
    _check_built(result.packages)


@pytest.mark.parametrize(
    ("source_rpm", "expected"),
    [
        ("openssl-1.1.1k-5.el8.src.rpm", ("openssl", "1.1.1k", "5.el8")),
        ("gcc11-11.2.1+git610-1.3.9.src.rpm", ("gcc11", "11.2.1+git610", "1.3.9")),
        ("foo-1.0-1.nosrc.rpm", ("foo", "1.0", "1")),
        ("(none)", None),
        ("noversion.src.rpm", None),
    ],
)
def test_split_source_rpm(source_rpm: str, expected: tuple[str, str, str] | None) -> None:
    assert split_source_rpm(source_rpm) == expected


# --- hostile input ------------------------------------------------------------------


def test_truncated_header_is_an_unknown_and_others_are_kept() -> None:
    blobs = [BLOBS[0][: len(BLOBS[0]) // 2], BLOBS[1]]
    result = RpmAnalyzer().analyze("usr/lib/sysimage/rpm/Packages.db", build_ndb(blobs))
    assert [p.name for p in result.packages] == ["bash"]
    assert len(result.unknowns) == 1 and "truncated" in result.unknowns[0].reason


@pytest.mark.parametrize(
    "blob",
    [
        struct.pack(">ii", 0x7FFFFFFF, 16) + b"\x00" * 64,  # absurd index count
        struct.pack(">ii", 1, 0x7FFFFFF0) + b"\x00" * 64,  # absurd data length
        build_header({tags.NAME: (tags.STRING_ARRAY, ["a"])})[:8]
        + struct.pack(">iIiI", tags.NAME, tags.STRING_ARRAY, 0, 10**9)
        + b"a\x00",  # huge string count
        build_header({tags.NAME: (tags.STRING, "x"), tags.VERSION: (tags.STRING, "1")})[:-1] + b"!",  # unterminated
    ],
)
def test_bad_headers_raise_header_error_only(blob: bytes) -> None:
    with pytest.raises(HeaderError):
        header_package(parse_header(blob), "var/lib/rpm/Packages")


def test_bdb_overflow_loop_is_detected() -> None:
    data = bytearray(build_bdb(BLOBS[:1]))
    # Point the last overflow page back at the first one, and claim a longer value.
    last = len(data) // PAGE - 1
    struct.pack_into("<I", data, last * PAGE + 16, 2)
    struct.pack_into("<I", data, PAGE + PAGE - 5 - 12 + 8, len(data) - 1)
    result = RpmAnalyzer().analyze("var/lib/rpm/Packages", bytes(data))
    assert not result.packages
    assert "loops" in result.unknowns[0].reason


def test_bdb_page_numbers_outside_the_file() -> None:
    data = bytearray(build_bdb(BLOBS[:1]))
    struct.pack_into("<I", data, 32, 0xFFFFFFFF)  # last_pgno far beyond the file
    struct.pack_into("<I", data, PAGE + PAGE - 5 - 12 + 4, 10**6)  # overflow page beyond the file
    result = RpmAnalyzer().analyze("var/lib/rpm/Packages", bytes(data))
    assert not result.packages and "outside the file" in result.unknowns[0].reason


def test_ndb_slot_outside_the_file() -> None:
    data = bytearray(build_ndb(BLOBS[:2]))
    struct.pack_into("<I", data, 32 + 8, 10**8)  # first slot's block offset
    result = RpmAnalyzer().analyze("usr/lib/sysimage/rpm/Packages.db", bytes(data))
    assert len(result.unknowns) == 1 and "outside the file" in result.unknowns[0].reason


def test_random_and_corrupted_databases_never_raise(tmp_path: Path) -> None:
    rng = random.Random(99)
    samples = [bytes(rng.getrandbits(8) for _ in range(4096)), b"", b"RpmP", b"SQLite format 3\x00" + b"\x00" * 100]
    for base in (build_bdb(BLOBS), build_ndb(BLOBS), build_sqlite(tmp_path, BLOBS)):
        for _ in range(30):
            damaged = bytearray(base)
            for _ in range(20):
                damaged[rng.randrange(len(damaged))] = rng.getrandbits(8)
            samples.append(bytes(damaged))
    for sample in samples:
        result = RpmAnalyzer().analyze("var/lib/rpm/Packages", sample)
        assert len(result.unknowns) <= 50
        assert all(p.name and p.version for p in result.packages)


def test_wanted_paths() -> None:
    analyzer = RpmAnalyzer()
    for path in ("var/lib/rpm/Packages", "var/lib/rpm/rpmdb.sqlite", "usr/lib/sysimage/rpm/Packages.db"):
        assert analyzer.wants(path, 0o100644, 1)
    for path in ("var/lib/rpm/Name", "var/lib/rpm/__db.001", "opt/var/lib/rpm/Packages", "var/lib/rpm/rpmdb.sqlite-wal"):
        assert not analyzer.wants(path, 0o100644, 1)
    assert RpmAnalyzer.max_file_size >= 512 * 1024 * 1024
