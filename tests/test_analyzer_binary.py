"""Binary classifiers (``layerscan.analyzers.binary``) on real binaries.

The binaries are this machine's (python3.X, libpython3.X.so, perl, openssl, libcrypto,
curl, libcurl, node, a JDK's ``release`` and ``libjvm.so``) and, when ``apt-get download``
works here, those of Debian packages unpacked with ``dpkg-deb -x`` (busybox, nginx, httpd,
php, ruby, haproxy, postgres, mariadb). The expected version is what ``dpkg-query -W`` (or
the .deb's control ``Version``) says, upstream part; nothing is typed here. A binary that
is absent skips its case.

Images are built here (tests/imagebuild.py): a distroless-style image holds the binaries and
no package database (each runtime found, purl and evidence), the same with a dpkg database
owning one of them (reported once, as the deb), and the end-of-life view names the python
runtime from the binary. Hostile: a 300 MiB sparse ``python3.11`` (bounded reads, no match)
and version strings where the signatures do not put them.
"""

from __future__ import annotations

import io
import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from imagebuild import OS_RELEASE, LayerSpec, build_image, file

from layerscan.analyzers import all_analyzers
from layerscan.analyzers.base import MiB
from layerscan.analyzers.binary.classifiers import CLASSIFIERS
from layerscan.analyzers.binary.engine import (WINDOW, BinaryClassifierAnalyzer, bytes_reader, classify,
                                               classifiers_for, search, stream_reader)
from layerscan.analyzers.index import AnalyzerIndex
from layerscan.match.lifecycle import find_runtimes
from test_cli_main import run_cli

ANALYZER = BinaryClassifierAnalyzer()
EXEC, LIB = 0o755, 0o644

# this machine's binaries: image path, host path, product, mode
HOST = [
    ("usr/bin/python3.11", "/usr/bin/python3.11", "python", EXEC),
    ("usr/lib/x86_64-linux-gnu/libpython3.11.so.1.0", "/usr/lib/x86_64-linux-gnu/libpython3.11.so.1.0", "python",
     LIB),
    ("usr/bin/perl", "/usr/bin/perl", "perl", EXEC),
    ("usr/bin/openssl", "/usr/bin/openssl", "openssl", EXEC),
    ("usr/lib/x86_64-linux-gnu/libcrypto.so.3", "/usr/lib/x86_64-linux-gnu/libcrypto.so.3", "openssl", LIB),
    ("usr/bin/curl", "/usr/bin/curl", "curl", EXEC),
    ("usr/lib/x86_64-linux-gnu/libcurl.so.4", "/usr/lib/x86_64-linux-gnu/libcurl.so.4", "curl", LIB),
]
HOST_LARGE = [  # unit tests only (too large to pack into a test image every run)
    ("usr/bin/node", "/usr/bin/node", "node", EXEC),
    ("usr/lib/jvm/java-17-openjdk-amd64/release", "/usr/lib/jvm/java-17-openjdk-amd64/release", "openjdk", LIB),
    ("usr/lib/jvm/java-17-openjdk-amd64/lib/server/libjvm.so",
     "/usr/lib/jvm/java-17-openjdk-amd64/lib/server/libjvm.so", "openjdk", LIB),
]
# Debian packages: package, glob of the file inside it, image path, product
DEBS = [
    ("busybox-static", "bin/busybox", "usr/bin/busybox", "busybox"),
    ("nginx", "usr/sbin/nginx", "usr/sbin/nginx", "nginx"),
    ("apache2-bin", "usr/sbin/apache2", "usr/sbin/apache2", "httpd"),
    ("php8.2-cli", "usr/bin/php8.*", "usr/bin/php8.2", "php"),
    ("libruby3.1", "usr/lib/x86_64-linux-gnu/libruby-3.1.so.3.*", "usr/lib/x86_64-linux-gnu/libruby-3.1.so.3.1",
     "ruby"),
    ("haproxy", "usr/sbin/haproxy", "usr/sbin/haproxy", "haproxy"),
    ("postgresql-15", "usr/lib/postgresql/15/bin/postgres", "usr/lib/postgresql/15/bin/postgres", "postgresql"),
    ("mariadb-server-core", "usr/sbin/mariadbd", "usr/sbin/mariadbd", "mariadb"),
]
IMAGE_DEBS = ("busybox-static", "nginx", "php8.2-cli", "libruby3.1")


