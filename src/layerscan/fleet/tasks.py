"""The fleet's work queue: a procrastinate app on the fleet database.

    app = make_app(FleetRuntime(database_url, inventory, database))
    submit(app, "registry/team/app:1.0")        # enqueue (one pending scan per image: queueing lock)
    app.run_worker()                             # ``layerscan worker``; any number of them, any host

``scan_image`` runs the library inventory (``scan.pipeline.Scanner.inventory``) with the worker's
image options and ingests the SBOM (``fleet.ingest``); ``rematch`` refreshes the vulnerability
database as a scan would (``scan.dbrefresh``) and re-matches the changed keys (``fleet.rematch``),
periodically and on demand. Failed scans are retried with exponential backoff. Both write their
webhook events to the outbox and start ``deliver_webhooks`` (``fleet.webhooks``), which posts what is
due, schedules itself again for the next retry, and also runs every minute.
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from layerscan.fleet.ingest import IngestResult
from layerscan.fleet.rematch import RematchResult
from layerscan.scan.config import DatabaseConfig, InventoryConfig, Target

if TYPE_CHECKING:
    import procrastinate

log = logging.getLogger(__name__)
SCAN_TASK = "layerscan.scan_image"
REMATCH_TASK = "layerscan.rematch"
REMATCH_CRON = "*/15 * * * *"  # every 15 minutes; the database refresh itself decides whether to download
SCAN_ATTEMPTS = 4
DELIVER_TASK = "layerscan.deliver_webhooks"
DELIVER_CRON = "* * * * *"  # a safety net: deliveries normally start right after the event is written


@dataclass(frozen=True)
class FleetRuntime:
    database_url: str  # PostgreSQL conninfo (postgresql://...)
    inventory: InventoryConfig  # how images are opened and walked (its target is replaced per job)
    database: DatabaseConfig  # the vulnerability database (SQLite under the cache dir)


class AlreadyQueued(Exception):
    """A scan of this image is already waiting (the queueing lock)."""


def lock_key(ref: str) -> str:
    """One pending scan per image: the digest when the reference pins one, else the reference."""
    return "scan:" + (ref.rsplit("@", 1)[1] if "@" in ref else ref)


def open_vulndb(runtime: FleetRuntime) -> Any:
    """The vulnerability database (``db.store.Store``); DatabaseError with what to do when there is none."""
    from layerscan.db.store import Store
    from layerscan.db.update import db_path
    from layerscan.errors import DatabaseError
    from layerscan.scan.vulns import NO_DATABASE_HINT

    path = db_path(runtime.database.cache_dir)
    if not path.is_file():
        raise DatabaseError(f"no vulnerability database at {path}", hint=NO_DATABASE_HINT)
    return Store.open(path)


def scan_and_ingest(runtime: FleetRuntime, ref: str) -> IngestResult:
    """Inventory ``ref`` and store it (the body of the ``scan_image`` task)."""
    import psycopg

    from layerscan.fleet.ingest import ingest_sbom
    from layerscan.fleet.rematch import ensure_generation
    from layerscan.scan.pipeline import Scanner

    config = dataclasses.replace(runtime.inventory, target=Target("image", ref))
    sbom = Scanner(warn=lambda message: log.warning("%s: %s", ref, message)).inventory(config)
    with open_vulndb(runtime) as vulndb, psycopg.connect(runtime.database_url) as conn:
        generation = ensure_generation(conn, vulndb)
        result = ingest_sbom(conn, sbom, ref, vulndb, generation)
    log.info("stored %s as %s: %d packages (%d new to the fleet), %d matches", ref, result.digest,
             result.packages, result.new_packages, result.matches)
    return result


def refresh_and_rematch(runtime: FleetRuntime) -> RematchResult:
    """Refresh the vulnerability database (as before a scan) and re-match what changed."""
    import psycopg

    from layerscan.fleet.rematch import rematch
    from layerscan.progress import NULL_PROGRESS
    from layerscan.scan.dbrefresh import refresh_database

    refresh_database(runtime.database, NULL_PROGRESS, lambda message: log.warning("%s", message))
    with open_vulndb(runtime) as vulndb, psycopg.connect(runtime.database_url) as conn:
        result = rematch(conn, vulndb)
    log.info("generation %d: %d keys changed, %d packages re-matched, +%d/-%d matches, %d webhook events",
             result.generation, result.keys_changed, result.packages, len(result.added), len(result.removed),
             result.events)
    return result


def deliver_webhooks(runtime: FleetRuntime) -> float | None:
    """Post every delivery that is due; seconds until the next pending one (None: none pending)."""
    import psycopg

    from layerscan.fleet.webhooks import deliver_due

    with psycopg.connect(runtime.database_url) as conn:
        while True:
            done = deliver_due(conn)
            if done.delivered or done.retrying or done.failed or done.disabled:
                log.info("webhooks: %d delivered, %d to retry, %d failed, %d endpoints disabled", done.delivered,
                         done.retrying, done.failed, done.disabled)
            if done.next_due is None or done.next_due > 0 or not (done.delivered + done.retrying + done.failed
                                                                  + done.disabled):
                return done.next_due


def _defer_delivery(app: procrastinate.App, lock: str, seconds: float = 0.0) -> None:
    from procrastinate.exceptions import AlreadyEnqueued, ConnectorException

    options: dict[str, Any] = {"schedule_in": {"seconds": max(1, round(seconds))}} if seconds else {}
    try:
        app.configure_task(DELIVER_TASK, queueing_lock=lock, **options).defer()
    except AlreadyEnqueued:
        pass  # one is waiting already: it posts everything that is due when it runs
    except ConnectorException as exc:  # the events are in the outbox: the periodic run delivers them
        log.warning("could not start the webhook delivery now (%s); the next periodic run delivers", exc)


def make_app(runtime: FleetRuntime) -> procrastinate.App:
    from procrastinate import App, PsycopgConnector, RetryStrategy

    app = App(connector=PsycopgConnector(conninfo=runtime.database_url))

    @app.task(name=SCAN_TASK, retry=RetryStrategy(max_attempts=SCAN_ATTEMPTS, exponential_wait=2))
    def scan_image(ref: str) -> None:
        if scan_and_ingest(runtime, ref).events:
            _defer_delivery(app, "webhooks")

    @app.periodic(cron=REMATCH_CRON, periodic_id="rematch")
    @app.task(name=REMATCH_TASK, queueing_lock="rematch")
    def rematch_fleet(timestamp: int | None = None) -> None:
        if refresh_and_rematch(runtime).events:
            _defer_delivery(app, "webhooks")

    @app.periodic(cron=DELIVER_CRON, periodic_id="webhooks")
    @app.task(name=DELIVER_TASK, queueing_lock="webhooks")
    def deliver(timestamp: int | None = None) -> None:
        wait = deliver_webhooks(runtime)
        if wait is not None:
            _defer_delivery(app, "webhooks-retry", wait)

    return app


def ensure_queue_schema(app: procrastinate.App, database_url: str) -> None:
    """Create procrastinate's tables once (the fleet's own come from ``fleet.migrate``)."""
    import psycopg

    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("SELECT pg_advisory_lock(%s)", (0x6C617371,))
        try:
            row = conn.execute("SELECT to_regclass('procrastinate_jobs') IS NOT NULL").fetchone()
            if not (row and row[0]):
                conn.execute(app.schema_manager.get_schema().encode())
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", (0x6C617371,))


async def submit(app: procrastinate.App, ref: str) -> int:
    """Enqueue a scan of ``ref``; the job id (AlreadyQueued when one is waiting)."""
    from procrastinate.exceptions import AlreadyEnqueued

    try:
        return await app.configure_task(SCAN_TASK, queueing_lock=lock_key(ref)).defer_async(ref=ref)
    except AlreadyEnqueued as exc:
        raise AlreadyQueued(ref) from exc


async def request_rematch(app: procrastinate.App) -> int | None:
    from procrastinate.exceptions import AlreadyEnqueued

    try:
        return await app.configure_task(REMATCH_TASK, queueing_lock="rematch").defer_async()
    except AlreadyEnqueued:
        return None
