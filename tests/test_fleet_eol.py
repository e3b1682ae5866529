"""eol.reached on the real PostgreSQL store: an image stored from a real inventory (the sample
Debian 12 base, supported today) whose OS release cycle reaches end of life by the database's
endoflife.date data (the corpus's endoflife-date pages) between two checks gets exactly one signed
eol.reached event; the next check sends nothing again. What had ended before an image was stored is
its baseline (no event)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from conftest_paths import CORPUS
from imagebuild import LayerSpec, build_image, sample_layers
from test_fleet import FEEDS, dist_info, psycopg
from test_fleet_webhooks import Receiver, receiver, verified  # noqa: F401 (the fixture)

ENDOFLIFE = CORPUS / "feeds" / "endoflife-date"
pytestmark = pytest.mark.skipif(not ENDOFLIFE.is_dir(), reason="corpus endoflife-date feed not present")


def stored_sbom(work: Path):  # type: ignore[no-untyped-def]
    """The sample Debian 12 base (tests/imagebuild.py) + a pip layer, inventoried as a worker would."""
    from layerscan.scan.config import InventoryConfig, Target
    from layerscan.scan.pipeline import Scanner

    image = build_image(sample_layers() + [LayerSpec(dist_info("urllib3", "1.24.1"))])
    image.write_oci_dir(work / "oci", tag="1.0")
    return Scanner().inventory(InventoryConfig(Target("image", "", str(work / "oci") + ":1.0")))


def test_one_eol_reached_event_per_image_and_release(pg_database: str, receiver: Receiver, tmp_path: Path) -> None:
    from layerscan.db.build import import_paths
    from layerscan.db.store import Store
    from layerscan.fleet import eol, webhooks
    from layerscan.fleet.ingest import ingest_sbom
    from layerscan.fleet.migrate import migrate
    from layerscan.fleet.rematch import ensure_generation
    from layerscan.match.lifecycle import os_entry

    sbom = stored_sbom(tmp_path)
    assert sbom.os is not None
    import_paths(tmp_path / "db" / "layerscan.db", [FEEDS, ENDOFLIFE])
    with Store.open(tmp_path / "db" / "layerscan.db") as vulndb, psycopg.connect(pg_database, autocommit=True) as conn:
        migrate(conn)
        stored = os_entry(eol.stored_os(f"{sbom.os.family} {sbom.os.name}"), vulndb, dt.date.today())
        assert stored is not None and stored.cycle, "the OS cycle is in the endoflife.date data"
        ended = dt.date.fromisoformat((stored.extended or stored.eol)[:10])
        secret = webhooks.add_endpoint(conn, receiver.url("/hooks"), allow_private=True)[1]
        generation = ensure_generation(conn, vulndb)
        ingest_sbom(conn, sbom, "registry.local/app:1", vulndb, generation)
        ingest_sbom(conn, sbom, "registry.local/app:1", vulndb, generation)  # the same digest again
        conn.execute("DELETE FROM webhook_outbox")  # the scan.completed events are not this test's

        def reached_os() -> int:
            return conn.execute("SELECT count(*) FROM eol_reached WHERE kind = 'os'").fetchone()[0]

        assert stored.state != "eol" and reached_os() == 0  # Debian 12 is supported (or in LTS) today
        before = eol.check(conn, vulndb, ended - dt.timedelta(days=1))
        assert (before.reached, before.events, reached_os()) == (0, 0, 0)
        # the day after its end: exactly the OS release, once, though the image was stored twice
        reached = eol.check(conn, vulndb, ended + dt.timedelta(days=1))
        assert reached_os() == 1 and reached.events == reached.reached >= 1
        again = eol.check(conn, vulndb, ended + dt.timedelta(days=2))
        assert (again.reached, again.events) == (0, 0)

        done = webhooks.deliver_due(conn)
        assert done.delivered == reached.events and not done.retrying and not done.failed
    deliveries = receiver.at("/hooks")
    assert len(deliveries) == reached.events and all(verified(secret, d) for d in deliveries)
    docs = [d.doc for d in deliveries]
    assert {d["type"] for d in docs} == {"eol.reached"}
    os_docs = [d["data"] for d in docs if d["data"]["kind"] == "os"]
    assert len(os_docs) == 1
    assert (os_docs[0]["name"], os_docs[0]["cycle"], os_docs[0]["state"]) == (sbom.os.family, stored.cycle, "eol")
    assert os_docs[0]["image"]["refs"] == ["registry.local/app:1"]
    runtime_keys = [(d["data"]["name"], d["data"]["cycle"]) for d in docs if d["data"]["kind"] == "runtime"]
    assert len(runtime_keys) == len(set(runtime_keys))  # one event per (kind, name, cycle), never repeated


def test_what_had_ended_before_the_image_was_stored_is_no_event(pg_database: str, tmp_path: Path) -> None:
    from layerscan.db.build import import_paths
    from layerscan.db.store import Store
    from layerscan.fleet import eol, webhooks
    from layerscan.fleet.migrate import migrate
    from layerscan.fleet.store import upsert_image

    import_paths(tmp_path / "db" / "layerscan.db", [ENDOFLIFE])
    with Store.open(tmp_path / "db" / "layerscan.db") as vulndb, psycopg.connect(pg_database, autocommit=True) as conn:
        migrate(conn)
        webhooks.add_endpoint(conn, "http://127.0.0.1:9/hooks", allow_private=True)
        old = upsert_image(conn, "sha256:" + "1" * 64, "registry.local/old:1", "debian 9.13", [])
        odd = upsert_image(conn, "sha256:" + "2" * 64, "registry.local/odd:1", "no-such-os 1", [])
        assert eol.check(conn, vulndb, images=[old, odd], silent=True) == eol.EolCheck(1, 0)
        assert eol.check(conn, vulndb) == eol.EolCheck(0, 0)
        assert conn.execute("SELECT count(*) FROM webhook_outbox").fetchone() == (0,)