def upstream(version: str) -> str:
    """The upstream version of a Debian version: "1:1.35.0-4+deb12u1+b1" -> "1.35.0",
    "3.1.7+really3.1.2-0+deb12u1" -> "3.1.2", "17.0.15+6-1~deb12u1" -> "17.0.15"."""
    text = version.split(":", 1)[1] if ":" in version else version
    text = text.rsplit("-", 1)[0] if "-" in text else text
    text = text.split("+really", 1)[-1]
    return re.split(r"[+~]", text, maxsplit=1)[0]


def dpkg_version(path: str) -> str:
    """The upstream version of the installed Debian package owning ``path`` ("" when none)."""
    if not shutil.which("dpkg-query"):
        return ""
    owner = subprocess.run(["dpkg", "-S", path], capture_output=True, text=True)
    if owner.returncode != 0:
        return ""
    package = owner.stdout.split(":", 1)[0].split(",")[0].strip()
    query = subprocess.run(["dpkg-query", "-W", "-f=${Version}", package], capture_output=True, text=True)
    return upstream(query.stdout.strip()) if query.returncode == 0 else ""


def host_binary(host: str) -> tuple[bytes, str]:
    path = Path(host)
    if not path.is_file():
        pytest.skip(f"{host} is not on this machine")
    expected = dpkg_version(host)
    if not expected:
        pytest.skip(f"no Debian package owns {host}")
    return path.read_bytes(), expected


@pytest.fixture(scope="session")
def debs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, str]]:
    """package -> (unpacked root, upstream version), from ``apt-get download`` (skipped when it fails)."""
    if not (shutil.which("apt-get") and shutil.which("dpkg-deb")):
        pytest.skip("apt-get / dpkg-deb are not available")
    work = tmp_path_factory.mktemp("debs")
    names = [d[0] for d in DEBS]
    proc = subprocess.run(["apt-get", "download", *names], cwd=work, capture_output=True, text=True, timeout=300)
    out: dict[str, tuple[Path, str]] = {}
    for deb in sorted(work.glob("*.deb")):
        control = subprocess.run(["dpkg-deb", "-f", str(deb), "Package", "Version"], capture_output=True, text=True,
                                 check=True).stdout
        fields = dict(line.split(": ", 1) for line in control.splitlines() if ": " in line)
        root = work / fields["Package"]
        subprocess.run(["dpkg-deb", "-x", str(deb), str(root)], check=True)
        out[fields["Package"]] = (root, upstream(fields["Version"]))
    if not out:
        pytest.skip(f"apt-get download failed here: {proc.stderr.strip()[:200]}")
    return out


def deb_binary(debs: dict[str, tuple[Path, str]], package: str, pattern: str) -> tuple[bytes, str]:
    if package not in debs:
        pytest.skip(f"{package} could not be downloaded")
    root, version = debs[package]
    found = sorted(p for p in root.glob(pattern) if p.is_file() and not p.is_symlink())
    if not found:
        pytest.skip(f"{package} has no {pattern}")
    return found[0].read_bytes(), version


def _one(path: str, data: bytes):
    packages = ANALYZER.analyze(path, data).packages
    assert len(packages) == 1, (path, packages)
    return packages[0]


def _assert_package(pkg, path: str, product: str, version: str) -> None:
    assert (pkg.name, pkg.version, pkg.type) == (product, version, "generic")
    assert pkg.purl == f"pkg:generic/{product}@{version}"
    assert pkg.file_path == path and pkg.found_by == "binary-classifier"
    assert version in pkg.evidence and "at offset" in pkg.evidence
    assert dict(pkg.extra)["binary_product"] == product


# ---- real binaries, one by one ---------------------------------------------------------------

@pytest.mark.parametrize(("path", "host", "product", "mode"), HOST + HOST_LARGE,
                         ids=[h[0].rsplit("/", 1)[-1] for h in HOST + HOST_LARGE])
