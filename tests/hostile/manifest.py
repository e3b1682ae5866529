"""The hostile corpus: every case's input, the layerscan command line that reads it, the exit
codes accepted, what stderr or the JSON report must show, and its time and memory limits.

A case's ``build(dir)`` writes its input under ``dir`` (deterministically) and returns the CLI
arguments (``--cache-dir`` is added by whoever runs it); ``check`` says what is wrong with a
run's outcome (nothing, when it is the clear error or the recorded Unknown it should be).
"""

from __future__ import annotations

import bz2
import gzip
import json
import lzma
import tarfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from hostile import archives as ar
from hostile import feeds, jars, lockfiles, pkgdb, sboms
from hostile.blobs import MiB, noise, sha256

TIME_LIMIT = 60.0  # seconds: the child is killed past it
MEMORY_LIMIT_MIB = 512  # peak RSS (issue #16: "<= 512 MB on any single hostile input")
# layerscan's documented limits some cases sit at (docs/cli.md; benchmarks/README.md)
SBOM_MAX_VALUES = 2_000_000  # JSON values and keys in an SBOM
METADATA_MAX_BYTES = 16 * MiB  # a METADATA file larger is not read
BASE_PACKAGES = ("base-files", "libc6", "zlib1g")
DPKG = "var/lib/dpkg"


@dataclass(frozen=True)
class Case:
    name: str
    family: str
    build: Callable[[Path], list[str]]
    codes: tuple[int, ...] = (0,)
    words: tuple[str, ...] = ()  # stderr must name these (case-insensitive) when the exit code is not 0
    warns: tuple[str, ...] = ()  # stderr must name these whatever the exit code
    unknowns: tuple[str, ...] = ()  # the JSON report's Unknowns (reason @ path) must name these
    packages: tuple[str, ...] = ()  # ... and list these package names
    absent: tuple[str, ...] = ()  # ... and not these
    time_limit: float = TIME_LIMIT
    memory_limit_mib: int = MEMORY_LIMIT_MIB
    slow: bool = False  # large generated input (seconds to build, hundreds of MiB)
    xfail: str = ""  # a known product bug: why

    @property
    def reads_json(self) -> bool:
        return bool(self.unknowns or self.packages or self.absent)


def check(case: Case, rc: int, stdout: str, stderr: str) -> list[str]:
    """What is wrong with this outcome of ``case`` (an empty list: nothing)."""
    problems = []
    if rc not in case.codes:
        problems.append(f"exit code {rc}, expected one of {case.codes}")
    if "Traceback" in stderr:
        problems.append("a traceback on stderr")
    if rc in (2, 3) and "layerscan: error:" not in stderr:
        problems.append("no 'layerscan: error:' line")
    if rc == 4 and "layerscan: warning: layer " not in stderr:
        problems.append("no warning naming the layer left out")
    if rc != 0:
        problems += [f"stderr does not name {w!r}" for w in case.words if w.lower() not in stderr.lower()]
    problems += [f"no warning names {w!r}" for w in case.warns if w.lower() not in stderr.lower()]
    if case.reads_json and rc in (0, 4):
        try:
            report = json.loads(stdout)
        except ValueError:
            return [*problems, "stdout is not a JSON report"]
        results = report.get("Results", [])
        reasons = "\n".join(f"{u.get('Reason', '')} @ {u.get('Path', '')}"
                            for r in results for u in r.get("Unknowns", []))
        names = {p.get("Name") for r in results for p in r.get("Packages", [])}
        problems += [f"no Unknown names {w!r}" for w in case.unknowns if w not in reasons]
        problems += [f"package {n!r} not listed" for n in case.packages if n not in names]
        problems += [f"package {n!r} listed" for n in case.absent if n in names]
    return problems


# ---- command lines ----------------------------------------------------------------------------------

def image_args(path: Path) -> list[str]:
    return ["image", "--input", str(path), "--sbom-only", "-f", "json", "--no-progress", "--list-all-pkgs"]


def tree_args(mode: str, path: Path) -> list[str]:
    return [mode, str(path), "--sbom-only", "-f", "json", "--no-progress", "--list-all-pkgs"]


def sbom_args(path: Path) -> list[str]:
    return ["sbom", str(path), "-f", "json", "--no-progress", "--scanners", "none", "--list-all-pkgs"]


def base_tar(*extra: ar.Member) -> bytes:
    return ar.tar_of([ar.member("etc", kind=tarfile.DIRTYPE), ar.member(DPKG, kind=tarfile.DIRTYPE),
                      *debian_members(), *extra])


