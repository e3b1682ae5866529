"""The fleet's work queue: a procrastinate app on the fleet database.

    app = make_app(FleetRuntime(database_url, inventory, database))
    submit(app, "registry/team/app:1.0")        # enqueue (one pending scan per image: queueing lock)
    app.run_worker()                             # ``layerscan worker``; any number of them, any host

``scan_image`` runs the library inventory (``scan.pipeline.Scanner.inventory``) with the worker's
image options and ingests the SBOM (``fleet.ingest``); ``rematch`` refreshes the vulnerability
database as a scan would (``scan.dbrefresh``) and re-matches the changed keys (``fleet.rematch``),
periodically and on demand. Failed scans are retried with exponential backoff. Both write their
webhook events to the outbox and start ``deliver_webhooks`` (``fleet.webhooks``), which posts what is
due, schedules itself again for the next retry, and also runs every minute. ``poll_watches`` polls the
watched repositories that are due (``fleet.watch``) every minute and queues scans of new digests.
``eol_check`` runs after each re-match and daily (``fleet.eol``: eol.reached events).
``retry_stalled`` runs every minute too and puts back in the queue the jobs of workers that stopped
sending heartbeats (killed, host lost): procrastinate's ``JobManager.get_stalled_jobs`` /
``retry_job``; a scan's ingest is one transaction, so a scan cut short stored nothing.
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from layerscan.fleet.eol import EolCheck
from layerscan.fleet.ingest import IngestResult
from layerscan.fleet.rematch import RematchResult
from layerscan.fleet.watch import PollResult
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
WATCH_TASK = "layerscan.poll_watches"
WATCH_CRON = "* * * * *"  # each watch is polled when its own interval has passed (fleet.watch)
EOL_TASK = "layerscan.eol_check"
EOL_CRON = "17 3 * * *"  # daily: a release reaches end of life on a date, without any database change
STALLED_TASK = "layerscan.retry_stalled"
STALLED_CRON = "* * * * *"
# a worker whose heartbeat (every 10 s, procrastinate's default) is older than this is gone: the
# same as procrastinate's own stalled_worker_timeout default
STALLED_AFTER = 30.0


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


def scan_and_ingest(runtime: FleetRuntime, ref: str, insecure: bool = False) -> IngestResult:
    """Inventory ``ref`` and store it (the body of the ``scan_image`` task); ``insecure``: plain HTTP
    or unverified TLS for this image even when the worker was not started with --insecure."""
    import psycopg

    from layerscan.fleet.ingest import ingest_sbom
    from layerscan.fleet.rematch import ensure_generation
    from layerscan.scan.pipeline import Scanner

    config = dataclasses.replace(runtime.inventory, target=Target("image", ref))
    if insecure:
        config = dataclasses.replace(config, source=dataclasses.replace(config.source, insecure=True))
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
    log.info("generation %d: %d keys changed, %d packages re-matched, +%d/-%d matches, %d newly in KEV,"
             " %d webhook events", result.generation, result.keys_changed, result.packages, len(result.added),
             len(result.removed), result.kev_added, result.events)
    return result


def check_eol(runtime: FleetRuntime) -> EolCheck:
    """Find the images whose OS or runtime reached end of life since the last check (``fleet.eol``)."""
    import psycopg

    from layerscan.fleet.eol import check

    with open_vulndb(runtime) as vulndb, psycopg.connect(runtime.database_url) as conn:
        result = check(conn, vulndb)
    if result.reached:
        log.info("end of life: %d image releases newly end of life, %d webhook events", result.reached,
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


def poll_watches(runtime: FleetRuntime, app: procrastinate.App, only_due: bool = True) -> list[PollResult]:
    """Poll the watched repositories (``fleet.watch``), queueing a scan per new digest (the app is open)."""
    import psycopg

    from layerscan.fleet.watch import poll

    with psycopg.connect(runtime.database_url, autocommit=True) as conn:
        return poll(conn, runtime.inventory.source, lambda ref, insecure: enqueue_scan(app, ref, insecure),
                    only_due=only_due)


def enqueue_scan(app: procrastinate.App, ref: str, insecure: bool = False) -> bool:
    """Queue a scan of ``ref`` from synchronous code; False when one is waiting already."""
    from procrastinate.exceptions import AlreadyEnqueued

    try:
        app.configure_task(SCAN_TASK, queueing_lock=lock_key(ref)).defer(ref=ref, **_scan_options(insecure))
    except AlreadyEnqueued:
        return False
    return True


def enqueue_delivery(app: procrastinate.App) -> None:
    """Start ``deliver_webhooks`` now from synchronous code (the app is open)."""
    _defer_delivery(app, "webhooks")


def _scan_options(insecure: bool) -> dict[str, Any]:
    return {"insecure": True} if insecure else {}


async def retry_stalled_jobs(app: procrastinate.App, after: float = STALLED_AFTER) -> list[int]:
    """Put the jobs of workers silent for ``after`` seconds back in the queue; their ids."""
    from procrastinate.exceptions import AlreadyEnqueued, ConnectorException

    retried = []
    for job in await app.job_manager.get_stalled_jobs(seconds_since_heartbeat=after):
        assert job.id is not None
        try:
            await app.job_manager.retry_job(job)
        except (AlreadyEnqueued, ConnectorException) as exc:  # e.g. the same scan queued again meanwhile
            log.warning("stalled job %d (%s) not retried: %s", job.id, job.task_name, exc)
            continue
        log.warning("job %d (%s) was running on a worker that stopped; queued again", job.id, job.task_name)
        retried.append(job.id)
    return retried


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
    def scan_image(ref: str, insecure: bool = False) -> None:
        if scan_and_ingest(runtime, ref, insecure).events:
            _defer_delivery(app, "webhooks")

    @app.periodic(cron=REMATCH_CRON, periodic_id="rematch")
    @app.task(name=REMATCH_TASK, queueing_lock="rematch")
    def rematch_fleet(timestamp: int | None = None) -> None:
        if refresh_and_rematch(runtime).events + check_eol(runtime).events:
            _defer_delivery(app, "webhooks")

    @app.periodic(cron=EOL_CRON, periodic_id="eol")
    @app.task(name=EOL_TASK, queueing_lock="eol")
    def eol_check(timestamp: int | None = None) -> None:
        if check_eol(runtime).events:
            _defer_delivery(app, "webhooks")

    @app.periodic(cron=DELIVER_CRON, periodic_id="webhooks")
    @app.task(name=DELIVER_TASK, queueing_lock="webhooks")
    def deliver(timestamp: int | None = None) -> None:
        wait = deliver_webhooks(runtime)
        if wait is not None:
            _defer_delivery(app, "webhooks-retry", wait)

    @app.periodic(cron=WATCH_CRON, periodic_id="watch")
    @app.task(name=WATCH_TASK, queueing_lock="watch")
    def poll_watched(timestamp: int | None = None) -> None:
        poll_watches(runtime, app)

    @app.periodic(cron=STALLED_CRON, periodic_id="stalled")
    @app.task(name=STALLED_TASK, queueing_lock="stalled")
    async def retry_stalled(timestamp: int | None = None) -> None:
        await retry_stalled_jobs(app)

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


async def request_delivery(app: procrastinate.App) -> None:
    """Start ``deliver_webhooks`` now (events were just written; from async code, e.g. the API)."""
    from procrastinate.exceptions import AlreadyEnqueued, ConnectorException

    try:
        await app.configure_task(DELIVER_TASK, queueing_lock="webhooks").defer_async()
    except AlreadyEnqueued:
        pass  # one is waiting already: it posts everything that is due when it runs
    except ConnectorException as exc:
        log.warning("could not start the webhook delivery now (%s); the next periodic run delivers", exc)


async def request_rematch(app: procrastinate.App) -> int | None:
    from procrastinate.exceptions import AlreadyEnqueued

    try:
        return await app.configure_task(REMATCH_TASK, queueing_lock="rematch").defer_async()
    except AlreadyEnqueued:
        return None
