#!/usr/bin/env python3
"""layerscan vs Trivy vs Syft on the language-heavy image (issue 3), in one run.

Usage: python benchmarks/lang_compare.py [--repeat 3] [--kinds archive,oci] [--out FILE]

Build the image first: python benchmarks/lang_image.py. Each tool writes a CycloneDX SBOM of
WORK/lang.docker.tar and WORK/lang.oci (commands from benchmarks/run.py). We report:
- package counts per ecosystem (purl type) per tool;
- every difference (a package one tool lists and another does not, or with another version),
  each explained from the files in the image (read here with tarfile, independently of
  layerscan's own walker);
- the layer each tool attributes a package to, where the tools disagree, explained the same way;
- wall time and peak RSS, median of REPEAT cold runs (fresh cache dir per run), as ratios.

Trivy and jars: any jar makes Trivy open its Java DB; offline it refuses to start without one,
so every Trivy cache dir is pre-seeded with an empty Java DB (the schema only). Trivy then
reads GAVs from pom.properties/MANIFEST.MF only, as layerscan does; it cannot look up jars by
sha1 (none of ours needs that).
"""

from __future__ import annotations

import argparse
import datetime as dt
import email.parser
import io
import json
import sqlite3
import statistics
import sys
import tarfile
import tempfile
import zipfile
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from packageurl import PackageURL

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from run import WORK, commands, run  # noqa: E402  (the lead's harness: same commands as issue 2)

TOOLS = ("layerscan", "trivy", "syft")
IMAGE = "lang"
GO_EXPECTED = Path("/work/shared/corpus/fixtures/go/trivy-binary-happy-path/expected.json")  # the image's Go binary
MAX_READ = 64 << 20  # bytes read from one image member as evidence

# ---- SBOMs ----------------------------------------------------------------------------------

PATH_PROPS = {"layerscan": "layerscan:package:file_path", "trivy": "aquasecurity:trivy:FilePath",
              "syft": "syft:location:0:path"}
LAYER_PROPS = {"layerscan": "layerscan:layer:diff_id", "trivy": "aquasecurity:trivy:LayerDiffID",
               "syft": "syft:location:0:layerID"}


@dataclass(frozen=True, order=True)
class Key:
    type: str
    namespace: str
    name: str

    def __str__(self) -> str:
        return f"{self.type}/{self.namespace + '/' if self.namespace else ''}{self.name}"


@dataclass(frozen=True)
class Component:
    key: Key
    version: str  # deb epochs folded in ("1:2.3-4") whatever purl convention the tool uses
    path: str  # file the tool read it from ("" when the SBOM does not say), no leading "/"
    diff_id: str  # layer the tool attributes it to ("" when not said)


def normalise_name(ptype: str, name: str) -> str:
    if ptype == "pypi":  # PEP 503, as the purl spec asks
        return "-".join(name.replace("_", "-").replace(".", "-").split("-")).lower()
    return name


def component(tool: str, doc: dict) -> Component | None:
    if not doc.get("purl"):
        return None
    purl = PackageURL.from_string(doc["purl"])
    props = {p.get("name"): p.get("value", "") for p in doc.get("properties", [])}
    quals = purl.qualifiers if isinstance(purl.qualifiers, dict) else {}
    version = purl.version or ""
    if quals.get("epoch") and ":" not in version:
        version = f"{quals['epoch']}:{version}"
    key = Key(purl.type, purl.namespace or "", normalise_name(purl.type, purl.name))
    return Component(key, version, props.get(PATH_PROPS[tool], "").lstrip("/"), props.get(LAYER_PROPS[tool], ""))


def load_sbom(tool: str, path: Path) -> list[Component]:
    doc = json.loads(path.read_text())
    out = []
    stack = list(doc.get("components", []))
    while stack:  # nested components (CycloneDX allows them) are packages too
        item = stack.pop()
        stack.extend(item.get("components", []))
        comp = component(tool, item)
        if comp is not None:
            out.append(comp)
    return out


