"""Red Hat CSAF advisories (db.feeds.redhat_csaf, db.redhat_sync) on the real samples kept in
vunnel's and vulnerablecode's test suites (corpus/feeds/upstream-samples)."""

from __future__ import annotations

import io
import json
import re
import shutil
import tarfile
import zipfile
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote

import pytest
import zstandard

from layerscan.db.feeds.base import ParseStats
from layerscan.db.feeds.common import normalise_severity
from layerscan.db.feeds.redhat_csaf import RedHatCsafFeed
from layerscan.db.feeds.registry import new_stats, read_mixed
from layerscan.db.redhat_sync import unpack_archive
from layerscan.errors import FeedError
from layerscan.match.namespace import os_namespace
from layerscan.match.ranges import evaluate
from layerscan.model import Advisory, Affected, OSInfo
from layerscan.versions import get_scheme

VUNNEL = "tests/unit/providers/rhel/test-fixtures/csaf/"
VULNERABLECODE = "vulnerabilities/tests/test_data/redhat/csaf_2_0/"
RPM = get_scheme("rpm")


# ---- sample files ---------------------------------------------------------------------------

def _extract(zip_path: Path, prefix: str, dest: Path, pattern: str = r".*\.json$") -> list[Path]:
    out = []
    with zipfile.ZipFile(zip_path) as zf:
        for name in zf.namelist():
            if name.startswith(prefix) and re.search(pattern, name) and not name.endswith("/"):
                target = dest / name[len(prefix):]
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(zf.read(name))
                out.append(target)
    return out


