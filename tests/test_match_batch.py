"""Batched database reads (issue 11): one query per namespace for a scan's packages, the
matched ids' records in one batch. The batched answers must be those of one-at-a-time
reads, and a whole SBOM must match exactly as its packages do one by one.

Real data: the corpus database and the corpus's Debian 9 dpkg status, plus real
PyPI/npm releases that the corpus feeds have advisories for.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from layerscan.analyzers.os.dpkg import parse as parse_dpkg
from layerscan.db.store import IN_CHUNK, Store
from layerscan.match.matcher import match_sbom
from layerscan.model import OSInfo, Package, Sbom

STRETCH = "fixtures/deb/real-debian9-stretch-image/var/lib/dpkg/status"
STRETCH_OS = OSInfo("debian", "9.13")
# spelled as installers write them: PyPI lookups normalise (PEP 503), so both spellings share rows
LANGUAGE = (("pypi", "Django", "2.2.10"), ("pypi", "django", "2.2.10"), ("pypi", "urllib3", "1.23"),
            ("pypi", "Jinja2", "2.10"), ("pypi", "PyYAML", "5.3"), ("pypi", "not-a-real-package-x", "1.0"),
            ("npm", "lodash", "4.17.15"), ("npm", "minimist", "1.2.0"))


def language_packages() -> tuple[Package, ...]:
    return tuple(Package(name=n, version=v, type=t, purl=f"pkg:{t}/{n}@{v}", file_path=f"app/{n}-{i}")
                 for i, (t, n, v) in enumerate(LANGUAGE))


@pytest.fixture(scope="module")
def packages(corpus: Path) -> tuple[Package, ...]:
    return (*parse_dpkg((corpus / STRETCH).read_bytes()).packages, *language_packages())


def test_whole_sbom_matches_as_its_packages_one_by_one(corpus_db: Path, packages: tuple[Package, ...]):
    with Store.open(corpus_db) as store:
        together = match_sbom(Sbom("t", "rootfs", os=STRETCH_OS, packages=packages), store)
        alone = [match_sbom(Sbom("t", "rootfs", os=STRETCH_OS, packages=(p,)), store) for p in packages]
    assert len(together.findings) > 1000  # the stretch image has many open advisories
    assert list(together.findings) == [f for r in alone for f in r.findings]
    assert list(together.unknowns) == [u for r in alone for u in r.unknowns]
    # binaries of one source package share their lookup, and each keeps its own findings
    binaries: dict[str, set[str]] = {}
    for f in together.findings:
        binaries.setdefault(f.match.package_name, set()).add(f.package.name)
    assert max(len(names) for names in binaries.values()) > 1


def test_affected_many_equals_one_key_queries(corpus_db: Path):
    with Store.open(corpus_db) as store:
        conn = sqlite3.connect(f"file:{corpus_db}?mode=ro", uri=True)
        debian = [r[0] for r in conn.execute(
            "SELECT DISTINCT name_key FROM affected WHERE namespace = 'Debian:9' ORDER BY name_key")]
        assert len(debian) > IN_CHUNK  # more names than one IN (...) query takes
        names = [*debian, "no-such-source-package"]
        many = store.affected_many("Debian:9", names)
        assert set(many) == set(names) and many["no-such-source-package"] == []
        for name in names[::7]:
            expected = [r[0] for r in conn.execute(
                "SELECT vuln_id FROM affected WHERE namespace = 'Debian:9' AND name_key = ? ORDER BY rowid", (name,))]
            assert [row.vuln_id for row in many[name]] == expected
            assert many[name] == store.affected("Debian:9", name)
        pypi = store.affected_many("PyPI", ["Django", "django", "DJANGO", "PyYAML", "pyyaml"])
        assert pypi["Django"] and pypi["Django"] == pypi["django"] == pypi["DJANGO"]
        assert pypi["PyYAML"] and pypi["PyYAML"] == pypi["pyyaml"]
        conn.close()


def test_advisory_batch_equals_one_id_reads(corpus_db: Path, packages: tuple[Package, ...]):
    with Store.open(corpus_db) as store:
        found = match_sbom(Sbom("t", "rootfs", os=STRETCH_OS, packages=packages), store).findings
        ids = sorted({i for f in found for i in (f.vulnerability_id, f.match.advisory_id, *f.aliases)})
        assert len(ids) > IN_CHUNK
        batch = store.advisory_batch([*ids, "CVE-0000-0000"])
        for vid in ids[::5]:
            assert batch.advisory(vid) == store.advisory(vid)
            assert batch.group_advisory(vid) == store.group_advisory(vid)
        assert batch.advisory("CVE-0000-0000") is None and batch.group_advisory("CVE-0000-0000") is None
        with pytest.raises(KeyError):
            batch.advisory("CVE-1999-0001")  # not read into this batch: never a silent None
        cves = [i for i in ids if i.startswith("CVE-")]
        assert store.kev_many(cves) == {c for c in cves if store.kev(c)}
        assert store.epss_many(cves) == {c: e for c in cves if (e := store.epss(c)) is not None}
        assert "CVE-2021-44228" in store.kev_many(["CVE-2021-44228", "CVE-0000-0000"])


def test_group_ratings_are_the_group_advisorys_ratings(corpus_db: Path, packages: tuple[Package, ...]):
    """A batch reads group-only members for their ratings; ``group_ratings`` gives what
    ``group_advisory`` (which reads the rest of those rows on demand) rates with."""
    with Store.open(corpus_db) as store:
        found = match_sbom(Sbom("t", "rootfs", os=STRETCH_OS, packages=packages), store).findings
        ids = sorted({f.vulnerability_id for f in found})
        batch = store.advisory_batch(ids)
        grouped = 0
        for vid in ids:
            rated, whole = batch.group_ratings(vid), batch.group_advisory(vid)
            assert whole == store.group_advisory(vid)
            assert rated is not None and whole is not None
            assert (rated.id, rated.source, rated.aliases, rated.severities, rated.cvss) == (
                whole.id, whole.source, whole.aliases, whole.severities, whole.cvss)
            assert (rated.summary, rated.details, rated.references) == ("", "", ())
            grouped += len(store.aliases(vid)) > 0
        assert grouped > 100  # CVEs whose groups hold DSA/DLA, GHSA, NVD... records