def test_host_binary_is_identified(path: str, host: str, product: str, mode: int) -> None:
    data, expected = host_binary(host)
    assert ANALYZER.wants(path, 0o100000 | mode, len(data))
    _assert_package(_one(path, data), path, product, expected)


def test_host_python_agrees_with_its_version_flag() -> None:
    data, _ = host_binary("/usr/bin/python3.11")
    said = subprocess.run(["/usr/bin/python3.11", "--version"], capture_output=True, text=True).stdout.split()[1]
    assert _one("usr/bin/python3.11", data).version == said


@pytest.mark.parametrize(("package", "pattern", "path", "product"), DEBS, ids=[d[0] for d in DEBS])
def test_debian_package_binary_is_identified(debs, package: str, pattern: str, path: str, product: str) -> None:
    data, expected = deb_binary(debs, package, pattern)
    assert ANALYZER.wants(path, 0o100755, len(data))
    _assert_package(_one(path, data), path, product, expected)


def test_stream_and_bytes_agree() -> None:
    data, _ = host_binary("/usr/lib/x86_64-linux-gnu/libpython3.11.so.1.0")
    path = "usr/lib/x86_64-linux-gnu/libpython3.11.so.1.0"
    assert ANALYZER.analyze_stream(path, io.BytesIO(data)).packages == ANALYZER.analyze(path, data).packages


def test_go_version_file_is_the_toolchain() -> None:
    """GOROOT/VERSION (go1.21+: the version line, then "time ..."): Go's stdlib, matched in Go."""
    data = b"go1.21.1\ntime 2023-08-08T16:51:36Z\n"
    pkg = _one("usr/local/go/VERSION", data)
    assert (pkg.type, pkg.name, pkg.version, pkg.purl) == ("golang", "stdlib", "v1.21.1", "pkg:golang/stdlib@v1.21.1")
    assert [r.version for r in find_runtimes(None, [pkg])] == ["1.21.1"]
    assert ANALYZER.analyze("srv/app/VERSION", data).packages == ()  # not a GOROOT


# ---- the walker's index offers only the files the table names --------------------------------

def test_only_named_files_are_offered() -> None:
    index = AnalyzerIndex(all_analyzers())
    offered = lambda path: ANALYZER.name in [a.name for a in index.candidates(path, 0o100644)  # noqa: E731
                                             if a.wants(path, 0o100644, 100)]
    for path in ("usr/bin/python3.11", "usr/local/bin/python", "usr/lib/x86_64-linux-gnu/libpython3.11.so.1.0", "usr/sbin/nginx",
                 "usr/lib/x86_64-linux-gnu/libcrypto.so.3", "usr/lib/jvm/temurin-21/release", "usr/local/go/VERSION",
                 "usr/lib/x86_64-linux-gnu/libruby-3.1.so.3.1", "usr/bin/php8.2", "usr/bin/perl5.36.0"):
        assert offered(path), path
    for path in ("usr/bin/python3.11-config", "usr/share/doc/python3.11/README", "etc/release", "usr/bin/nginx.conf",
                 "usr/lib/libsslx.so", "app/VERSION", "usr/bin/pythonista", "usr/bin/ls"):
        assert not offered(path), path
    for c in CLASSIFIERS:  # every declared index key is one the names pattern accepts (no dead entries)
        for name in c.index_names:
            assert c.name_match(name), (c.product, name)


# ---- images: distroless-style (no package database), and with dpkg owning a binary ----------

def _image_entries(debs: dict[str, tuple[Path, str]] | None) -> tuple[list, dict[str, tuple[str, str]]]:
    entries = [file("etc/os-release", OS_RELEASE)]
    expected: dict[str, tuple[str, str]] = {}
    for path, host, product, mode in HOST:
        if Path(host).is_file() and dpkg_version(host):
            entries.append(file(path, Path(host).read_bytes(), mode))
            expected[path] = (product, dpkg_version(host))
    for package, pattern, path, product in DEBS:
        if debs and package in debs and package in IMAGE_DEBS:
            found = sorted(p for p in debs[package][0].glob(pattern) if p.is_file() and not p.is_symlink())
            if found:
                entries.append(file(path, found[0].read_bytes(), EXEC))
                expected[path] = (product, debs[package][1])
    return entries, expected