def ecosystem_counts(sboms: dict[str, list[Component]]) -> dict[str, Counter[str]]:
    return {tool: Counter(c.key.type for c in comps) for tool, comps in sboms.items()}


# ---- the image, read independently ----------------------------------------------------------

@dataclass
class ImageFiles:
    """A ``docker save`` archive: per path, the layers that wrote it; whiteouts applied."""

    archive: Path
    diff_ids: list[str] = field(default_factory=list)
    created_by: list[str] = field(default_factory=list)
    writers: dict[str, list[int]] = field(default_factory=dict)  # path -> layer indexes, oldest first
    present: set[str] = field(default_factory=set)
    _layer_members: list[str] = field(default_factory=list)

    @classmethod
    def open(cls, archive: Path) -> ImageFiles:
        img = cls(archive)
        with tarfile.open(archive) as outer:
            manifest = json.load(outer.extractfile("manifest.json"))[0]  # type: ignore[arg-type]
            config = json.load(outer.extractfile(manifest["Config"]))  # type: ignore[arg-type]
            img.diff_ids = list(config["rootfs"]["diff_ids"])
            img.created_by = [h.get("created_by", "") for h in config.get("history", [])
                              if not h.get("empty_layer")]
            img._layer_members = list(manifest["Layers"])
            for index, member in enumerate(img._layer_members):
                with tarfile.open(fileobj=outer.extractfile(member)) as layer:
                    img._apply(index, layer.getmembers())
        return img

    def _apply(self, index: int, members: list[tarfile.TarInfo]) -> None:
        for info in members:
            name = info.name.lstrip("./")
            parent, _, base = name.rpartition("/")
            if base == ".wh..wh..opq":
                self.present -= {p for p in self.present if p.startswith(parent + "/")}
            elif base.startswith(".wh."):
                gone = f"{parent}/{base[4:]}".lstrip("/")
                self.present -= {p for p in self.present if p == gone or p.startswith(gone + "/")}
            elif info.isfile():
                self.present.add(name)
                self.writers.setdefault(name, []).append(index)

    def read(self, path: str, layer: int) -> bytes:
        with tarfile.open(self.archive) as outer:
            with tarfile.open(fileobj=outer.extractfile(self._layer_members[layer])) as tar:
                member = tar.extractfile(path) or tar.extractfile("./" + path)
                return member.read(MAX_READ) if member else b""

    def final(self, path: str) -> bytes:
        """The content of ``path`` in the final image (its last writer)."""
        return self.read(path, self.writers[path][-1])

    def layer_of(self, diff_id: str) -> int | None:
        return self.diff_ids.index(diff_id) if diff_id in self.diff_ids else None

    def history(self, path: str) -> list[int]:
        """Layers that wrote ``path``, oldest first (only while it is still present)."""
        return self.writers.get(path, []) if path in self.present else []


def manifest_text(jar: bytes) -> str:
    try:
        with zipfile.ZipFile(io.BytesIO(jar)) as zf:
            return zf.read("META-INF/MANIFEST.MF")[:MAX_READ].decode("utf-8", "replace")
    except (KeyError, zipfile.BadZipFile):
        return ""


# ---- what the image's files say (the reference column) --------------------------------------

FILES = "image files"
MAX_NESTING = 4


def reference_packages(image: ImageFiles, go_expected: Path) -> list[Component]:
    """Packages read straight from the image's metadata files, with a plain parser per format
    (nothing shared with layerscan's analyzers); Go from the corpus case's expected.json."""
    out: list[Component] = []
    for path in sorted(image.present):
        if path == "var/lib/dpkg/status":
            out += dpkg_packages(image.final(path), path)
        elif path.endswith((".dist-info/METADATA", ".egg-info/PKG-INFO")):
            out += python_package(image.final(path), path)
        elif path.endswith("/package.json"):
            out += npm_package(image.final(path), path)
        elif path.endswith((".jar", ".war", ".ear")):
            out += maven_packages(image.final(path), path, 0)
    doc = json.loads(go_expected.read_text())
    out += [Component(Key("golang", *_split_go(p["name"])), p["version"], "", "") for p in doc["packages"]]
    return out


