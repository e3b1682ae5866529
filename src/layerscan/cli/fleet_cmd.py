"""``layerscan server`` and ``layerscan worker``: the fleet on PostgreSQL (layerscan.fleet).

Both take ``--database URL`` (env LAYERSCAN_DATABASE) and the image flags (--insecure, --username,
--platform, ...); images are opened and walked as ``layerscan image`` would (the config builders of
cli/scan_cmd.py). They need the ``server`` extra; without it they say how to install it.

    layerscan server token create --scope read|write    an API token, printed once (stored hashed)
    layerscan server webhook add URL [--allow-private]  a Standard Webhooks endpoint; prints its secret
    layerscan server watch add REPO --tags GLOB [--insecure] [--interval S] | list | remove ID|REPO | poll
                                                        registry watching (fleet.watch); poll: once, now
    layerscan server sbom add FILE [--name REF]         store and match an SBOM document (fleet.sboms)
    layerscan server policy set --fail-on SEV [--ignore-unfixed] | show | clear
                                                        the fleet policy (fleet.policy: policy.failed events)
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


def _database_flag(parser: argparse.ArgumentParser, default: Any = None) -> None:
    parser.add_argument("--database", default=os.environ.get("LAYERSCAN_DATABASE", "") if default is None else default,
                        metavar="URL",
                        help="the fleet's PostgreSQL database (postgresql://user@host/db) [env LAYERSCAN_DATABASE]")


def _register_admin(server: argparse.ArgumentParser) -> None:
    admin = server.add_subparsers(dest="server_command", metavar="{token,webhook,watch,sbom,policy}")
    tokens = admin.add_parser("token", help="API tokens").add_subparsers(
        dest="admin_action", metavar="create", required=True)
    create = tokens.add_parser("create", help="create an API token and print it (once)")
    create.add_argument("--scope", choices=("read", "write"), required=True,
                        help="read: the GET routes; write: the POST routes too")
    create.add_argument("--name", default="", help="a note stored with the token (who it is for)")
    webhooks = admin.add_parser("webhook", help="webhook endpoints").add_subparsers(
        dest="admin_action", metavar="add", required=True)
    add = webhooks.add_parser("add", help="add a Standard Webhooks endpoint and print its signing secret")
    add.add_argument("url", help="http(s) URL the events are posted to")
    add.add_argument("--allow-private", action="store_true",
                     help="allow a loopback or private-network target (refused by default: SSRF guard)")
    for parser in (create, add, *_register_watch(admin), *_register_sbom_policy(admin)):
        _database_flag(parser, argparse.SUPPRESS)  # after the subcommand too; the server's value otherwise


def _register_watch(admin: argparse._SubParsersAction[Any]) -> tuple[argparse.ArgumentParser, ...]:
    watches = admin.add_parser("watch", help="watched registry repositories").add_subparsers(
        dest="admin_action", metavar="{add,list,remove,poll}", required=True)
    add = watches.add_parser("add", help="watch a repository: new digests of matching tags are scanned")
    add.add_argument("repository", metavar="REPO", help="registry/repository, without a tag")
    add.add_argument("--tags", default="*", metavar="PATTERN", help="glob over the tags to watch (default '*')")
    add.add_argument("--insecure", dest="watch_insecure", action="store_true",
                     help="plain HTTP or unverified TLS for this registry (its polls and scans)")
    add.add_argument("--interval", type=int, default=300, metavar="SECONDS",
                     help="seconds between the worker's polls of it (default 300)")
    remove = watches.add_parser("remove", help="stop watching (by id, or every watch of a repository)")
    remove.add_argument("watch", metavar="ID|REPO")
    listing = watches.add_parser("list", help="the watches, when each was polled and its last error")
    poll = watches.add_parser("poll", help="poll every watch now and queue scans of new digests (for cron)")
    return add, remove, listing, poll


def _register_sbom_policy(admin: argparse._SubParsersAction[Any]) -> tuple[argparse.ArgumentParser, ...]:
    from layerscan.fleet.store import SEVERITIES

    sboms = admin.add_parser("sbom", help="SBOM documents").add_subparsers(
        dest="admin_action", metavar="add", required=True)
    add = sboms.add_parser("add", help="store an SBOM (CycloneDX, SPDX or Syft JSON, or a layerscan JSON report)"
                                       " as an image and match it")
    add.add_argument("sbom_file", metavar="FILE", help="the SBOM document")
    add.add_argument("--name", dest="sbom_name", default="", metavar="REF",
                     help="the reference to list it under (default: the document's own name)")
    add_flags(add, tuple(f for f in _flags() if f.group == "global"))  # --cache-dir: the database it is matched on
    policies = admin.add_parser("policy", help="the fleet policy (policy.failed webhook events)").add_subparsers(
        dest="admin_action", metavar="{set,show,clear}", required=True)
    put = policies.add_parser("set", help="hold every image to a severity threshold")
    put.add_argument("--fail-on", dest="policy_fail_on", required=True, type=str.upper, choices=SEVERITIES,
                     metavar="SEVERITY", help=f"an image fails with a vulnerability this severe or worse"
                                              f" ({', '.join(SEVERITIES)})")
    put.add_argument("--ignore-unfixed", dest="policy_ignore_unfixed", action="store_true",
                     help="only vulnerabilities with a fixed version count")
    show = policies.add_parser("show", help="the policy and how many images fail it")
    clear = policies.add_parser("clear", help="remove the policy")
    return add, put, show, clear


_WORKER = "run fleet jobs from the PostgreSQL queue: image scans and re-matches on database updates"


def register(subparsers: argparse._SubParsersAction[Any]) -> None:
    summary = "serve the fleet HTTP API (stored SBOMs on PostgreSQL: which images does CVE-X hit?)"
    server = subparsers.add_parser("server", help=summary, description=summary)
    worker = subparsers.add_parser("worker", help=_WORKER, description=_WORKER)
    built = [p for p in (server, worker) if isinstance(p, argparse.ArgumentParser)]  # not: this run names another
    if server in built:
        _database_flag(server)
        _register_admin(server)
        server.add_argument("--host", default="127.0.0.1", help="interface to listen on (default 127.0.0.1)")
        server.add_argument("--port", type=int, default=8080, help="port (default 8080)")
        server.add_argument("--embedded-worker", action="store_true",
                            help="also run a worker in this process (one machine, no separate 'layerscan worker')")
    if worker in built:
        _database_flag(worker)
        worker.add_argument("--concurrency", type=int, default=1, help="jobs run at once (default 1)")
    for parser in built:
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
    if getattr(args, "server_command", None) == "watch":
        return _watch(args, runtime, app)
    if getattr(args, "server_command", None) == "sbom":
        return _sbom(args, runtime, app)
    if getattr(args, "server_command", None) == "policy":
        return _policy(args, runtime.database_url)
    if getattr(args, "server_command", None):
        return _admin(args, runtime.database_url)
    if args.command == "worker" or args.embedded_worker:
        from layerscan.fleet.tasks import open_vulndb

        open_vulndb(runtime).close()  # no database: say so now, not in every job
    commands: dict[str, Callable[[], None]] = {
        "worker": lambda: _worker(app, args.concurrency),
        "server": lambda: _server(runtime, app, args.host, args.port, args.embedded_worker),
    }
    commands[args.command]()
    return 0


def _admin(args: argparse.Namespace, database_url: str) -> int:
    import psycopg

    from layerscan.fleet import tokens, webhooks

    with psycopg.connect(database_url) as conn:
        if args.server_command == "token":
            print(tokens.create_token(conn, args.scope, args.name))
            print(f"layerscan: created a {args.scope} token; it is not shown again (only its hash is stored)",
                  file=sys.stderr)
            return 0
        try:
            endpoint, secret = webhooks.add_endpoint(conn, args.url, args.allow_private)
        except webhooks.TargetRefused as exc:
            raise UsageError(f"webhook add: {exc}") from None
    print(secret)
    print(f"layerscan: webhook endpoint {endpoint} added for {args.url}; verify its deliveries with the secret"
          " above (Standard Webhooks)", file=sys.stderr)
    return 0


def _watch(args: argparse.Namespace, runtime: Any, app: Any) -> int:
    import psycopg

    from layerscan.fleet import watch
    from layerscan.fleet.tasks import poll_watches

    if args.admin_action == "poll":
        with app.open():
            for done in poll_watches(runtime, app, only_due=False):
                print(f"{done.watch}\t{done.repository}\t{done.matched} of {done.tags} tags\t{done.heads} HEADs\t"
                      f"{done.unchanged} unchanged\t{len(done.queued)} queued\t{len(done.known)} known")
                if done.error:
                    print(f"layerscan: watch {done.watch} {done.repository}: {done.error}", file=sys.stderr)
        return 0
    with psycopg.connect(runtime.database_url) as conn:
        try:
            if args.admin_action == "add":
                found, added = watch.add_watch(conn, args.repository, args.tags, args.watch_insecure, args.interval)
                print(found.id)
                print(f"layerscan: {'watching' if added else 'already watching'} {found.repository} tags "
                      f"{found.tags!r} (watch {found.id}); the workers poll it every {found.interval} s, "
                      "'layerscan server watch poll' polls now", file=sys.stderr)
            elif args.admin_action == "remove":
                removed = watch.remove_watches(conn, args.watch)
                if not removed:
                    raise UsageError(f"watch remove: no watch {args.watch!r} (see 'layerscan server watch list')")
                print(f"layerscan: removed {removed} watch{'es' if removed > 1 else ''}", file=sys.stderr)
            else:
                for w in watch.list_watches(conn):
                    print(f"{w.id}\t{w.repository}\t{w.tags}\t{'insecure' if w.insecure else 'tls'}\t"
                          f"every {w.interval}s\t{w.last_polled or 'never polled'}\t{w.last_error or 'ok'}")
        except watch.WatchError as exc:
            raise UsageError(f"watch {args.admin_action}: {exc}") from None
    return 0


def _sbom(args: argparse.Namespace, runtime: Any, app: Any) -> int:
    from pathlib import Path

    import psycopg

    from layerscan.fleet import sboms
    from layerscan.fleet.tasks import enqueue_delivery, open_vulndb

    path = Path(args.sbom_file)
    if not path.is_file():
        raise UsageError(f"sbom add: {path} is not a file")
    try:
        data = sboms.read_file(path)
        with open_vulndb(runtime) as vulndb, psycopg.connect(runtime.database_url) as conn:
            done = sboms.store_document(conn, data, vulndb, args.sbom_name, str(path))
    except sboms.SbomRejected as exc:
        raise UsageError(f"sbom add: {exc}") from None
    if done.events:
        with app.open():
            enqueue_delivery(app)
    print(done.digest)
    print(f"layerscan: stored {path} as {done.digest}: {done.packages} packages ({done.new_packages} new to the"
          f" fleet), {done.matches} matches, {done.events} webhook events", file=sys.stderr)
    return 0


def _policy(args: argparse.Namespace, database_url: str) -> int:
    import psycopg

    from layerscan.fleet import policy

    with psycopg.connect(database_url) as conn:
        if args.admin_action == "set":
            rule = policy.FleetPolicy(args.policy_fail_on, args.policy_ignore_unfixed)
            failing = policy.set_policy(conn, rule)
            print(f"layerscan: images fail with a {rule.fail_on} or worse vulnerability"
                  f"{' that has a fix' if rule.ignore_unfixed else ''}; {failing} fail now (an image that passes"
                  " and later fails sends policy.failed)", file=sys.stderr)
        elif args.admin_action == "clear":
            gone = policy.clear_policy(conn)
            print(f"layerscan: {'policy removed' if gone else 'no policy was set'}", file=sys.stderr)
        else:
            found = policy.get_policy(conn)
            if found is None:
                print("layerscan: no fleet policy (layerscan server policy set --fail-on SEVERITY)", file=sys.stderr)
                return 0
            row = conn.execute("SELECT count(*) FILTER (WHERE policy_failing), count(*) FROM images").fetchone()
            failing, total = (int(row[0]), int(row[1])) if row else (0, 0)
            print(f"fail-on {found.fail_on}\t{'ignore-unfixed' if found.ignore_unfixed else 'all'}\t"
                  f"{failing} of {total} images failing")
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