def _packages(doc: dict) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {}
    for result in doc.get("Results", []):
        for pkg in result.get("Packages", []):
            out.setdefault(pkg.get("FilePath", ""), []).append({**pkg, "Type": result["Type"]})
    return out


def _scan(work: Path, *args: str) -> dict:
    proc = run_cli(*args, "-f", "json", "--list-all-pkgs", "--scanners", "none", "--no-cache", cwd=work)
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    return json.loads(proc.stdout)


def _distroless(work: Path, debs: dict[str, tuple[Path, str]] | None) -> dict[str, tuple[str, str]]:
    """A distroless-style image (os-release, the binaries, no package database) as work/app.tar."""
    entries, expected = _image_entries(debs)
    if not expected:
        pytest.skip("none of the binaries is on this machine")
    image = build_image([LayerSpec(entries, created_by="COPY runtimes /", compression="zstd")])
    image.write_docker_archive(work / "app.tar", "app:1")
    return expected


@pytest.fixture(scope="module")
def distroless(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, tuple[str, str]]]:
    """The image with this machine's binaries (installed from Debian packages)."""
    work = tmp_path_factory.mktemp("distroless")
    return work, _distroless(work, None)


def test_distroless_image_runtimes_are_found(distroless) -> None:
    _assert_image_runtimes(*distroless)


def test_distroless_image_with_debian_package_binaries(debs, tmp_path: Path) -> None:
    expected = _distroless(tmp_path, debs)
    assert {"usr/bin/busybox", "usr/sbin/nginx"} & set(expected), "no downloaded binary made it into the image"
    _assert_image_runtimes(tmp_path, expected)


def _assert_image_runtimes(work: Path, expected: dict[str, tuple[str, str]]) -> None:
    doc = _scan(work, "image", "--input", "app.tar")
    packages = _packages(doc)
    for path, (product, version) in expected.items():
        found = packages.get(path, [])
        assert [(p["Name"], p["Version"], p["Identifier"]["PURL"], p["Type"]) for p in found] == [
            (product, version, f"pkg:generic/{product}@{version}", "binary")], path
    assert [r["Type"] for r in doc["Results"] if r.get("Packages")] == ["binary"] * len(expected)  # no OS packages


def test_dpkg_owned_binary_is_reported_once(tmp_path: Path) -> None:
    data, version = host_binary("/usr/bin/python3.11")
    lib = Path("/usr/lib/x86_64-linux-gnu/libpython3.11.so.1.0")
    deb_version = subprocess.run(["dpkg-query", "-W", "-f=${Version}", "python3.11"], capture_output=True,
                                 text=True).stdout.strip()
    status = (f"Package: python3.11\nStatus: install ok installed\nArchitecture: amd64\n"
              f"Version: {deb_version}\nSource: python3.11\n\n")
    entries = [file("etc/os-release", OS_RELEASE), file("var/lib/dpkg/status", status),
               file("var/lib/dpkg/info/python3.11.list", "/.\n/usr\n/usr/bin\n/usr/bin/python3.11\n"),
               file("usr/bin/python3.11", data, EXEC), file(str(lib).lstrip("/"), lib.read_bytes(), LIB)]
    build_image([LayerSpec(entries)]).write_docker_archive(tmp_path / "owned.tar", "owned:1")
    packages = _packages(_scan(tmp_path, "image", "--input", "owned.tar"))
    pythons = [(path, p["Name"], p["Version"]) for path, found in packages.items() for p in found
               if "python" in p["Name"]]
    assert sorted(pythons) == sorted([("var/lib/dpkg/status", "python3.11", upstream(deb_version)),
                                      (str(lib).lstrip("/"), "python", version)]), pythons


def test_rootfs_scan_finds_the_runtime(tmp_path: Path) -> None:
    data, version = host_binary("/usr/bin/python3.11")
    (tmp_path / "root/usr/local/bin").mkdir(parents=True)
    (tmp_path / "root/usr/local/bin/python3.11").write_bytes(data)
    packages = _packages(_scan(tmp_path, "rootfs", "root"))
    assert [(p["Name"], p["Version"]) for p in packages["usr/local/bin/python3.11"]] == [("python", version)]


