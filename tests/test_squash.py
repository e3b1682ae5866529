"""Layer stacking and attribution (walk/squash.py), on layers built as real tar streams."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

from layerscan.analyzers.os.dpkg import DpkgAnalyzer
from layerscan.model import LayerInfo
from layerscan.walk.analysis import LayerAnalysis
from layerscan.walk.layer import analyze_layer
from layerscan.walk.links import plan_redirects, resolve
from layerscan.walk.squash import squash

from fixtures.walk.walkhelpers import JsonPkgAnalyzer, StatusAnalyzer, status, tar_bytes

ANALYZERS = [StatusAnalyzer(), JsonPkgAnalyzer()]
DB = "var/lib/dpkg/status"


def layers(*members_per_layer, analyzers=ANALYZERS):
    analyses = [analyze_layer(io.BytesIO(tar_bytes(m)), f"layer {i}", analyzers)
                for i, m in enumerate(members_per_layer)]
    infos = [LayerInfo(index=i, diff_id=f"sha256:{i:064x}", created_by=f"step {i}") for i in range(len(analyses))]
    return squash(analyses, infos)


def placed(sq) -> dict[tuple[str, str], int]:
    return {(p.name, p.version): p.layer.index for p in sq.packages}


def test_package_added_in_a_later_layer() -> None:
    sq = layers([(DB, status(("base", "1")), "file")],
                [(DB, status(("base", "1"), ("curl", "8.0")), "file")])
    assert placed(sq) == {("base", "1"): 0, ("curl", "8.0"): 1}
    assert [p.layer.created_by for p in sq.packages] == ["step 0", "step 1"]


def test_rewritten_database_keeps_unchanged_packages_on_the_oldest_layer() -> None:
    db = status(("base", "1"), ("libc", "2.36"))
    sq = layers([(DB, db, "file")], [(DB, db, "file")], [("etc/x", b"", "file")], [(DB, db, "file")])
    assert placed(sq) == {("base", "1"): 0, ("libc", "2.36"): 0}


def test_upgraded_package_moves_to_the_upgrading_layer_and_removed_one_disappears() -> None:
    sq = layers([(DB, status(("base", "1"), ("zlib", "1.2"), ("tmp", "1")), "file")],
                [(DB, status(("base", "1"), ("zlib", "1.3")), "file")])
    assert placed(sq) == {("base", "1"): 0, ("zlib", "1.3"): 1}


def test_downgrade_then_back_is_not_continuous_presence() -> None:
    sq = layers([(DB, status(("a", "1")), "file")], [(DB, status(("a", "2")), "file")],
                [(DB, status(("a", "1")), "file")])
    assert placed(sq) == {("a", "1"): 2}


def test_whiteout_removes_a_database_and_everything_under_a_directory() -> None:
    sq = layers([(DB, status(("base", "1")), "file"), ("opt/app/lib/x.pkg.json", b'{"name":"x","version":"1"}',
                                                         "file"), ("etc/test-os", b"debian 12", "file")],
                [("var/lib/dpkg/.wh.status", b"", "file"), ("opt/.wh.app", b"", "file")])
    assert sq.packages == ()
    assert sq.os is not None and sq.os.family == "debian"


def test_opaque_dir_hides_lower_content_but_keeps_its_own() -> None:
    sq = layers([("srv/a/status", status(("old", "1")), "file"), ("srv/b/status", status(("other", "1")), "file")],
                [("srv/a/.wh..wh..opq", b"", "file"), ("srv/a/new/status", status(("new", "1")), "file")])
    assert placed(sq) == {("other", "1"): 0, ("new", "1"): 1}


def test_file_replaced_by_a_symlink_or_unwanted_file_loses_its_result() -> None:
    sq = layers([("a/status", status(("a", "1")), "file"), ("b/status", status(("b", "1")), "file")],
                [("a/status", None, "symlink:/etc/shadow"), ("b/status", None, "fifo")])
    assert sq.packages == ()


def test_a_directory_replaced_by_a_file_symlink_or_device_loses_everything_below_it() -> None:
    lower = [("srv/a/status", status(("a", "1")), "file"), ("srv/b/c/status", status(("b", "1")), "file"),
             ("srv/d/status", status(("d", "1")), "file"), ("srv/e/status", status(("e", "1")), "file")]
    sq = layers(lower, [("srv/a", b"now a file", "file"), ("srv/b", None, "symlink:/tmp"), ("srv/d", None, "fifo"),
                        ("srv/e", None, "dir")])
    assert placed(sq) == {("e", "1"): 0}  # a directory replacing a directory merges with it


def test_a_file_replaced_by_a_directory_loses_its_result() -> None:
    sq = layers([("srv/a/status", status(("a", "1")), "file")], [("srv/a/status", None, "dir")])
    assert sq.packages == ()


def test_replacement_in_the_same_layer_follows_tar_order() -> None:
    sq = layers([("srv/a/status", status(("a", "1")), "file"), ("srv/a", b"file", "file"),
                 ("srv/b", b"file", "file"), ("srv/b", None, "dir"), ("srv/b/status", status(("b", "1")), "file")])
    assert placed(sq) == {("b", "1"): 0}


def test_links_and_replaced_dirs_survive_the_cache_form() -> None:
    la = analyze_layer(io.BytesIO(tar_bytes([("srv/x", None, "dir"), ("var/lib/dpkg", None, "symlink:../../opt/d"),
                                             ("up", None, "symlink:../../../../etc")])), "layer 0", ANALYZERS)
    assert la.dirs == ("srv/x",) and la.links == (("var/lib/dpkg", "opt/d"), ("up", "etc"))
    assert LayerAnalysis.from_json(json.loads(json.dumps(la.to_json()))) == la


def test_symlinks_resolve_inside_the_image_and_loops_end() -> None:
    links = {"var/lib/dpkg": "opt/dpkg", "opt": "srv/opt", "loop": "loop", "a": "b", "b": "a"}
    assert resolve("var/lib/dpkg/status", links) == "srv/opt/dpkg/status"
    assert resolve("etc/os-release", links) == "etc/os-release"
    assert resolve("loop/x", links) is None and resolve("a", links) is None
    redirect = plan_redirects(links, [DpkgAnalyzer()])
    assert redirect.alias("srv/opt/dpkg/status") == "var/lib/dpkg/status"
    assert redirect.alias("opt/dpkg/status") is None


def test_os_last_one_wins_and_candidates_are_kept() -> None:
    sq = layers([("etc/test-os", b"debian 11", "file")], [("etc/test-os", b"debian 12", "file")])
    assert sq.os is not None and sq.os.name == "12"
    assert [(p, o.name) for p, o in sq.os_candidates] == [("etc/test-os", "12")]


def test_owned_files_merge_and_mark_language_packages() -> None:
    owned = {"python3-yaml": "/usr/lib/python3/dist-packages/yaml.pkg.json /usr/lib/python3/dist-packages/yaml/x.py"}
    sq = layers([(DB, status(("python3-yaml", "6.0"), files=owned), "file")],
                [("usr/lib/python3/dist-packages/yaml.pkg.json", b'{"name":"pyyaml","version":"6.0"}', "file"),
                 ("app/req.pkg.json", b'{"name":"flask","version":"3.0"}', "file")])
    by_name = {p.name: p for p in sq.packages}
    assert by_name["python3-yaml"].installed_files == tuple(sorted(owned["python3-yaml"].split()))
    assert by_name["pyyaml"].os_owner == "deb:python3-yaml" and not by_name["pyyaml"].matchable
    assert by_name["flask"].os_owner == "" and by_name["flask"].matchable


def test_unknowns_are_attributed_and_removed_with_their_file() -> None:
    sq = layers([("a/boom.pkg.json", b"{", "file"), ("b/boom.pkg.json", b"[", "file")],
                [("a/.wh.boom.pkg.json", b"", "file")])
    assert [(u.path, u.layer.index) for u in sq.unknowns] == [("b/boom.pkg.json", 0)]


def _without(stanzas: list[str], name: str) -> list[str]:
    return [s for s in stanzas if not s.startswith(f"Package: {name}\n")]


def test_real_debian_database_rewritten_by_later_layers(corpus: Path) -> None:
    """A real 492-package status file; layer 1 rewrites it removing one package and
    upgrading another (derived from the source data)."""
    text = (corpus / "fixtures/deb/real-debian9-stretch-image/var/lib/dpkg/status").read_text()
    stanzas = [s for s in text.split("\n\n") if s.strip()]
    removed = re.search(r"^Package: (.+)$", stanzas[10], re.M).group(1)
    upgraded_stanza = stanzas[20]
    upgraded = re.search(r"^Package: (.+)$", upgraded_stanza, re.M).group(1)
    old_version = re.search(r"^Version: (.+)$", upgraded_stanza, re.M).group(1)
    rewritten = [s.replace(f"Version: {old_version}", f"Version: {old_version}+fix1") if s == upgraded_stanza else s
                 for s in _without(stanzas, removed)]
    sq = layers([(DB, text.encode(), "file")], [("etc/hostname", b"x", "file")],
                [(DB, ("\n\n".join(rewritten) + "\n").encode(), "file")], analyzers=[DpkgAnalyzer()])
    first = layers([(DB, text.encode(), "file")], analyzers=[DpkgAnalyzer()])
    base = {(p.name, p.version, p.arch) for p in first.packages}
    assert len(base) > 400
    final = {(p.name, p.version, p.arch): p.layer.index for p in sq.packages}
    assert not any(name == removed for name, _, _ in final)
    assert {k for k, v in final.items() if v == 2} == {(upgraded, f"{old_version}+fix1", arch)
                                                       for n, _, arch in base if n == upgraded}
    assert {k for k, v in final.items() if v == 0} == {k for k in base if k[0] not in (removed, upgraded)}
    json.dumps([p.layer.diff_id for p in sq.packages])  # plain data