def _split_go(name: str) -> tuple[str, str]:
    namespace, _, short = name.rpartition("/")
    return namespace, short


def dpkg_packages(status: bytes, path: str) -> list[Component]:
    out = []
    for para in status.decode("utf-8", "replace").split("\n\n"):
        fields = dict(line.split(": ", 1) for line in para.splitlines() if ": " in line and not line[:1].isspace())
        if fields.get("Status", "").endswith(" installed") and fields.get("Package"):
            out.append(Component(Key("deb", "debian", fields["Package"]), fields.get("Version", ""), path, ""))
    return out


def python_package(metadata: bytes, path: str) -> list[Component]:
    headers = email.parser.BytesHeaderParser().parsebytes(metadata)
    if not headers["Name"]:
        return []
    return [Component(Key("pypi", "", normalise_name("pypi", str(headers["Name"]))), str(headers["Version"]), path, "")]


def npm_package(manifest: bytes, path: str) -> list[Component]:
    try:
        doc = json.loads(manifest)
    except ValueError:
        return []
    if not isinstance(doc, dict) or not isinstance(doc.get("name"), str) or not doc.get("version"):
        return []
    scope, _, name = doc["name"].rpartition("/")
    return [Component(Key("npm", scope, name), str(doc["version"]), path, "")]


def maven_packages(jar: bytes, path: str, depth: int) -> list[Component]:
    """pom.properties of a jar and of the jars nested in it (as "outer!/inner" paths)."""
    out = []
    try:
        with zipfile.ZipFile(io.BytesIO(jar)) as zf:
            for name in zf.namelist():
                if name.startswith("META-INF/maven/") and name.endswith("/pom.properties"):
                    props = dict(line.split("=", 1) for line in zf.read(name).decode("utf-8", "replace").splitlines()
                                 if "=" in line and not line.startswith("#"))
                    out.append(Component(Key("maven", props.get("groupId", ""), props.get("artifactId", "")),
                                         props.get("version", ""), path, ""))
                elif name.endswith((".jar", ".war")) and depth < MAX_NESTING:
                    out += maven_packages(zf.read(name), f"{path}!/{name}", depth + 1)
    except zipfile.BadZipFile:
        return out
    return out


# ---- differences and their explanations -----------------------------------------------------

@dataclass(frozen=True)
class Difference:
    key: Key
    versions: dict[str, str]  # tool -> version ("-" when the tool does not list it)
    paths: tuple[str, ...]
    explanation: str


def index_by_key(comps: list[Component]) -> dict[Key, list[Component]]:
    out: dict[Key, list[Component]] = defaultdict(list)
    for c in comps:
        out[c.key].append(c)
    return out


def version_set(comps: list[Component]) -> str:
    return ", ".join(sorted({c.version or "(none)" for c in comps})) if comps else "-"


def differences(sboms: dict[str, list[Component]], image: ImageFiles) -> list[Difference]:
    indexed = {tool: index_by_key(comps) for tool, comps in sboms.items()}
    keys = sorted(set().union(*indexed.values()), key=str)
    out = []
    for key in keys:
        versions = {tool: version_set(indexed[tool].get(key, [])) for tool in sboms}
        if len(set(versions.values())) == 1:
            continue
        paths = tuple(sorted({c.path for tool in sboms for c in indexed[tool].get(key, []) if c.path}))
        out.append(Difference(key, versions, paths, explain(key, versions, paths, image)))
    return out


def explain(key: Key, versions: dict[str, str], paths: tuple[str, ...], image: ImageFiles) -> str:
    for rule in (explain_go_version_spelling, explain_go_devel, explain_manifest_guess):
        text = rule(key, versions, paths, image)
        if text:
            return text
    where = "; ".join(f"{p} present={p in image.present}" for p in paths) or "no path given"
    return f"UNEXPLAINED ({where})"


def _binary(paths: tuple[str, ...], image: ImageFiles) -> bytes:
    hist = [image.history(p) for p in paths]
    return next((image.final(p) for p, h in zip(paths, hist) if h), b"")


