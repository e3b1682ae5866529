"""Alpine secdb: the corpus YAML branches and generated JSON documents."""

from __future__ import annotations

import json
import re
from pathlib import Path

import yaml

from layerscan.db.feeds.alpine import AlpineFeed
from layerscan.db.feeds.base import ParseStats


def test_secdb_yaml_corpus(corpus: Path) -> None:
    root = corpus / "feeds" / "alpine-secdb-yaml"
    want: dict[str, set[tuple[str, str, str]]] = {}
    entries = 0
    for path in sorted(root.glob("v*/*.yaml")):
        doc = yaml.load(path.read_text(), Loader=yaml.BaseLoader)
        for entry in doc.get("packages") or []:
            entries += 1
            for fixed, ids in (entry["pkg"].get("secfixes") or {}).items():
                for line in ids or []:
                    if not re.match(r"^[A-Za-z][A-Za-z0-9._:+-]+$", line.split()[0]):
                        continue  # placeholders like "CVE-????-?????" are not ids
                    want.setdefault(line.split()[0], set()).add((f"Alpine:{doc['distroversion']}",
                                                                 entry["pkg"]["name"], fixed))
    stats = ParseStats()
    advs = {a.id: a for a in AlpineFeed().parse(root, stats)}
    assert stats.records == entries and stats.skipped == 0
    assert set(advs) == set(want)
    for vuln_id, rows in want.items():
        got = {(a.namespace, a.package, a.fixed_version or "0") for a in advs[vuln_id].affected}
        assert got == rows


def test_secdb_json_and_not_affected(tmp_path: Path) -> None:
    doc = {"distroversion": "v3.19", "reponame": "main", "packages": [
        {"pkg": {"name": "openssl", "secfixes": {"3.1.4-r1": ["CVE-2023-5678"], "0": ["CVE-2022-0001 (not us)"]}}},
        {"pkg": {"name": "zlib", "secfixes": {"1.3-r0": ["CVE-2023-45853", "CVE-2023-1 TALOS-1"]}}},
        {"pkg": {"secfixes": {}}},
    ]}
    (tmp_path / "main.json").write_text(json.dumps(doc))
    stats = ParseStats()
    advs = {a.id: a for a in AlpineFeed().parse(tmp_path, stats)}
    assert stats.skipped == 1
    assert advs["CVE-2023-5678"].affected[0].ranges[0].events == (("introduced", "0"), ("fixed", "3.1.4-r1"))
    assert advs["CVE-2022-0001"].affected[0].status == "not_affected"
    assert advs["CVE-2023-1"].affected[0].package == "zlib"
    assert advs["CVE-2023-5678"].affected[0].namespace == "Alpine:v3.19"


def test_secdb_json_real_samples(corpus: Path, tmp_path: Path) -> None:
    """secdb.alpinelinux.org JSON excerpts kept in vuln-list-update's tests."""
    import zipfile

    with zipfile.ZipFile(corpus / "feeds/upstream-samples/vuln-list-update-testdata.zip") as zf:
        names = [n for n in zf.namelist() if n.startswith("alpine/testdata/") and n.count("/") == 2
                 and n.endswith(".json")]
        docs = {n: json.loads(zf.read(n)) for n in names}
        zf.extractall(tmp_path, members=names)
    advs = {a.id: a for a in AlpineFeed().parse(tmp_path / "alpine", ParseStats())}
    checked = 0
    for doc in docs.values():
        for entry in doc["packages"] or []:
            for fixed, ids in entry["pkg"]["secfixes"].items():
                for vuln_id in ids or []:
                    row = next(a for a in advs[vuln_id].affected
                               if a.namespace == f"Alpine:{doc['distroversion']}" and a.package == entry["pkg"]["name"])
                    assert row.fixed_version == fixed
                    checked += 1
    assert checked > 0
