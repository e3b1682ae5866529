"""``layerscan server`` and ``layerscan worker``: the fleet on PostgreSQL (layerscan.fleet).

Both take ``--database URL`` (env LAYERSCAN_DATABASE) and the image flags (--insecure, --username,
--platform, ...); images are opened and walked as ``layerscan image`` would (the config builders of
cli/scan_cmd.py). They need the ``server`` extra; without it they say how to install it.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from typing import Any, Callable

from layerscan.cli.flags import add_flags, flags_for
from layerscan.errors import LayerscanError, UsageError

COMMANDS = ("server", "worker")
EXTRA_MODULES = ("psycopg", "procrastinate", "starlette", "uvicorn")
_SCAN_DESTS = frozenset({"skip_db_update", "db_repository"})  # the database refresh before a re-match
Options = dict[str, Any]


class MissingExtraError(LayerscanError):
    def __init__(self, module: str) -> None:
        super().__init__(f"the fleet commands need the 'server' extra ({module} is not installed)",
                         hint="install layerscan[server]: pip install 'layerscan[server]'")


def _flags() -> tuple:
    return tuple(f for f in flags_for("image")
                 if (f.group in ("global", "image") and f.dest != "input") or f.dest in _SCAN_DESTS)


def _database_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--database", default=os.environ.get("LAYERSCAN_DATABASE", ""), metavar="URL",
                        help="the fleet's PostgreSQL database (postgresql://user@host/db) [env LAYERSCAN_DATABASE]")


def register(subparsers: argparse._SubParsersAction[Any]) -> None:
    summary = "serve the fleet HTTP API (stored SBOMs on PostgreSQL: which images does CVE-X hit?)"
    server = subparsers.add_parser("server", help=summary, description=summary)
    _database_flag(server)
    server.add_argument("--host", default="127.0.0.1", help="interface to listen on (default 127.0.0.1)")
    server.add_argument("--port", type=int, default=8080, help="port (default 8080)")
    server.add_argument("--embedded-worker", action="store_true",
                        help="also run a worker in this process (one machine, no separate 'layerscan worker')")
    summary = "run fleet jobs from the PostgreSQL queue: image scans and re-matches on database updates"
    worker = subparsers.add_parser("worker", help=summary, description=summary)
    _database_flag(worker)
    worker.add_argument("--concurrency", type=int, default=1, help="jobs run at once (default 1)")
    for parser in (server, worker):
        add_flags(parser, _flags())


def _need_extra() -> None:
    import importlib

    for module in EXTRA_MODULES:
        try:
            importlib.import_module(module)
        except ImportError:
            raise MissingExtraError(module) from None


def _runtime(args: argparse.Namespace, opts: Options) -> Any:
    from layerscan.cli.scan_cmd import database_config, inventory_config
    from layerscan.fleet.tasks import FleetRuntime

    if not args.database:
        raise UsageError(f"{args.command}: give --database postgresql://... (or set LAYERSCAN_DATABASE)")
    return FleetRuntime(args.database, inventory_config("image", "", opts), database_config(opts))


def _prepare(args: argparse.Namespace, opts: Options) -> tuple[Any, Any]:
    """The runtime and the procrastinate app, with the fleet schema and the queue's tables in place."""
    import psycopg

    from layerscan.fleet.migrate import migrate
    from layerscan.fleet.tasks import ensure_queue_schema, make_app

    runtime = _runtime(args, opts)
    try:
        with psycopg.connect(runtime.database_url, autocommit=True) as conn:
            for name in migrate(conn):
                logging.getLogger(__name__).info("applied fleet migration %s", name)
        app = make_app(runtime)
        ensure_queue_schema(app, runtime.database_url)
    except psycopg.Error as exc:
        raise LayerscanError(f"fleet database: {str(exc).strip().splitlines()[0] if str(exc).strip() else exc}",
                             hint="check --database (postgresql://user@host:port/dbname)") from exc
    return runtime, app


def _log_to_stderr(opts: Options) -> None:
    if opts.get("quiet"):
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("layerscan: %(levelname)s %(name)s: %(message)s"))
    for name in ("layerscan.fleet", "procrastinate"):
        logger = logging.getLogger(name)
        logger.addHandler(handler)
        if logger.level == logging.NOTSET or logger.level > logging.INFO:
            logger.setLevel(logging.DEBUG if opts.get("debug") else logging.INFO)


def run(args: argparse.Namespace, opts: Options) -> int:
    _need_extra()
    _log_to_stderr(opts)
    runtime, app = _prepare(args, opts)
    if args.command == "worker" or args.embedded_worker:
        from layerscan.fleet.tasks import open_vulndb

        open_vulndb(runtime).close()  # no database: say so now, not in every job
    commands: dict[str, Callable[[], None]] = {
        "worker": lambda: _worker(app, args.concurrency),
        "server": lambda: _server(runtime, app, args.host, args.port, args.embedded_worker),
    }
    commands[args.command]()
    return 0


def _worker(app: Any, concurrency: int) -> None:
    if concurrency < 1:
        raise UsageError("--concurrency must be at least 1")
    app.run_worker(concurrency=concurrency)


def _server(runtime: Any, app: Any, host: str, port: int, embedded_worker: bool) -> None:
    import uvicorn

    from layerscan.fleet.api import make_api

    if not 0 < port < 65536:
        raise UsageError("--port must be between 1 and 65535")
    uvicorn.run(make_api(runtime, app, embedded_worker=embedded_worker), host=host, port=port,
                log_level="warning", lifespan="on")