def debian_members(dpkg_dir: str = DPKG) -> list[ar.Member]:
    """The Debian base's os-release and dpkg status (at ``dpkg_dir``)."""
    return [ar.member("etc/os-release", pkgdb.OS_RELEASE.encode()),
            ar.member(f"{dpkg_dir}/status", pkgdb.DPKG_STATUS_BASE.encode())]


def debian_with(status: bytes) -> dict[str, bytes | str]:
    """os-release and the dpkg status ``status``."""
    return {"etc/os-release": pkgdb.OS_RELEASE, f"{DPKG}/status": status}


def in_image(files: Callable[[], dict[str, bytes | str]], base: bool = True) -> Callable[[Path], list[str]]:
    """An image of the Debian base (gzip) and one plain layer of the ``files()``."""
    def build(d: Path) -> list[str]:
        tars = [base_tar(), ar.files_tar(files())] if base else [ar.files_tar(files())]
        return image_args(ar.layered_archive(d / "image.tar", tars, (True,)))
    return build


def archive_of(make: Callable[[Path], Path]) -> Callable[[Path], list[str]]:
    return lambda d: image_args(make(d / "image.tar"))


def oci_of(make: Callable[[Path], Path]) -> Callable[[Path], list[str]]:
    return lambda d: image_args(make(d / "oci"))


def in_tree(mode: str, files: Callable[[], dict[str, bytes]]) -> Callable[[Path], list[str]]:
    def build(d: Path) -> list[str]:
        root = d / mode
        for name, data in files().items():
            (root / name).parent.mkdir(parents=True, exist_ok=True)
            (root / name).write_bytes(data)
        return tree_args(mode, root)
    return build


def sbom_file(name: str, data: Callable[[Path], Path]) -> Callable[[Path], list[str]]:
    return lambda d: sbom_args(data(d / name))


def written(data: bytes) -> Callable[[Path], Path]:
    def write(path: Path) -> Path:
        path.write_bytes(data)
        return path
    return write


# ---- the families ------------------------------------------------------------------------------------

def _tiny() -> bytes:
    return ar.files_tar({"etc/hostname": b"evil\n"})


def _layer_with(kind: str, packer: Callable[[bytes], bytes]) -> Case:
    def make(path: Path) -> Path:
        base, extra = base_tar(), ar.files_tar({"etc/hostname": "box\n"})
        return ar.docker_archive(path, [base, packer(extra)], config=ar.config_for([sha256(base), sha256(extra)]))
    return Case(f"layer-{kind}", "archives", archive_of(make), (4,), ("layer 1", f"unsupported compression ({kind})"),
                packages=BASE_PACKAGES)


def _stacking(name: str, *replacement: ar.Member) -> Case:
    def make(path: Path) -> Path:
        return ar.layered_archive(path, [base_tar(), ar.tar_of(list(replacement))], (True,))
    return Case(f"stacking-{name}", "archives", archive_of(make), absent=BASE_PACKAGES)


def _truncated_gzip(path: Path) -> Path:
    tar = ar.files_tar({"etc/hostname": b"x" * 100_000})
    return ar.docker_archive(path, [base_tar(), gzip.compress(tar, mtime=0)[:-200]],
                             config=ar.config_for([sha256(base_tar()), sha256(tar)]))


def _lying_docker25(path: Path) -> Path:
    real = base_tar()
    return ar.docker25_archive(path, [gzip.compress(real, mtime=0)], [sha256(_tiny())])


def _bomb_layout(root: Path) -> Path:
    bomb = ar.gzip_bomb()
    return ar.oci_with_layer(root, bomb.blob, bomb.diff_id, ar.LAYER_GZIP)


def _many_entries(root: Path) -> Path:
    tar = ar.many_entries_tar(200_000)
    return ar.oci_with_layer(root, tar, sha256(tar), ar.LAYER_TAR)


def _unnamed_gzip_bomb(path: Path) -> Path:
    """docker save with the 1 GiB gzip bomb stored under a name that is not its digest."""
    bomb = ar.gzip_bomb()
    return ar.docker_archive(path, [], config=ar.config_for([bomb.diff_id]), extra={"bomb.tar.gz": bomb.blob},
                             manifest=[{"Config": "config.json", "Layers": ["bomb.tar.gz"]}])


