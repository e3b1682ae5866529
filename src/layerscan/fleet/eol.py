"""End of life across the fleet: which stored images run an OS or a runtime whose release cycle
the vulnerability database's endoflife.date data now says is end of life (``match.lifecycle``:
the OS as ``match.eol`` looks it up, with Debian LTS counting as supported; runtimes from the
images' OS packages and identified binaries).

``check`` runs after every re-match and once a day (``fleet.tasks``); each (image, kind, name,
cycle) found end of life for the first time gets a row in ``eol_reached`` and one ``eol.reached``
event in the outbox, in one transaction, so a later check (or a second worker running the same
check) sends nothing again. An ingest records what had already ended for the new image without
events (``silent``): the event says a release *became* end of life while the image was stored.
The work is per distinct OS and per distinct package, not per image.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Sequence

from layerscan.fleet import outbox
from layerscan.match.lifecycle import EolEntry, EolLookup, find_runtimes, os_entry, runtime_entries
from layerscan.model import OSInfo, Package
from layerscan.walk.serialize import leaf_from_json

if TYPE_CHECKING:
    import psycopg

EOL_REACHED = "eol.reached"


@dataclass(frozen=True)
class EolCheck:
    reached: int  # (image, kind, name, cycle) found end of life for the first time
    events: int  # eol.reached events written to the outbox


def stored_os(os_text: str) -> OSInfo | None:
    """The OS of ``images.os`` as ingest writes it ("debian 9.13", "suse linux enterprise server 15.5")."""
    family, _, name = os_text.strip().rpartition(" ")
    return OSInfo(family, name) if family and name else None


def _only(images: Sequence[int] | None) -> dict[str, object]:
    return {"all": images is None, "ids": list(images or ())}


def _os_ended(conn: psycopg.Connection, store: EolLookup, today: dt.date,
              images: Sequence[int] | None) -> dict[int, list[EolEntry]]:
    by_os: dict[str, list[int]] = defaultdict(list)
    for image_id, os_text in conn.execute("SELECT id, os FROM images WHERE os <> ''"
                                          " AND (%(all)s OR id = ANY(%(ids)s))", _only(images)):
        by_os[os_text].append(int(image_id))
    ended: dict[int, list[EolEntry]] = defaultdict(list)
    for os_text, ids in by_os.items():
        entry = os_entry(stored_os(os_text), store, today)
        if entry is not None and entry.is_eol:
            for image_id in ids:
                ended[image_id].append(entry)
    return ended


def _runtimes_ended(conn: psycopg.Connection, store: EolLookup, today: dt.date,
                    images: Sequence[int] | None) -> dict[int, list[EolEntry]]:
    ended_by_package: dict[int, list[EolEntry]] = {}
    for package_id, doc in conn.execute(
            "SELECT p.id, p.doc->'package' FROM packages p WHERE %(all)s OR p.id IN"
            " (SELECT package_id FROM image_packages WHERE image_id = ANY(%(ids)s))", _only(images)):
        runtimes = find_runtimes(None, [leaf_from_json(Package, doc)])
        entries = [e for e in runtime_entries(runtimes, store, today) if e.is_eol] if runtimes else []
        if entries:
            ended_by_package[int(package_id)] = entries
    ended: dict[int, list[EolEntry]] = defaultdict(list)
    if ended_by_package:
        for image_id, package_id in conn.execute(
                "SELECT DISTINCT image_id, package_id FROM image_packages WHERE package_id = ANY(%(p)s)"
                " AND (%(all)s OR image_id = ANY(%(ids)s)) ORDER BY 1, 2", {"p": list(ended_by_package),
                                                                              **_only(images)}):
            ended[int(image_id)].extend(ended_by_package[int(package_id)])
    return ended


def _event(image_id: int, entry: EolEntry) -> outbox.Event:
    return outbox.Event(EOL_REACHED, image_id, {**asdict(entry), "evidence": list(entry.evidence)})


def check(conn: psycopg.Connection, store: EolLookup, today: dt.date | None = None,
          images: Sequence[int] | None = None, silent: bool = False) -> EolCheck:
    """Record what reached end of life since the last check and write its eol.reached events; only in
    ``images`` when given; ``silent``: record without events (an image just stored: what had ended
    before it came is its baseline, as a first policy verdict is)."""
    day = today or dt.date.today()
    with conn.transaction():
        found: dict[tuple[int, str, str, str], EolEntry] = {}
        for ended in (_os_ended(conn, store, day, images), _runtimes_ended(conn, store, day, images)):
            for image_id, entries in ended.items():
                for entry in entries:
                    found.setdefault((image_id, entry.kind, entry.name, entry.cycle), entry)
        if not found:
            return EolCheck(0, 0)
        keys = sorted(found)
        new = conn.execute(
            "INSERT INTO eol_reached (image_id, kind, name, cycle, eol_date)"
            " SELECT * FROM unnest(%s::bigint[], %s::text[], %s::text[], %s::text[], %s::text[])"
            " ON CONFLICT DO NOTHING RETURNING image_id, kind, name, cycle",
            ([k[0] for k in keys], [k[1] for k in keys], [k[2] for k in keys], [k[3] for k in keys],
             [found[k].eol for k in keys])).fetchall()
        reached = sorted((int(i), kind, name, cycle) for i, kind, name, cycle in new)
        wanted = reached and not silent and outbox.wanted(conn)
        events = outbox.record(conn, [_event(k[0], found[k]) for k in reached]) if wanted else 0
    return EolCheck(len(reached), events)
