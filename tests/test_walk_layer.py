"""Analyzing one layer blob: dispatch, bounds, guards, whiteouts, links (walk/layer.py, walk/analysis.py)."""

from __future__ import annotations

import gzip
import io
import json
import tarfile
from pathlib import Path

import pytest

from layerscan.analyzers.os.dpkg import DpkgAnalyzer
from layerscan.errors import ImageError
from layerscan.walk.analysis import MAX_WANTS_FAILURES, LayerAnalysis, PathFilter
from layerscan.walk.layer import analyze_layer

from fixtures.walk.walkhelpers import JsonPkgAnalyzer, StatusAnalyzer, status, tar_bytes

ANALYZERS = [StatusAnalyzer(), JsonPkgAnalyzer()]


def analyze(members, analyzers=ANALYZERS, compress: bool = True, **kw) -> LayerAnalysis:
    tar = tar_bytes(members)
    blob = gzip.compress(tar) if compress else tar
    return analyze_layer(io.BytesIO(blob), "layer 1 (sha256:feed)", analyzers, **kw)


def names(result) -> list[tuple[str, str]]:
    return [(p.name, p.version) for p in result.packages]


def test_wanted_files_are_analyzed_and_others_only_shadow() -> None:
    la = analyze([("var/lib/dpkg/status", status(("bash", "5.2")), "file"), ("etc/motd", b"hi", "file"),
                  ("usr/lib/a.pkg.json", b'{"name":"a","version":"1"}', "file"), ("usr", None, "dir")])
    results = dict(la.results)
    assert names(results["var/lib/dpkg/status"]) == [("bash", "5.2")]
    assert names(results["usr/lib/a.pkg.json"]) == [("a", "1")]
    assert la.shadowed == ("etc/motd",) and la.compression == "gzip"


def test_empty_database_file_is_kept_as_an_empty_result() -> None:
    la = analyze([("var/lib/dpkg/status", b"", "file")], compress=False)
    assert dict(la.results)["var/lib/dpkg/status"].empty and la.compression == "none"


def test_oversized_member_becomes_unknown_without_reading() -> None:
    big = status(*((f"p{i}", "1.0") for i in range(400)))
    assert len(big) > StatusAnalyzer.max_file_size
    la = analyze([("var/lib/dpkg/status", big, "file")])
    [unknown] = dict(la.results)["var/lib/dpkg/status"].unknowns
    assert unknown.analyzer == "test-status" and "file too large" in unknown.reason
    assert str(len(big)) in unknown.reason


def test_analyzer_exception_becomes_unknown_with_analyzer_name() -> None:
    la = analyze([("app/boom.pkg.json", b"{not json", "file"), ("app/ok.pkg.json", b'{"name":"ok","version":"2"}',
                                                                  "file")])
    results = dict(la.results)
    [unknown] = results["app/boom.pkg.json"].unknowns
    assert unknown.analyzer == "test-json" and "JSONDecodeError" in unknown.reason
    assert names(results["app/ok.pkg.json"]) == [("ok", "2")]


class BrokenWants(StatusAnalyzer):
    name = "broken-wants"

    def wants(self, path: str, mode: int, size: int) -> bool:
        raise RuntimeError("bug")


def test_analyzer_wants_exception_is_recorded_and_others_still_run() -> None:
    la = analyze([("var/lib/dpkg/status", status(("bash", "5.2")), "file")],
                 analyzers=[BrokenWants(), StatusAnalyzer()])
    assert names(dict(la.results)["var/lib/dpkg/status"]) == [("bash", "5.2")]
    assert [(u.path, u.analyzer) for u in la.unknowns] == [("var/lib/dpkg/status", "broken-wants")]
    many = analyze([(f"d{i}/status", b"", "file") for i in range(MAX_WANTS_FAILURES + 3)],
                   analyzers=[BrokenWants(), StatusAnalyzer()])
    assert len(many.results) == MAX_WANTS_FAILURES + 3 and len(many.unknowns) == MAX_WANTS_FAILURES


def test_symlinks_are_never_followed() -> None:
    la = analyze([("etc/shadow", b"root:secret", "file"), ("var/lib/dpkg/status", None, "symlink:/etc/shadow"),
                  ("x/evil.pkg.json", None, "symlink:../../../../etc/shadow")])
    assert la.results == ()
    assert set(la.shadowed) == {"etc/shadow", "var/lib/dpkg/status", "x/evil.pkg.json"}


def test_traversal_entries_stay_inside_the_image() -> None:
    la = analyze([("../../var/lib/dpkg/status", status(("evil", "1")), "file"),
                  ("/abs/lib/x.pkg.json", b'{"name":"x","version":"1"}', "file")])
    assert sorted(path for path, _ in la.results) == ["abs/lib/x.pkg.json", "var/lib/dpkg/status"]