# ---- end of life from the binary --------------------------------------------------------------

def test_quickview_names_the_python_runtime_from_the_binary(distroless, corpus: Path) -> None:
    from test_remediate_cli import EOL_DIR, expected_eol

    work, expected = distroless
    if "usr/bin/python3.11" not in expected:
        pytest.skip("python3.11 is not on this machine")
    proc = run_cli("db", "import", str(corpus / EOL_DIR), "-q", cwd=work)
    assert proc.returncode == 0, proc.stderr
    proc = run_cli("quickview", "--input", "app.tar", "-f", "json", cwd=work)
    assert proc.returncode == 0, proc.stderr
    version = expected["usr/bin/python3.11"][1]
    entries = [e for e in json.loads(proc.stdout)["EndOfLife"] if (e["Kind"], e["Name"]) == ("runtime", "python")]
    assert [e["Cycle"] for e in entries] == ["3.11"], entries
    assert f"binary usr/bin/python3.11 {version}" in entries[0]["Evidence"]
    ended, date = expected_eol(corpus, "python", "3.11", False)
    assert entries[0]["State"] == ("eol" if ended else "supported") and entries[0]["EOL"] == date


# ---- hostile ----------------------------------------------------------------------------------

def overlap(classifier) -> int:
    """The most bytes a window reads beyond its own (the signatures' context)."""
    sigs = classifier.signatures
    return max(s.before for s in sigs) + max(len(s.needle) + s.after for s in sigs)


class CountingReader:
    def __init__(self, read) -> None:
        self._read, self.bytes, self.calls = read, 0, 0

    def __call__(self, offset: int, size: int) -> bytes:
        data = self._read(offset, size)
        self.bytes += len(data)
        self.calls += 1
        return data


def test_huge_sparse_file_is_read_bounded_and_matches_nothing(tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / "usr/bin").mkdir(parents=True)
    huge = root / "usr/bin/python3.11"
    with huge.open("wb") as f:
        f.truncate(300 * MiB)
    huge.chmod(0o755)
    (classifier, line), = classifiers_for("usr/bin/python3.11")
    with huge.open("rb") as stream:
        reader = CountingReader(stream_reader(stream))
        assert search(reader, 300 * MiB, classifier, line) is None
    assert reader.bytes <= classifier.max_read + reader.calls * overlap(classifier)  # nothing more
    assert classifier.max_read < 300 * MiB
    packages = _packages(_scan(tmp_path, "rootfs", "root"))
    assert not [p for p in packages.get("usr/bin/python3.11", []) if p["Name"] == "python"]


@pytest.mark.parametrize(("path", "content"), [
    ("usr/bin/python3.11", b"\x7fELF" + b"Python 3.11.9 is not NUL-framed " * 8),
    ("usr/bin/python3.11", b"\x7fELF\x00\x003.12.1\x00 another line than the name's"),
    ("usr/bin/nginx", b"\x7fELF\x00\x003.11.2\x00 a python version in nginx"),
    ("usr/bin/notpython", b"\x00\x003.11.2\x00"),
    ("usr/bin/curl", b"curl/" * 300_000),  # needles everywhere, no version: MAX_HITS bounds the work
    ("usr/bin/haproxy", b"version 2.6.12" + b"x" * 200 + b", released 2026/10/17"),  # beyond the context
    ("etc/release", b'JAVA_VERSION="17.0.1"\n'),  # a release file outside any JDK directory
])
def test_version_strings_out_of_place_are_not_matched(path: str, content: bytes) -> None:
    assert ANALYZER.analyze(path, content).packages == ()


def test_needle_across_a_window_boundary_is_found() -> None:
    data = bytearray(3 * WINDOW)
    at = WINDOW - 3
    data[at:at + 12] = b"curl/8.1.2\x00\x00"
    pkg = _one("usr/bin/curl", bytes(data))
    assert pkg.version == "8.1.2" and f"at offset {at}" in pkg.evidence