def explain_go_version_spelling(key: Key, versions: dict[str, str], paths: tuple[str, ...],
                                image: ImageFiles) -> str:
    if key.type != "golang" or key.name != "stdlib":
        return ""
    bare = {v.removeprefix("go").removeprefix("v") for v in versions.values()}
    if len(bare) != 1 or "-" in bare:
        return ""
    toolchain = f"go{bare.pop()}"
    found = toolchain.encode() in _binary(paths, image)
    return (f"same toolchain, spelled differently: the binary's build info says `{toolchain}` "
            f"(found in the file: {found}); Trivy and layerscan use the Go module form `v…` (what Go "
            f"vulndb ranges use), Syft strips the prefix in the purl")


def explain_go_devel(key: Key, versions: dict[str, str], paths: tuple[str, ...], image: ImageFiles) -> str:
    if key.type != "golang" or "(devel)" not in versions.values():
        return ""
    found = b"(devel)" in _binary(paths, image)
    return ("the main module of the binary; Go's build info records `(devel)` for an unversioned build "
            f"(found in the file: {found}). layerscan and Trivy leave the version empty (nothing to match), "
            "Syft copies the placeholder into the purl")


def explain_manifest_guess(key: Key, versions: dict[str, str], paths: tuple[str, ...],
                           image: ImageFiles) -> str:
    """A Maven package only one tool lists, with no version: a guess from MANIFEST.MF / file name."""
    listed = [tool for tool, v in versions.items() if v != "-"]
    if key.type != "maven" or len(listed) != 1 or versions[listed[0]] not in ("(none)", "UNKNOWN"):
        return ""
    jar = next((p for p in paths if p in image.present), "")
    if not jar:
        return ""
    data = image.final(jar)
    manifest = manifest_text(data)
    main_class = next((line.split(":", 1)[1].strip() for line in manifest.splitlines()
                       if line.startswith("Main-Class:")), "")
    poms = [f"{c.key.namespace}:{c.key.name}@{c.version}" for c in maven_packages(data, jar, MAX_NESTING)]
    return (f"only {listed[0]}: a versionless package guessed from {jar}'s MANIFEST.MF (Main-Class "
            f"`{main_class}` taken as the group, the file name as the artifact). The jar's own "
            f"pom.properties says {', '.join(poms) or 'nothing'}, which every tool reports; the guess is a "
            f"duplicate of it with a wrong group and no version (a false package, not a missed one)")


# ---- layer attribution ----------------------------------------------------------------------

@dataclass(frozen=True)
class LayerDisagreement:
    ecosystem: str
    layers: dict[str, str]  # tool -> layer index ("?" when not said)
    packages: tuple[str, ...]
    explanation: str


def attribution(sboms: dict[str, list[Component]], image: ImageFiles) -> list[LayerDisagreement]:
    indexed = {tool: {c.key: c for c in comps} for tool, comps in sboms.items()}
    groups: dict[tuple[str, tuple[tuple[str, str], ...], str], list[str]] = defaultdict(list)
    for key in sorted(set.intersection(*(set(i) for i in indexed.values())), key=str):
        comps = {tool: indexed[tool][key] for tool in sboms}
        layers = {tool: _index(image, c.diff_id) for tool, c in comps.items()}
        if len(set(layers.values())) == 1:
            continue
        path = next((c.path for c in comps.values() if c.path), "") or default_path(key)
        note = explain_layers(key, path, layers, image)
        groups[(key.type, tuple(layers.items()), note)].append(f"{key.name}@{comps['layerscan'].version}")
    return [LayerDisagreement(eco, dict(layers), tuple(pkgs), note) for (eco, layers, note), pkgs in groups.items()]


def _index(image: ImageFiles, diff_id: str) -> str:
    layer = image.layer_of(diff_id)
    return "?" if layer is None else str(layer)


def default_path(key: Key) -> str:
    return "var/lib/dpkg/status" if key.type == "deb" else ""