@pytest.fixture(scope="module")
def samples(corpus: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Every real CSAF advisory of the samples, one directory (vunnel: advisories/ and server/)."""
    root = tmp_path_factory.mktemp("rh-csaf")
    up = corpus / "feeds" / "upstream-samples"
    _extract(up / "vunnel-provider-fixtures.zip", VUNNEL + "advisories/", root / "vunnel")
    _extract(up / "vunnel-provider-fixtures.zip", VUNNEL + "server/", root / "vunnel-server", r"/\d{4}/.*\.json$")
    _extract(up / "vulnerablecode-test-data.zip", VULNERABLECODE, root / "vulnerablecode")
    return root


def documents(root: Path) -> dict[str, dict[str, Any]]:
    docs = {}
    for path in sorted(root.rglob("*.json")):
        doc = json.loads(path.read_text())
        docs[doc["document"]["tracking"]["id"]] = doc
    return docs


def parse(path: Path) -> tuple[list[Advisory], ParseStats]:
    stats = ParseStats()
    return list(RedHatCsafFeed().parse(path, stats)), stats


# ---- expected rows, derived from the raw documents --------------------------------------------

def _products(branches: list, found: dict[str, dict]) -> dict[str, dict]:
    for branch in branches or []:
        if "product" in branch:
            found[branch["product"]["product_id"]] = branch["product"].get("product_identification_helper", {})
        _products(branch.get("branches", []), found)
    return found


def _release(cpe: str) -> str:
    """Mainline RHEL (enterprise_linux) and ELS products -> major release; extended minor
    streams (rhel_eus/aus/e4s/tus) and other products -> ''."""
    parts = cpe.split(":")
    return parts[4].split(".")[0] if parts[3] in ("enterprise_linux", "rhel_els") else ""


def _build(purl: str) -> tuple[str, str, str, str] | None:
    """(name, evr, arch, module stream) of an rpm purl."""
    if not purl.startswith("pkg:rpm/"):
        return None
    path, _, query = purl.partition("?")
    name, _, version = path.rsplit("/", 1)[-1].partition("@")
    q = {k: v[0] for k, v in parse_qs(query).items()}
    epoch = q.get("epoch", "0")
    evr = unquote(version) if epoch == "0" else f"{epoch}:{unquote(version)}"
    mod = q.get("rpmmod", "").split(":")
    return unquote(name), evr, q.get("arch", ""), ":".join(mod[:2]) if len(mod) > 1 else ""


def expected_rows(doc: dict) -> dict[str, set[tuple[str, str, str]]]:
    """CVE -> {(namespace, package, lowest fixed EVR)} as the document states its fixes."""
    helpers = _products(doc["product_tree"].get("branches", []), {})
    joins = {r["full_product_name"]["product_id"]: (r["product_reference"], r["relates_to_product_reference"])
             for r in doc["product_tree"].get("relationships", [])}
    out: dict[str, set[tuple[str, str, str]]] = {}
    for vuln in doc["vulnerabilities"]:
        best: dict[tuple[str, str, str, bool], str] = {}
        for full in vuln.get("product_status", {}).get("fixed", []):
            comp, prod = joins[full]
            stream = ""
            while prod in joins:  # a package of a module of the product
                module, prod = joins[prod]
                mod = helpers[module]["purl"].split("/")[-1].replace("@", ":").split(":")
                stream = stream or f"{mod[0]}:{mod[1]}"
            major = _release(helpers[prod].get("cpe", "cpe:/x:x:x:x"))
            build = _build(helpers[comp].get("purl", ""))
            if not major or build is None or build[0].endswith(("-debuginfo", "-debugsource")):
                continue
            key = (f"Red Hat:{major}", build[0], build[3] or stream, build[2] == "src")
            if key not in best or RPM.compare(build[1], best[key]) < 0:
                best[key] = build[1]
        with_binaries = {ns for ns, _, _, src in best if not src}
        rows = {(ns, name, evr) for (ns, name, _, src), evr in best.items() if not src or ns not in with_binaries}
        if rows:
            out.setdefault(vuln["cve"], set()).update(rows)
    return out


def _impact(vuln: dict) -> str:
    return next(t["details"] for t in vuln["threats"] if t["category"] == "impact")


# ---- parsing ------------------------------------------------------------------------------------

def test_every_sample_advisory_gives_the_fixes_it_states(samples: Path) -> None:
    docs = documents(samples)
    assert len(docs) >= 14
    advs, stats = parse(samples)
    assert stats.records == len(docs) and stats.skipped == 0
    for erratum, doc in docs.items():
        want = expected_rows(doc)
        mine = [a for a in advs if erratum in a.aliases]
        assert {a.id for a in mine} == set(want), erratum
        for adv in mine:
            assert adv.source == "redhat"
            assert {(r.namespace, r.package, r.fixed_version) for r in adv.affected} == want[adv.id]
            vuln = next(v for v in doc["vulnerabilities"] if v["cve"] == adv.id)
            label = _impact(vuln)
            assert {(r.severity, r.urgency, r.status) for r in adv.affected} == {
                (normalise_severity(label), label, "fixed")}
            vectors = {s[k]["vectorString"] for s in vuln.get("scores", []) for k in ("cvss_v3", "cvss_v2") if k in s}
            assert {c.vector for c in adv.cvss} == vectors and {c.source for c in adv.cvss} <= {"redhat"}
            assert adv.summary == vuln["title"]


def test_namespaces_are_what_the_matcher_builds_for_rhel_and_centos(samples: Path, corpus: Path) -> None:
    advs, _ = parse(samples)
    namespaces = {r.namespace for a in advs for r in a.affected}
    expected_os = json.loads((corpus / "fixtures/os-release/trivy-redhatbase-happy-path/expected.json").read_text())
    detected = os_namespace(OSInfo(family=expected_os["os"]["family"], name=expected_os["os"]["name"]))
    assert detected in namespaces  # the real RHEL 6 release file -> "Red Hat:6", which the ELS erratum fills
    for family in ("redhat", "centos"):  # os-release ID rhel (-> redhat) and centos
        assert {os_namespace(OSInfo(family=family, name=f"{ns.split(':')[1]}.4")) for ns in namespaces} == namespaces


def test_extended_update_streams_and_other_products_give_no_rows(samples: Path) -> None:
    docs = documents(samples)
    advs, _ = parse(samples)
    rows = {(a.aliases[0], r.namespace, r.package, r.fixed_version) for a in advs for r in a.affected}
    # RHSA-2024:0811 fixes sudo for 8.6/8.8 EUS, 9.0/9.2 EUS and mainline 8 and 9: only mainline remains
    doc = docs["RHSA-2024:0811"]
    helpers = _products(doc["product_tree"]["branches"], {})
    eus = {p for p, h in helpers.items() if ":rhel_eus:" in h.get("cpe", "")}
    assert eus
    joins = {r["full_product_name"]["product_id"]: r for r in doc["product_tree"]["relationships"]}
    eus_evrs = {_build(helpers[j["product_reference"]]["purl"])[1] for j in joins.values()  # type: ignore[index]
                if j["relates_to_product_reference"] in eus}
    mine = {r for r in rows if r[0] == "RHSA-2024:0811"}
    assert mine and not {r[3] for r in mine} & eus_evrs
    # EUS/AUS/TUS/E4S only, OpenShift, Quay, Developer Hub: nothing for a RHEL image
    for erratum in ("RHEA-2025:2418", "RHSA-2025:0002", "RHBA-2024:11505", "RHBA-2025:1079", "RHBA-2025:0409"):
        assert erratum in docs and not [r for r in rows if r[0] == erratum]


def test_module_streams_keep_their_own_rows_and_do_not_cross(samples: Path) -> None:
    advs, _ = parse(samples / "vunnel")
    cve = "CVE-2021-33621"  # fixed in ruby:2.5 (RHSA-2023:7025), ruby:2.7 (RHSA-2023:3821), ruby:3.1 (RHSA-2024:1431)
    rubies = [r for a in advs if a.id == cve for r in a.affected if (r.namespace, r.package) == ("Red Hat:8", "ruby")]
    fixes = sorted({r.fixed_version for r in rubies}, key=RPM.key)
    assert len(rubies) == len(fixes) == 3 and all(".module+el8" in f for f in fixes)
    for fix in fixes:  # an install at any stream's fix is clean against every stream's row
        assert not any(evaluate(r, fix, RPM).affected for r in rubies), fix
        own = next(r for r in rubies if r.fixed_version == fix)
        assert own.ranges[0].events[0] == ("introduced", ".".join(fix.split(".")[:2]))
    # without the stream bound, the ruby:2.5 fix would be "vulnerable" to the ruby:3.1 row
    newest = next(r for r in rubies if r.fixed_version == fixes[-1])
    assert evaluate(Affected(namespace=newest.namespace, package="ruby", fixed_version=fixes[-1], status="fixed"),
                    fixes[0], RPM).affected


def test_source_only_documents_fall_back_to_the_source_name(samples: Path) -> None:
    advs, _ = parse(samples / "vunnel")
    rows = {(a.aliases[0], r.package, r.fixed_version) for a in advs if a.id == "CVE-2024-8088" for r in a.affected}
    docs = documents(samples / "vunnel")
    want = {(e, *_build(docs[e]["product_tree"]["branches"][0]["branches"][1]["branches"][0]["product"]
                        ["product_identification_helper"]["purl"])[:2]) for e in ("RHSA-2024:6163", "RHSA-2024:9371")}
    assert rows == want


def test_epoch_is_kept_unless_zero(samples: Path) -> None:
    advs, _ = parse(samples)
    bind = {r.fixed_version for a in advs if "RHSA-2025:23414" in a.aliases for r in a.affected}
    assert bind and all(v.startswith("32:") for v in bind)  # purl epoch=32
    tiger = {r.fixed_version for a in advs if "RHSA-2024:0010" in a.aliases for r in a.affected}
    assert tiger and not any(":" in v for v in tiger)  # epoch 0: the rpm scheme reads a missing epoch as 0
    assert RPM.compare("0:" + next(iter(tiger)), next(iter(tiger))) == 0


def test_mixed_import_routes_csaf_to_redhat(samples: Path, tmp_path: Path) -> None:
    shutil.copy(samples / "vunnel" / "2024" / "rhsa-2024_9371.json", tmp_path)
    (tmp_path / "PYSEC-1.json").write_text(json.dumps({"id": "PYSEC-1", "modified": "2024-01-01T00:00:00Z"}))
    stats = new_stats()
    got = {(feed, getattr(rec, "id", "")) for feed, rec in read_mixed([tmp_path], stats)}
    assert ("redhat", "CVE-2024-8088") in got and ("osv", "PYSEC-1") in got


def test_malformed_documents_are_counted_not_raised(samples: Path, tmp_path: Path) -> None:
    real = json.loads((samples / "vunnel" / "2024" / "rhsa-2024_6163.json").read_text())
    bad: dict[str, Any] = {
        "no-vulns.json": {**real, "vulnerabilities": {"x": 1}},
        "no-id.json": {**real, "document": {**real["document"], "tracking": {"id": "not an id!"}}},
        "tree.json": {**real, "product_tree": {"branches": "x", "relationships": [1, None, {"category": 3}]}},
        "vuln-items.json": {**real, "vulnerabilities": [1, {"cve": 5, "product_status": {"fixed": [None, 3]}}]},
    }
    for name, doc in bad.items():
        (tmp_path / name).write_text(json.dumps(doc))
    (tmp_path / "broken.json").write_text('{"document": {')
    advs, stats = parse(tmp_path)
    assert advs == []
    assert stats.records == 4  # broken.json never decoded as a document
    assert stats.skipped == 4  # no-vulns, no-id, broken.json (decode), vuln-items' entry 1
    assert any("tracking.id" in w for w in stats.warnings)


# ---- archive unpacking (db update) ----------------------------------------------------------------

def _tar_zst(members: list[tuple[tarfile.TarInfo, bytes]]) -> bytes:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as tar:
        for info, data in members:
            info.size = len(data) if info.isreg() else 0
            tar.addfile(info, io.BytesIO(data) if info.isreg() else None)
    return zstandard.ZstdCompressor().compress(raw.getvalue())


def _info(name: str, kind: bytes = tarfile.REGTYPE, link: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.linkname = kind, link
    return info


def test_unpack_keeps_only_advisory_members(tmp_path: Path) -> None:
    archive = tmp_path / "a.tar.zst"
    archive.write_bytes(_tar_zst([
        (_info("2024/rhsa-2024_1.json"), b"{}"), (_info("./2023/rhba-2023_2.json"), b"{}"),
        (_info("../evil.json"), b"{}"), (_info("/etc/x.json"), b"{}"), (_info("2024/../../y.json"), b"{}"),
        (_info("2024/link.json", tarfile.SYMTYPE, "/etc/passwd"), b""), (_info("2024/notes.txt"), b"x"),
    ]))
    dest = tmp_path / "tree"
    dest.mkdir()
    assert unpack_archive(archive, dest) == 2
    assert sorted(p.relative_to(dest).as_posix() for p in dest.rglob("*") if p.is_file()) == [
        "2023/rhba-2023_2.json", "2024/rhsa-2024_1.json"]
    assert not (tmp_path / "evil.json").exists()


def test_unpack_bounds_and_garbage(tmp_path: Path) -> None:
    archive = tmp_path / "a.tar.zst"
    archive.write_bytes(_tar_zst([(_info("2024/rhsa-2024_1.json"), b"x" * 5000)]))
    with pytest.raises(FeedError):
        unpack_archive(archive, tmp_path, max_bytes=1000)
    archive.write_bytes(b"A TAR.ZST OF CSAF RHSAs.\n")  # what vunnel's fixture server holds
    with pytest.raises(FeedError):
        unpack_archive(archive, tmp_path)


# ---- db update against a local server in the upstream layout ----------------------------------------

from test_db_update import mirror  # noqa: E402,F401 - the local HTTP server fixture

from layerscan.db.store import Store  # noqa: E402
from layerscan.db.update import UpdateOptions, update_database  # noqa: E402


def _year_path(path: Path) -> str:
    """rhsa-2023_7025.json -> 2023/rhsa-2023_7025.json (the upstream tree layout)."""
    year = re.search(r"-(\d{4})_", path.name).group(1)  # type: ignore[union-attr]
    return f"{year}/{path.name}"


def _server(corpus: Path, root: Path, samples: Path) -> tuple[str, list[tuple[str, str]]]:
    """vunnel's server fixture (archive_latest.txt, changes.csv, deletions.csv, 2024/rhsa-2024_0010.json)
    with its placeholder archive replaced by a real .tar.zst of vunnel's real advisories."""
    _extract(corpus / "feeds/upstream-samples/vunnel-provider-fixtures.zip", VUNNEL + "server/", root,
             r"(\.txt|\.csv|\.json)$")
    name = (root / "archive_latest.txt").read_text().strip()
    members = []
    for path in sorted((samples / "vunnel").rglob("*.json")):
        info = tarfile.TarInfo(_year_path(path))
        members.append((info, path.read_bytes()))
    (root / name).write_bytes(_tar_zst(members))
    changes = [(r[0], r[1]) for r in (line.replace('"', "").split(",")
                                       for line in (root / "changes.csv").read_text().splitlines()) if len(r) == 2]
    return name, changes


def test_db_update_redhat_archive_then_changes_and_deletions(mirror, corpus: Path, samples: Path,  # noqa: F811
                                                             tmp_path: Path) -> None:
    base, root, server = mirror
    name, changes = _server(corpus, root, samples)
    opts = UpdateOptions(cache_dir=tmp_path / "cache", sources=("redhat",), urls={"redhat": base}, env={})
    result = update_database(opts)
    assert "redhat" in result.changed and result.failed == {}
    archive_day = re.search(r"(\d{4}-\d{2}-\d{2})", name).group(1)  # type: ignore[union-attr]
    newer = [path for path, stamp in changes if stamp[:10] >= archive_day]
    assert ("/2024/rhsa-2024_0010.json", 200) in server.log  # changed after the archive: fetched
    assert {p for (p, status) in server.log if status == 404} == {f"/{p}" for p in newer
                                                                    if not (root / p).exists()}
    docs = documents(samples)
    want = expected_rows(docs["RHSA-2024:0010"])
    with Store.open(opts.db_path) as store:
        for cve, rows in want.items():
            for namespace, package, fixed in rows:
                got = {(r.vuln_id, r.affected.fixed_version) for r in store.affected(namespace, package)}
                assert (cve, fixed) in got
        ruby31 = {r.affected.fixed_version for r in store.affected("Red Hat:8", "ruby")}
    assert {f for rows in expected_rows(docs["RHSA-2024:1431"]).values() for ns, p, f in rows if p == "ruby"} <= ruby31

    # next run: the same archive (not downloaded again); RHSA-2024:1431 deleted upstream since
    with open(root / "deletions.csv", "a") as fh:
        fh.write('"2024/rhsa-2024_1431.json","2030-01-01T00:00:00+00:00"\n')
    update_database(opts)
    assert server.log[(f"/{name}", 200)] == 1
    with Store.open(opts.db_path) as store:
        left = {r.affected.fixed_version for r in store.affected("Red Hat:8", "ruby")}
    gone = {f for rows in expected_rows(docs["RHSA-2024:1431"]).values() for ns, p, f in rows if p == "ruby"}
    assert left and not left & gone


def test_redhat_url_comes_from_the_environment(tmp_path: Path) -> None:
    opts = UpdateOptions(cache_dir=tmp_path, env={"LAYERSCAN_DB_REDHAT_URL": "http://127.0.0.1:9/csaf/"})
    assert opts.url("redhat") == "http://127.0.0.1:9/csaf"
    assert UpdateOptions(cache_dir=tmp_path, env={}).url("redhat").startswith(
        "https://security.access.redhat.com/data/csaf/v2/advisories")


# ---- end to end: the real CLI --------------------------------------------------------------------

from test_cli_main import run_cli  # noqa: E402
from test_cli_no_silent_pass import os_of, rpm_root  # noqa: E402


@pytest.fixture(scope="module")
def rh_work(samples: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    work = tmp_path_factory.mktemp("rh-e2e")
    proc = run_cli("db", "import", str(samples), cwd=work)
    assert proc.returncode == 0, proc.stderr
    return work


def _expected_findings(samples: Path, namespace: str, installed: dict[str, str]) -> dict[str, set[str]]:
    """package -> CVEs whose rows in ``namespace`` fix it above the installed version."""
    advs, _ = parse(samples)
    out: dict[str, set[str]] = {}
    for adv in advs:
        for row in adv.affected:
            if row.namespace == namespace and row.package in installed and evaluate(row, installed[row.package],
                                                                                     RPM).affected:
                out.setdefault(row.package, set()).add(adv.id)
    return out


def test_rhel_rpmdb_is_checked_against_red_hat_data(rh_work: Path, samples: Path, corpus: Path) -> None:
    """The real RHEL release file + the real RHEL rpmdb of the corpus. No sample advisory names
    the rpmdb's only package (dive), so the findings the records imply are none; what the data
    changes is that the OS is now checked (Red Hat:6 rows come from the RHEL 6 ELS erratum)."""
    rpm_root(corpus, rh_work / "rhel", "trivy-redhatbase-happy-path", "syft-redhat-testparserpmdb")
    proc = run_cli("rootfs", str(rh_work / "rhel"), "--skip-db-update", "-f", "json", "--list-all-pkgs",
                   "--fail-on-unscanned-os", cwd=rh_work)
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    os_info = doc["Metadata"]["OS"]
    assert os_info["Family"] == os_of(corpus, "trivy-redhatbase-happy-path")["family"]
    assert not os_info.get("Unsupported") and "UncheckedOSPackages" not in doc["Layerscan"]
    namespace = os_namespace(OSInfo(family=os_info["Family"], name=os_info["Name"]))
    installed = {p["Name"]: p["Version"] + (f"-{p['Release']}" if p.get("Release") else "")
                 for r in doc["Results"] for p in r.get("Packages") or []}
    assert installed
    got: dict[str, set[str]] = {}
    for r in doc["Results"]:
        for v in r.get("Vulnerabilities") or []:
            got.setdefault(v["PkgName"], set()).add(v["VulnerabilityID"])
    assert got == _expected_findings(samples, namespace, installed)


def _cyclonedx(os_id: str, version: str, packages: dict[str, str]) -> str:
    comps = [{"type": "operating-system", "name": os_id, "version": version}]
    comps += [{"type": "library", "name": n, "version": v, "purl": f"pkg:rpm/redhat/{n}@{v}?arch=x86_64"}
              for n, v in packages.items()]
    return json.dumps({"bomFormat": "CycloneDX", "specVersion": "1.5", "version": 1,
                       "metadata": {"component": {"type": "container", "name": "rhel-test"}}, "components": comps})


@pytest.mark.parametrize("os_id,release,erratum,stream_erratum", [
    # python3.9 as RHSA-2024:6163 left it (9.4 z-stream); RHSA-2024:9371 (9.5) fixes the same CVE again
    ("rhel", "9.4", "RHSA-2024:6163", "RHSA-2024:9371"),
    # ruby as RHSA-2023:3821 (ruby:2.7) left it; RHSA-2024:1431 fixes ruby:3.1, RHSA-2023:7025 ruby:2.5
    ("centos", "8.9", "RHSA-2023:3821", "RHSA-2024:1431"),
])
def test_sbom_of_packages_at_released_fixes(rh_work: Path, samples: Path, os_id: str, release: str, erratum: str,
                                           stream_erratum: str) -> None:
    """Installed versions are the real NVRs one erratum shipped; the findings are what the other
    records imply for them (a later minor release's fix: found; another module stream's fix: not)."""
    docs = documents(samples)
    namespace = os_namespace(OSInfo(family="redhat" if os_id == "rhel" else os_id, name=release))
    rows = expected_rows(docs[erratum])
    installed = {p: f for rs in rows.values() for ns, p, f in rs if ns == namespace and p in ("python3.9", "ruby")}
    assert installed
    sbom = rh_work / f"{erratum.replace(':', '_')}.cdx.json"
    sbom.write_text(_cyclonedx(os_id, release, installed))
    proc = run_cli("sbom", str(sbom), "--skip-db-update", "-f", "json", cwd=rh_work)
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    got: dict[str, set[str]] = {}
    for r in doc["Results"]:
        for v in r.get("Vulnerabilities") or []:
            got.setdefault(v["PkgName"], set()).add(v["VulnerabilityID"])
            assert v["SeveritySource"] == "redhat" or v["Severity"] in ("MEDIUM", "HIGH"), v
    want = _expected_findings(samples, namespace, installed)
    assert got == want
    if os_id == "rhel":  # the 9.5 erratum's fix is above the 9.4 z-stream build
        assert want == {"python3.9": set(expected_rows(docs[stream_erratum]))}
    else:  # a ruby:2.7 build is not "vulnerable" to the ruby:3.1 (or 2.5) fix
        assert not want