def test_version_beyond_max_read_is_not_searched() -> None:
    (classifier, line), = classifiers_for("usr/bin/curl")
    size = classifier.max_read + 2 * MiB
    marker, at = b"curl/8.1.2\x00", classifier.max_read + MiB

    def read(offset: int, n: int) -> bytes:  # a huge virtual file: zeros with the string past max_read
        chunk = bytearray(min(n, size - offset))
        if offset <= at < offset + len(chunk):
            piece = marker[: offset + len(chunk) - at]
            chunk[at - offset: at - offset + len(piece)] = piece
        return bytes(chunk)

    reader = CountingReader(read)
    assert search(reader, size, classifier, line) is None
    assert reader.bytes <= classifier.max_read + reader.calls * overlap(classifier)
    assert classify("usr/bin/curl", size, read) == ()


def test_cyclonedx_carries_the_evidence_and_validates(tmp_path: Path) -> None:
    from test_report_schema import _cdx_validator, _errors

    data, version = host_binary("/usr/bin/python3.11")
    (tmp_path / "root/usr/bin").mkdir(parents=True)
    (tmp_path / "root/usr/bin/python3.11").write_bytes(data)
    proc = run_cli("rootfs", "root", "-f", "cyclonedx", "--scanners", "none", "--no-cache", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert _errors(_cdx_validator(), doc) == []
    (comp,) = [c for c in doc["components"] if c.get("purl") == f"pkg:generic/python@{version}"]
    assert comp["evidence"]["occurrences"] == [{"location": "/usr/bin/python3.11"}]
    (method,) = comp["evidence"]["identity"][0]["methods"]
    assert method["technique"] == "binary-analysis" and f"'{version}' at offset" in method["value"]


# ---- matching where a feed covers the package: Go's toolchain in the Go vulndb ------------------

def _semver_key(version: str) -> tuple[int, ...]:
    core, dash, _ = version.partition("-")
    parts = [int(x) for x in core.split(".")] + [0, 0, 0]
    return (*parts[:3], -1 if dash else 0)  # a pre-release sorts below its release


def _go_stdlib_ids(zip_path: Path, version: str) -> set[str]:
    """The Go vulndb records whose stdlib SEMVER ranges hold ``version`` (read from the data)."""
    import zipfile

    wanted, found = _semver_key(version), set()
    with zipfile.ZipFile(zip_path) as archive:
        for name in archive.namelist():
            if not name.endswith(".json"):
                continue
            record = json.loads(archive.read(name))
            if record.get("withdrawn"):
                continue
            for affected in record.get("affected", []):
                package = affected.get("package", {})
                if (package.get("ecosystem"), package.get("name")) != ("Go", "stdlib"):
                    continue
                for rng in affected.get("ranges", []):
                    inside = False
                    for event in rng.get("events", []):
                        if "introduced" in event:
                            inside = inside or (event["introduced"] == "0" or
                                                _semver_key(event["introduced"]) <= wanted)
                        if "fixed" in event and _semver_key(event["fixed"]) <= wanted:
                            inside = False
                    if rng.get("type") == "SEMVER" and inside:
                        found.add(record["id"])
    return found


def test_go_toolchain_version_file_is_matched_in_the_go_namespace(tmp_path: Path, corpus: Path) -> None:
    vulndb = corpus / "feeds/osv-go-vulndb/go-vulndb-osv.zip"
    if not vulndb.is_file():
        pytest.skip("the corpus has no Go vulndb")
    proc = run_cli("db", "import", str(vulndb), "-q", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    (tmp_path / "root/usr/local/go").mkdir(parents=True)
    (tmp_path / "root/usr/local/go/VERSION").write_text("go1.21.1\ntime 2023-08-08T16:51:36Z\n")
    proc = run_cli("rootfs", "root", "-f", "json", "--no-cache", "--skip-db-update", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    (result,) = [r for r in json.loads(proc.stdout)["Results"] if r["Target"] == "usr/local/go/VERSION"]
    reported = [{v["VulnerabilityID"], *v.get("Aliases", [])} for v in result["Vulnerabilities"]]
    expected = _go_stdlib_ids(vulndb, "1.21.1")
    assert expected and all(any(go_id in ids for ids in reported) for go_id in expected)
    assert all(ids & expected for ids in reported)
    assert {v["PkgName"] for v in result["Vulnerabilities"]} == {"stdlib"}
