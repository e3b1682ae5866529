"""Debian tracker: DSA/DLA lists from the corpus, tracker JSON generated here."""

from __future__ import annotations

import gzip
import json
import re
from pathlib import Path

from layerscan.db.feeds.base import ParseStats
from layerscan.db.feeds.debian import CODENAMES, DebianFeed, parse_list, tracker_status


def _dsa_blocks(text: str) -> list[tuple[str, list[str], list[tuple[str, str, str]]]]:
    """Independent reading of the list: (id, cves, [(codename, package, version)])."""
    blocks: list[tuple[str, list[str], list[tuple[str, str, str]]]] = []
    for line in text.splitlines():
        if m := re.match(r"^\[[^\]]+\] ((?:DSA|DLA)-[\d-]+) ", line):
            blocks.append((m.group(1), [], []))
        elif blocks and (m := re.match(r"^\s+\{(.*)\}", line)):
            blocks[-1][1].extend(m.group(1).split())
        elif blocks and (m := re.match(r"^\s+\[(\w+)\] - (\S+)\s+(\S+)", line)):
            blocks[-1][2].append(m.groups())
    return blocks


def test_dsa_list_counts_and_rows(corpus: Path) -> None:
    path = corpus / "feeds" / "debian-security-tracker" / "data" / "DSA" / "list.gz"
    text = gzip.decompress(path.read_bytes()).decode()
    blocks = _dsa_blocks(text)
    stats = ParseStats()
    entries = list(parse_list(text, stats))
    assert len(entries) == len(blocks) > 5000
    assert stats.skipped == 0
    by_id = {e.advisory_id: e for e in entries}
    for dsa, cves, rows in blocks[:: len(blocks) // 50]:
        entry = by_id[dsa]
        assert list(entry.cves) == cves
        want = [(f"Debian:{CODENAMES[c]}", p, v) for c, p, v in rows if c in CODENAMES]
        got = [(r.namespace, r.package, r.fixed_version if r.status == "fixed" else "<not-affected>")
               for r in entry.rows]
        assert got == want


def test_one_advisory_per_cve_with_dsa_alias(corpus: Path) -> None:
    feeds = corpus / "feeds" / "debian-security-tracker"
    text = gzip.decompress((feeds / "data" / "DSA" / "list.gz").read_bytes()).decode()
    dsa, cves, rows = next(b for b in _dsa_blocks(text) if len(b[1]) > 2 and b[2])
    advisories = {a.id: a for a in DebianFeed().parse(feeds, ParseStats())}
    for cve in cves:
        adv = advisories[cve]
        assert dsa in adv.aliases
        for codename, package, version in rows:
            assert any(a.namespace == f"Debian:{CODENAMES[codename]}" and a.package == package
                       and a.fixed_version == version and a.status == "fixed"
                       and a.ranges[0].events == (("introduced", "0"), ("fixed", version)) for a in adv.affected)


def test_not_affected_marker(corpus: Path) -> None:
    text = gzip.decompress((corpus / "feeds/debian-security-tracker/data/DSA/list.gz").read_bytes()).decode()
    entries = list(parse_list(text, ParseStats()))
    marked = [r for e in entries for r in e.rows if r.status == "not_affected"]
    assert len(marked) == len(re.findall(r"^\s+\[\w+\] - \S+\s+<not-affected>", text, re.M))


TRACKER = {
    "openssl": {
        "CVE-2099-0001": {"description": "fixed one", "releases": {
            "bookworm": {"status": "resolved", "fixed_version": "3.0.11-1~deb12u1", "urgency": "high"},
            "bullseye": {"status": "open", "urgency": "low", "nodsa": "Minor issue", "nodsa_reason": ""},
            "buster": {"status": "open", "urgency": "low", "nodsa": "Minor", "nodsa_reason": "ignored"},
            "stretch": {"status": "open", "urgency": "end-of-life"},
            "trixie": {"status": "resolved", "fixed_version": "0", "urgency": "unimportant"},
            "sid": {"status": "open", "urgency": "medium", "nodsa_reason": "postponed"},
        }},
        "CVE-2099-0002": {"releases": []},
    },
    "curl": {"CVE-2099-0001": {"releases": {"bookworm": {"status": "undetermined"}}}},
}


def test_tracker_json_statuses(tmp_path: Path) -> None:
    path = tmp_path / "tracker.json"
    path.write_text(json.dumps(TRACKER))
    stats = ParseStats()
    advs = {a.id: a for a in DebianFeed().parse(path, stats)}
    assert stats.skipped == 1  # CVE-2099-0002: releases is not a mapping
    rows = {(a.namespace, a.package): a for a in advs["CVE-2099-0001"].affected}
    assert rows[("Debian:12", "openssl")].status == "fixed"
    assert rows[("Debian:12", "openssl")].fixed_version == "3.0.11-1~deb12u1"
    assert rows[("Debian:12", "openssl")].severity == "HIGH"
    assert rows[("Debian:11", "openssl")].status == "affected"
    assert rows[("Debian:10", "openssl")].status == "will_not_fix"
    assert rows[("Debian:9", "openssl")].status == "end_of_life"
    assert rows[("Debian:13", "openssl")].status == "not_affected"
    assert rows[("Debian:13", "openssl")].urgency == "unimportant"
    assert rows[("Debian:13", "openssl")].severity == "LOW"
    assert rows[("Debian:sid", "openssl")].status == "fix_deferred"
    assert rows[("Debian:12", "curl")].status == "under_investigation"
    assert advs["CVE-2099-0001"].details == "fixed one"


def test_tracker_status_mapping_table() -> None:
    assert tracker_status({"status": "resolved", "fixed_version": "<not-affected>"}) == "not_affected"
    assert tracker_status({"status": "open"}) == "affected"


def test_tracker_json_real_sample(corpus: Path, tmp_path: Path) -> None:
    """The tracker JSON excerpt kept in vunnel's tests (real tracker data)."""
    import zipfile

    with zipfile.ZipFile(corpus / "feeds/upstream-samples/vunnel-provider-fixtures.zip") as zf:
        raw = zf.read("tests/unit/providers/debian/test-fixtures/input/debian.json")
    (tmp_path / "tracker.json").write_bytes(raw)
    doc = json.loads(raw)
    advs = {a.id: a for a in DebianFeed().parse(tmp_path / "tracker.json", ParseStats())}
    for package, cves in doc.items():
        for cve, entry in cves.items():
            if not isinstance(entry.get("releases"), dict):
                assert cve not in advs or all(a.package != package for a in advs[cve].affected)
                continue
            rows = {a.namespace: a for a in advs[cve].affected if a.package == package}
            for codename, rel in entry["releases"].items():
                row = rows[f"Debian:{CODENAMES[codename]}"]
                assert row.urgency == rel.get("urgency", "")
                if rel["status"] == "resolved" and rel["fixed_version"] != "0":
                    assert (row.status, row.fixed_version) == ("fixed", rel["fixed_version"])
                elif rel["status"] == "resolved":
                    assert row.status == "not_affected"