def explain_layers(key: Key, path: str, layers: dict[str, str], image: ImageFiles) -> str:
    writers = image.history(path.split("!/")[0])
    if len(writers) < 2:
        return f"UNEXPLAINED ({path or 'no path'} written by layers {writers})"
    first, last = writers[0], writers[-1]
    same = package_record(key, image.read(path, first)) == package_record(key, image.read(path, last))
    what = "its record in the file" if key.type == "deb" else "the file"
    verdict = "unchanged" if same else "CHANGED"
    return (f"{path} is written by layers {writers}; {what} is {verdict} between layer {first} and {last}. "
            f"Tools reporting {last} name the last writer of the file; layerscan names the oldest layer of "
            f"the package's continuous presence (DESIGN §2), which is right when the record is unchanged")


def package_record(key: Key, data: bytes) -> bytes:
    """For dpkg status: the package's own paragraph; otherwise the whole file."""
    if key.type != "deb":
        return data
    for para in data.split(b"\n\n"):
        if f"Package: {key.name}\n".encode() in para + b"\n":
            return para
    return b""


# ---- timing ---------------------------------------------------------------------------------

def seed_trivy_java_db(cache: Path) -> None:
    """An empty Java DB (schema only) so offline Trivy scans images with jars."""
    db_dir = cache / "java-db"
    db_dir.mkdir(parents=True, exist_ok=True)
    con = sqlite3.connect(db_dir / "trivy-java.db")
    con.executescript(
        "CREATE TABLE IF NOT EXISTS artifacts(id INTEGER PRIMARY KEY, group_id TEXT, artifact_id TEXT);"
        "CREATE TABLE IF NOT EXISTS indices(artifact_id INTEGER, version TEXT, sha1 BLOB, archive_type TEXT,"
        " FOREIGN KEY (artifact_id) REFERENCES artifacts(id));"
        "CREATE UNIQUE INDEX IF NOT EXISTS artifacts_idx ON artifacts(artifact_id, group_id);"
        "CREATE INDEX IF NOT EXISTS indices_artifact_idx ON indices(artifact_id);"
        "CREATE UNIQUE INDEX IF NOT EXISTS indices_sha1_idx ON indices(sha1);")
    con.close()
    now = dt.datetime.now(dt.timezone.utc)
    stamp = "%Y-%m-%dT%H:%M:%SZ"
    (db_dir / "metadata.json").write_text(json.dumps({
        "Version": 1, "NextUpdate": (now + dt.timedelta(days=3650)).strftime(stamp),
        "UpdatedAt": now.strftime(stamp), "DownloadedAt": now.strftime(stamp)}))


@dataclass(frozen=True)
class Timing:
    tool: str
    kind: str
    seconds: float  # median
    rss_mib: int  # median of the runs' peaks
    sbom: Path


def measure(tool: str, kind: str, repeat: int, tmp: Path) -> Timing:
    times, peaks = [], []
    out = tmp / f"{tool}-{kind}.cdx.json"
    for i in range(repeat):
        cache = tmp / f"cache-{tool}-{kind}-{i}"
        if tool == "trivy":
            seed_trivy_java_db(cache)
        cmd, env = commands(tool, kind, IMAGE, out, cache)
        seconds, rss, code = run(cmd, env)
        if code != 0:
            raise SystemExit(f"{tool} on {kind} failed with exit {code}")
        times.append(seconds)
        peaks.append(rss)
    return Timing(tool, kind, statistics.median(times), int(statistics.median(peaks)), out)


# ---- output ---------------------------------------------------------------------------------

def counts_table(counts: dict[str, Counter[str]]) -> list[str]:
    ecos = sorted(set().union(*counts.values()))
    lines = ["| ecosystem (purl type) | " + " | ".join(counts) + " |", "|---" * (len(counts) + 1) + "|"]
    lines += [f"| {eco} | " + " | ".join(str(counts[t][eco]) for t in counts) + " |" for eco in ecos]
    lines.append("| **total** | " + " | ".join(str(sum(c.values())) for c in counts.values()) + " |")
    return lines