def _truncated_blob(root: Path) -> Path:
    """An OCI layout whose second layer's blob is cut in half (its digest then cannot match)."""
    base, extra = gzip.compress(base_tar(), mtime=0), ar.files_tar({"etc/motd": "hi\n" * 1000})
    config = ar.config_for([sha256(base_tar()), sha256(extra)])
    manifest = {"schemaVersion": 2, "mediaType": ar.OCI_MANIFEST,
                "config": {"mediaType": ar.OCI_CONFIG, "digest": ar.put_blob(root, config), "size": len(config)},
                "layers": [{"mediaType": ar.LAYER_GZIP, "digest": ar.put_blob(root, base), "size": len(base)},
                           {"mediaType": ar.LAYER_TAR, "digest": sha256(extra), "size": len(extra)}]}
    (root / "blobs" / "sha256" / sha256(extra).split(":")[1]).write_bytes(extra[: len(extra) // 2])
    ar.write_index(root, [ar.put_blob(root, json.dumps(manifest).encode())])
    return root


def _blob_link_out(root: Path) -> Path:
    """An OCI layout whose config blob is a symlink to a file outside the layout."""
    ar.oci_with_layer(root / "oci", _tiny(), sha256(_tiny()), ar.LAYER_TAR)
    config = ar.config_for([sha256(_tiny())])
    blob = root / "oci" / "blobs" / "sha256" / sha256(config).split(":")[1]
    (root / "outside.json").write_bytes(config)
    blob.unlink()
    blob.symlink_to("../../../outside.json")
    return root / "oci"


def _deep_index(root: Path) -> Path:
    ar.oci_with_layer(root, _tiny(), sha256(_tiny()), ar.LAYER_TAR)
    (root / "index.json").write_text('{"manifests": ' + "[" * 100_000 + "]" * 100_000 + "}")
    return root


ARCHIVES = [
    Case("manifest-missing", "archives", archive_of(lambda p: written(ar.tar_of([ar.member("config.json", b"{}")]))(p)),
         (3,), ("not a docker archive",)),
    Case("manifest-deep", "archives", archive_of(lambda p: ar.docker_archive(p, [], manifest=lockfiles.DEEP_JSON)),
         (3,), ("manifest.json",)),
    Case("manifest-huge", "archives", archive_of(lambda p: ar.docker_archive(p, [], manifest=json.dumps(
        [{"Config": "config.json", "Layers": [], "RepoTags": ["x" * 100] * 60_000}]).encode())), (3,), ("too large",)),
    Case("manifest-layer-outside", "archives", archive_of(lambda p: ar.docker_archive(
        p, [], manifest=[{"Config": "config.json", "Layers": ["../../../../etc/passwd"]}],
        config=ar.config_for([sha256(b"x")]))), (3,), ("missing layer",)),
    Case("config-digest-traversal", "archives", archive_of(lambda p: ar.docker_archive(
        p, [_tiny()], config=b'{"rootfs": {"diff_ids": ["sha256:../../etc"]}}')), (3,), ("digest",)),
    Case("diff-ids-count", "archives", archive_of(lambda p: ar.docker_archive(
        p, [_tiny()], config=ar.config_for([sha256(_tiny())] * 2))), (3,), ("diff_ids",)),
    Case("diff-id-wrong", "archives", archive_of(lambda p: ar.docker_archive(
        p, [_tiny()], config=ar.config_for([sha256(b"other")]))), (3,), ("digest",)),
    Case("diff-id-wrong-docker25-gzip", "archives", archive_of(_lying_docker25), (3,), ("digest mismatch", "diff_id")),
    Case("layer-noise", "archives", archive_of(lambda p: ar.docker_archive(p, [noise(4096, 51)])), (4,),
         ("layer 0", "corrupt tar archive")),
    Case("layer-truncated-gzip", "archives", archive_of(_truncated_gzip), (4,), ("layer 1", "corrupt layer data"),
         packages=BASE_PACKAGES),
    Case("layer-zstd-2gib-window", "archives", archive_of(lambda p: ar.docker_archive(
        p, [ar.zstd_giant_window(_tiny())])), (4,), ("layer 0", "memory")),
    _layer_with("xz", lzma.compress),
    _layer_with("bzip2", bz2.compress),
    Case("tar-entries-escaping", "archives", archive_of(lambda p: ar.docker_archive(p, [ar.tar_of(ar.hostile_entries(
        *(data for _, data in debian_members())))])), packages=BASE_PACKAGES),
    Case("tar-gnu-long-names", "archives", archive_of(lambda p: ar.docker_archive(p, [ar.gnu_long_names()]))),
    *(Case(f"tar-pax-{name}", "archives", archive_of(lambda p, r=records, n=declared: ar.docker_archive(
        p, [ar.lying_pax_tar(r, n)])), (4,), ("layer 0", *words)) for name, (records, declared, words)
      in ar.LYING_PAX.items()),
    Case("tar-200000-entries", "archives", oci_of(_many_entries), slow=True),
    Case("gzip-bomb-1gib", "archives", oci_of(_bomb_layout), slow=True),
    Case("gzip-bomb-1gib-docker-unnamed", "archives", archive_of(_unnamed_gzip_bomb), slow=True),
    Case("oci-blob-truncated", "archives", oci_of(_truncated_blob), (4,), ("layer 1", "truncated"),
         packages=BASE_PACKAGES),
    Case("oci-blob-symlink-out", "archives", lambda d: image_args(_blob_link_out(d)), (3,), ("missing",)),
    Case("oci-index-chain", "archives", oci_of(lambda r: ar.oci_index_chain(r, 8)), (3,), ("nested deeper",)),
    Case("oci-index-deep-json", "archives", oci_of(_deep_index), (3,), ("index.json",)),
    Case("oci-10000-layers", "archives", oci_of(lambda r: ar.oci_many_layers(r, 10_000))),
    _stacking("dir-to-file", ar.member(DPKG, b"not a directory any more\n")),
    _stacking("dir-to-symlink", ar.member(DPKG, kind=tarfile.SYMTYPE, link="/nonexistent")),
    _stacking("file-to-dir", ar.member(f"{DPKG}/status", kind=tarfile.DIRTYPE)),
    _stacking("parent-to-symlink", ar.member("var/lib", kind=tarfile.SYMTYPE, link="/srv")),
    _stacking("top-to-file", ar.member("var", b"x")),
    Case("dpkg-symlink-cycle", "archives", archive_of(lambda p: ar.layered_archive(p, [ar.tar_of([
        ar.member("etc/os-release", pkgdb.OS_RELEASE.encode()),
        ar.member(DPKG, kind=tarfile.SYMTYPE, link="/a"), ar.member("a", kind=tarfile.SYMTYPE, link="/b"),
        ar.member("b", kind=tarfile.SYMTYPE, link=f"/{DPKG}")])])), absent=BASE_PACKAGES),
    Case("symlinked-dpkg-dir", "archives", archive_of(lambda p: ar.layered_archive(p, [ar.tar_of([
        *debian_members("opt/dpkg"), ar.member(DPKG, kind=tarfile.SYMTYPE, link="/opt/dpkg")])])),
        packages=BASE_PACKAGES),
]

def _sparse_metadata(d: Path) -> list[str]:
    """A rootfs with a METADATA one byte past the limit (sparse: nothing on disk, never read)."""
    meta = d / "rootfs" / "usr/lib/python3/site-packages/big-1.0.dist-info/METADATA"
    meta.parent.mkdir(parents=True)
    with open(meta, "wb") as fh:
        fh.truncate(METADATA_MAX_BYTES + 1)
    return tree_args("rootfs", d / "rootfs")


PKGDB = [
    *(Case(f"rpm-sqlite-{name}", "pkgdb", in_image(lambda s=schema: {"etc/os-release": pkgdb.FEDORA,
                                                             pkgdb.RPM_SQLITE: pkgdb.sqlite_bytes(s)}, base=False),
           unknowns=(pkgdb.RPM_SQLITE, reason)) for name, (schema, reason) in pkgdb.RPM_SCHEMAS.items()),
    Case("rpm-noise", "pkgdb", in_image(pkgdb.rpm_noise), unknowns=("var/lib/rpm/Packages",),
         packages=BASE_PACKAGES),
    Case("apk-noise", "pkgdb", in_image(lambda: {"lib/apk/db/installed": pkgdb.apk_noise()}), packages=BASE_PACKAGES),
    Case("dpkg-30000-packages", "pkgdb", in_image(lambda: debian_with(pkgdb.dpkg_many()), base=False),
         packages=("p0", "p29999")),
    Case("dpkg-50mb-line", "pkgdb", in_image(lambda: debian_with(pkgdb.dpkg_long_line()), base=False),
         packages=("libc6", "x"), slow=True),
    Case("dpkg-4m-continuation-lines", "pkgdb", in_image(lambda: debian_with(pkgdb.dpkg_continuation()), base=False),
         packages=("libc6", "x")),
    Case("python-metadata-200000-headers", "pkgdb", in_tree("rootfs", lambda: {
        "usr/lib/python3/site-packages/late_name-3.1.dist-info/METADATA": pkgdb.metadata_many_headers()}),
        packages=("late-name",)),
    Case("python-metadata-long-continuation", "pkgdb", in_image(lambda: {
        "usr/lib/python3/dist-packages/evil-1.0.dist-info/METADATA": pkgdb.metadata_long_continuation()}),
        packages=("evil",)),
    Case("python-metadata-over-the-size-limit", "pkgdb", _sparse_metadata, warns=("not analyzed: file too large",),
         unknowns=("file too large",)),
]


def _big_jars(d: Path) -> list[str]:
    root = d / "rootfs"
    (root / "app").mkdir(parents=True)
    for seed in (1, 2):
        jars.big_jar(root / "app" / f"app{seed}.jar", seed)
    return tree_args("rootfs", root)


JARS = [
    Case("jar-zip-bomb", "jars", in_image(lambda: {"app/bomb.jar": jars.zip_bomb_jar()}), unknowns=("app/bomb.jar",)),
    Case("jar-nested-50", "jars", in_image(lambda: {"app/deep.jar": jars.nested_jars(50)}), unknowns=("nesting deeper",)),
    Case("jar-noise", "jars", in_image(lambda: {"app/junk.jar": jars.junk_jar()}), unknowns=("app/junk.jar",)),
    Case("jar-end-record-50m-members", "jars", in_image(lambda: {"app/evil.jar": jars.lying_end_record(
        50_000_000, 40 * MiB, zip64=True)}), unknowns=("archive has 50000000 members",)),
    Case("jar-member-list-bomb", "jars", in_image(lambda: {"app/bomb.jar": jars.member_list_bomb(12 * MiB)}),
         unknowns=("@ app/bomb.jar",), slow=True),
    Case("jar-two-256mib-in-rootfs", "jars", _big_jars, packages=("org.example:outer", "org.example:inner"),
         slow=True),
    Case("go-fake-elf", "jars", in_image(lambda: {"usr/local/bin/kubectl": jars.fake_go_elf()})),
]

SBOMS = [
    Case("sbom-63mb-empty-components", "sboms", sbom_file("empty.cdx.json", sboms.empty_components), (3,),
         ("JSON values", "refusing"), slow=True),
    Case("sbom-100mb", "sboms", sbom_file("big.cdx.json", sboms.big_components), (3,), ("larger than 64 MiB",),
         slow=True),
    Case("sbom-structure-in-strings", "sboms", sbom_file("strings.cdx.json", written(
        sboms.strings_full_of_structure(SBOM_MAX_VALUES))), packages=("lodash",)),
    Case("sbom-worst-under-the-value-limit", "sboms", sbom_file("nested.cdx.json", written(
        sboms.worst_under_limit(SBOM_MAX_VALUES))), packages=("a",), slow=True),
    *(Case(f"sbom-{name.removesuffix('.json')}", "sboms", sbom_file(name, written(data)), (0, 3), words)
      for name, (data, words) in sboms.SBOMS.items()),
]


def _policy(flag: str, name: str, data: bytes) -> Callable[[Path], list[str]]:
    def build(d: Path) -> list[str]:
        written(data)(d / name)
        image = ar.layered_archive(d / "image.tar", [base_tar()])
        return ["image", "--input", str(image), flag, str(d / name), "--no-progress", "--scanners", "none"]
    return build


LOCKFILES = [
    Case("fs-lockfiles", "lockfiles", in_tree("fs", lambda: lockfiles.LOCKFILES), unknowns=lockfiles.LOCKFILE_UNKNOWNS),
    *(Case(f"policy-{name}", "lockfiles", _policy(flag, file, data), (0, code), words)
      for name, (flag, file, data, code, words) in lockfiles.POLICY_FILES.items()),
]


def _feed_dir(d: Path) -> list[str]:
    root = d / "feeds"
    root.mkdir()
    for name, data in feeds.feed_files().items():
        (root / name).write_bytes(data)
    return ["db", "import", str(root), "--no-progress"]


FEEDS = [Case("feeds-bad-files", "feeds", _feed_dir, warns=("malformed record(s) skipped",))]

CASES: list[Case] = [*ARCHIVES, *PKGDB, *JARS, *SBOMS, *LOCKFILES, *FEEDS]