def test_hard_link_to_content_read_in_the_same_layer_is_resolved() -> None:
    la = analyze([("a/status", status(("curl", "8.0")), "file"), ("b/status", None, "hardlink:a/status"),
                  ("c/status", None, "hardlink:not/here")])
    results = dict(la.results)
    assert names(results["b/status"]) == [("curl", "8.0")]
    [unknown] = results["c/status"].unknowns
    assert "hard link to not/here not resolved" in unknown.reason


def test_whiteouts_and_opaque_dirs() -> None:
    la = analyze([("etc/.wh.motd", b"", "file"), ("usr/share/doc/.wh..wh..opq", b"", "file"),
                  (".wh.srv", b"", "file"), ("x/.wh..wh.plnk", b"", "file")])
    assert la.whiteouts == ("etc/motd", "srv")
    assert la.opaque_dirs == ("usr/share/doc",)
    assert la.results == () and la.shadowed == ()


def overlay_native_tar() -> bytes:
    """As exported straight from an overlayfs upper dir: whiteout = char device 0:0,
    opaque dir = trusted.overlay.opaque xattr."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tf:
        gone = tarfile.TarInfo("var/lib/dpkg/status")
        gone.type, gone.devmajor, gone.devminor = tarfile.CHRTYPE, 0, 0
        tf.addfile(gone)
        null = tarfile.TarInfo("dev/null")
        null.type, null.devmajor, null.devminor = tarfile.CHRTYPE, 1, 3
        tf.addfile(null)
        opaque = tarfile.TarInfo("srv/app")
        opaque.type, opaque.pax_headers = tarfile.DIRTYPE, {"SCHILY.xattr.trusted.overlay.opaque": "y"}
        tf.addfile(opaque)
        plain = tarfile.TarInfo("srv/other")
        plain.type, plain.pax_headers = tarfile.DIRTYPE, {"SCHILY.xattr.user.foo": "y"}
        tf.addfile(plain)
    return buf.getvalue()


def test_overlayfs_native_whiteouts_and_opaque_xattrs() -> None:
    la = analyze_layer(io.BytesIO(overlay_native_tar()), "layer 0", ANALYZERS)
    assert la.whiteouts == ("var/lib/dpkg/status",)
    assert la.opaque_dirs == ("srv/app",)
    assert la.shadowed == ("dev/null",)


def test_later_entry_at_the_same_path_replaces_the_earlier_one() -> None:
    la = analyze([("var/lib/dpkg/status", status(("a", "1")), "file"), ("var/lib/dpkg/status", None, "symlink:x"),
                  ("z/status", None, "fifo"), ("z/status", status(("b", "2")), "file")])
    assert [(p, names(r)) for p, r in la.results] == [("z/status", [("b", "2")])]
    assert la.shadowed == ("var/lib/dpkg/status",)


def test_skip_dirs() -> None:
    members = [("app/node_modules/status", status(("x", "1")), "file"), ("var/lib/dpkg/status", status(("y", "1")),
                                                                          "file"), ("tmp/q/status", b"", "file")]
    la = analyze(members, skip=PathFilter(["/app/node_modules", "tmp/*"]))
    assert [p for p, _ in la.results] == ["var/lib/dpkg/status"]


def test_corrupt_layer_is_an_image_error() -> None:
    tar = tar_bytes([("var/lib/dpkg/status", status(("a", "1")) * 50, "file")])
    with pytest.raises(ImageError, match=r"layer 1 \(sha256:feed\)"):
        analyze_layer(io.BytesIO(gzip.compress(tar)[:-40]), "layer 1 (sha256:feed)", ANALYZERS)


def test_json_round_trip_with_a_real_dpkg_database(corpus: Path) -> None:
    case = corpus / "fixtures/deb/scalibr-dpkg-valid-status-file"
    data = (case / "var/lib/dpkg/status").read_bytes()
    la = analyze([("var/lib/dpkg/status", data, "file"), ("etc/.wh.x", b"", "file"), ("bin/sh", None, "symlink:a")],
                 analyzers=[DpkgAnalyzer()])
    expected = json.loads((case / "expected.json").read_text())
    got = sorted((p.name, p.version) for p in dict(la.results)["var/lib/dpkg/status"].packages)
    assert got == sorted((p["name"], p["version"]) for p in expected["packages"])
    again = LayerAnalysis.from_json(json.loads(json.dumps(la.to_json())))
    assert again == la


@pytest.mark.parametrize("damage", [
    lambda d: d.update(format=99), lambda d: d.update(results=[["x", {"packages": [{"name": 1}]}]]),
    lambda d: d.update(results=[["x", {"packages": [{"name": "a"}]}]]), lambda d: d.update(whiteouts=[3]),
    lambda d: d.update(results={"x": {}}), lambda d: d.update(unknowns=[{"path": "p"}]),
])
def test_from_json_rejects_damaged_data(damage) -> None:
    la = analyze([("var/lib/dpkg/status", status(("a", "1")), "file")])
    data = la.to_json()
    damage(data)
    with pytest.raises(ValueError):
        LayerAnalysis.from_json(data)