def timing_table(timings: list[Timing]) -> list[str]:
    lines = ["| input | tool | wall s (median) | layerscan / tool | peak RSS MiB | layerscan / tool |",
             "|---|---|---|---|---|---|"]
    by = {(t.kind, t.tool): t for t in timings}
    for t in timings:
        ours = by.get((t.kind, "layerscan"))
        tr = f"{ours.seconds / t.seconds:.2f}" if ours and t.tool != "layerscan" else "-"
        mr = f"{ours.rss_mib / t.rss_mib:.2f}" if ours and t.tool != "layerscan" else "-"
        lines.append(f"| {t.kind} | {t.tool} | {t.seconds:.2f} | {tr} | {t.rss_mib} | {mr} |")
    return lines


def diff_lines(diffs: list[Difference], tools: tuple[str, ...]) -> list[str]:
    lines = ["| package | " + " | ".join(tools) + " | explanation |", "|---" * (len(tools) + 2) + "|"]
    lines += [f"| {d.key} | " + " | ".join(d.versions[t] for t in tools) + f" | {d.explanation} |" for d in diffs]
    return lines if diffs else ["(none)"]


def layer_lines(rows: list[LayerDisagreement], tools: tuple[str, ...]) -> list[str]:
    lines = ["| ecosystem | packages | " + " | ".join(tools) + " | explanation |", "|---" * (len(tools) + 3) + "|"]
    for r in rows:
        pkgs = ", ".join(r.packages) if len(r.packages) <= 6 else f"{len(r.packages)} packages"
        lines.append(f"| {r.ecosystem} | {pkgs} | " + " | ".join(r.layers[t] for t in tools) + f" | {r.explanation} |")
    return lines if rows else ["(none)"]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--kinds", default="archive,oci")
    ap.add_argument("--out", default=str(HERE / "out" / "lang_compare.json"))
    args = ap.parse_args()
    archive = WORK / f"{IMAGE}.docker.tar"
    if not archive.is_file():
        print(f"{archive} is missing: run benchmarks/lang_image.py first", file=sys.stderr)
        return 2
    image = ImageFiles.open(archive)
    kinds = args.kinds.split(",")
    with tempfile.TemporaryDirectory(prefix="lscompare-") as tmpdir:
        timings = []
        for kind in kinds:
            for tool in TOOLS:
                print(f"- {kind} {tool}", file=sys.stderr)
                timings.append(measure(tool, kind, args.repeat, Path(tmpdir)))
        sboms = {kind: {t.tool: load_sbom(t.tool, t.sbom) for t in timings if t.kind == kind} for kind in kinds}
    main_kind = kinds[0]
    with_files = {**sboms[main_kind], FILES: reference_packages(image, GO_EXPECTED)}
    counts = ecosystem_counts(with_files)
    diffs = differences(with_files, image)
    layers = attribution(sboms[main_kind], image)
    same_across_inputs = {tool: all(sorted((c.key, c.version) for c in sboms[k][tool])
                                    == sorted((c.key, c.version) for c in sboms[main_kind][tool]) for k in kinds)
                          for tool in TOOLS}
    report = ["### Timing", *timing_table(timings), "", f"### Packages per ecosystem ({main_kind})",
              *counts_table(counts), "", "same package list on every input: " + ", ".join(
                  f"{t}={v}" for t, v in same_across_inputs.items()), "", "### Differences",
              *diff_lines(diffs, (*TOOLS, FILES)), "", "### Layer attribution disagreements", *layer_lines(layers, TOOLS)]
    print("\n".join(report))
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps({
        "timings": [{**t.__dict__, "sbom": t.sbom.name} for t in timings],
        "counts": {t: dict(c) for t, c in counts.items()},
        "differences": [{"package": str(d.key), "versions": d.versions, "paths": d.paths,
                         "explanation": d.explanation} for d in diffs],
        "layers": [r.__dict__ for r in layers], "same_across_inputs": same_across_inputs}, indent=1, default=list))
    return 0


if __name__ == "__main__":
    sys.exit(main())
