"""``layerscan db update|import|status|push``.

Wired into cli/main.py through ``register(subparsers, common_parents)`` and
``run(args) -> int``. Global flags (--cache-dir, -q, --no-progress, --timeout)
come from ``common_parents``; the db flags below also read ``LAYERSCAN_*`` env
variables (LAYERSCAN_DB_MAX_AGE, LAYERSCAN_ECOSYSTEMS, LAYERSCAN_DB_SOURCES,
LAYERSCAN_DB_REPOSITORY). Runnable alone: ``python -m layerscan.cli.db_cmd``.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path
from typing import Any, Mapping, Sequence, TextIO

from layerscan.errors import InputNotFoundError, LayerscanError, UsageError

DEFAULT_MAX_AGE = "7d"
log = logging.getLogger(__name__)


def _csv(value: str) -> tuple[str, ...]:
    return tuple(v.strip() for v in value.split(",") if v.strip())


def _add_insecure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--insecure", action="store_true",
                        default=os.environ.get("LAYERSCAN_INSECURE", "").lower() in ("1", "true", "yes", "on"),
                        help="allow a plain-HTTP registry or unverified TLS, as for image pulls "
                             "[env LAYERSCAN_INSECURE]")


def _add_common_db_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--db-max-age", default=os.environ.get("LAYERSCAN_DB_MAX_AGE", DEFAULT_MAX_AGE),
                        metavar="AGE", help="warn when the database is older than AGE (7d, 12h) "
                                            "[env LAYERSCAN_DB_MAX_AGE]")


def register(subparsers: Any, common_parents: Sequence[argparse.ArgumentParser]) -> None:
    """Add the ``db`` command and its subcommands to ``subparsers``."""
    db = subparsers.add_parser("db", help="manage the vulnerability database",
                               description="manage the vulnerability database")
    sub = db.add_subparsers(dest="db_command", metavar="SUBCOMMAND")
    parents = list(common_parents)

    update = sub.add_parser("update", parents=parents, help="download feeds and rebuild the database")
    update.add_argument("--ecosystems", default=os.environ.get("LAYERSCAN_ECOSYSTEMS", ""), metavar="LIST",
                        help="OSV ecosystems to fetch, comma-separated (default: all known) [env LAYERSCAN_ECOSYSTEMS]")
    update.add_argument("--sources", default=os.environ.get("LAYERSCAN_DB_SOURCES", ""), metavar="LIST",
                        help="feeds to fetch, comma-separated, e.g. osv,debian,nvd (default: all; an unknown name "
                             "lists them) [env LAYERSCAN_DB_SOURCES]")
    update.add_argument("--db-repository", default=os.environ.get("LAYERSCAN_DB_REPOSITORY", ""),
                        metavar="REF", help="pull a prebuilt database from an OCI registry instead "
                                            "[env LAYERSCAN_DB_REPOSITORY]")
    update.add_argument("--force", action="store_true", help="rebuild even when no feed changed")
    _add_insecure(update)
    _add_common_db_flags(update)

    imp = sub.add_parser("import", parents=parents, help="build the database from local files (air-gapped)")
    imp.add_argument("paths", nargs="+", metavar="PATH", help="feed files, directories or zips (any format)")
    imp.add_argument("--replace", action="store_true", help="drop sources not present in PATHs")
    _add_common_db_flags(imp)

    status = sub.add_parser("status", parents=parents, help="show the database version, sources and age")
    status.add_argument("--json", action="store_true", help="print the metadata as JSON")
    _add_common_db_flags(status)

    push = sub.add_parser("push", parents=parents, help="publish the database to an OCI registry")
    push.add_argument("reference", metavar="REGISTRY/REPO:TAG")
    _add_insecure(push)
    _add_common_db_flags(push)


def _cache_dir(args: argparse.Namespace) -> Path:
    value = args.cache_dir
    if not value:
        from platformdirs import user_cache_dir

        value = user_cache_dir("layerscan", appauthor=False)
    return Path(value)


def _timeout(args: argparse.Namespace) -> float:
    return float(args.timeout or 60)


def _progress(args: argparse.Namespace) -> Any:
    from layerscan.cli.progress import make_progress

    return make_progress(bool(args.quiet), bool(args.no_progress))


def _stop(progress: Any) -> None:
    from layerscan.cli.progress import stop_progress

    stop_progress(progress)


def _say(args: argparse.Namespace, text: str, stream: TextIO | None = None) -> None:
    if not args.quiet:
        print(text, file=stream or sys.stderr)


def _report_build(args: argparse.Namespace, result: Any) -> None:
    for src in result.sources:
        line = f"  {src.name:<24} {src.status:<8} {src.records:>7} records {src.rows:>8} rows"
        _say(args, line + (f"  ({src.message})" if src.message else ""))
    for feed, count in sorted(result.skipped.items()):
        _say(args, f"warning: {feed}: {count} malformed record(s) skipped")
    _say(args, f"database {result.path}: {result.size / 1e6:.1f} MB in {result.seconds:.1f}s")


def _run_update(args: argparse.Namespace) -> int:
    from layerscan.db.update import DEFAULT_ECOSYSTEMS, SOURCES, UpdateOptions, update_database

    cache = _cache_dir(args)
    if args.db_repository:
        from layerscan.db.distribute import pull_database

        path = pull_database(args.db_repository, cache, timeout=_timeout(args), insecure=args.insecure)
        _say(args, f"pulled {args.db_repository} -> {path}")
        return _warn_age(args, path)
    opts = UpdateOptions(cache_dir=cache, sources=_csv(args.sources) or SOURCES,
                         ecosystems=_csv(args.ecosystems) or DEFAULT_ECOSYSTEMS,
                         timeout=_timeout(args))
    progress = _progress(args)
    try:
        result = update_database(opts, progress, force=args.force)
    finally:
        _stop(progress)
    _warn_failed(args, result.failed)
    if result.build is None:
        _say(args, f"database {opts.db_path} is up to date")
    else:
        _report_build(args, result.build)
    return 0


def _warn_failed(args: argparse.Namespace, failed: Mapping[str, str]) -> None:
    """One summary line on stderr; every source's reason with --debug."""
    if not failed:
        return
    first = min(failed)
    _say(args, f"layerscan: warning: {len(failed)} source(s) not updated, their previous data is kept: "
               f"{', '.join(sorted(failed))} (first: {failed[first][:160]})")
    for key, why in sorted(failed.items()):
        log.debug("db update: %s: %s", key, why)


def _run_import(args: argparse.Namespace) -> int:
    from layerscan.db.build import import_paths
    from layerscan.db.update import db_path

    paths = [Path(p) for p in args.paths]
    missing = [str(p) for p in paths if not p.exists()]
    if missing:
        raise InputNotFoundError("feed path", ", ".join(missing))
    progress = _progress(args)
    try:
        result = import_paths(db_path(_cache_dir(args)), paths, keep_others=not args.replace, progress=progress)
    finally:
        _stop(progress)
    _report_build(args, result)
    return 0


def _warn_age(args: argparse.Namespace, path: Path) -> int:
    from layerscan.db.update import database_age, parse_duration

    age, limit = database_age(path), parse_duration(args.db_max_age)
    if age > limit:
        hours = age.total_seconds() / 3600
        _say(args, f"warning: the database is {hours:.0f}h old, older than --db-max-age {args.db_max_age}; "
                   "run 'layerscan db update'")
    return 0


def _run_status(args: argparse.Namespace) -> int:
    import json

    from layerscan.db.store import Store
    from layerscan.db.update import db_path

    path = db_path(_cache_dir(args))
    with Store.open(path) as store:
        meta = store.metadata()
    meta.pop("state", None)
    if args.json:
        print(json.dumps({"path": str(path), **meta}, indent=2, sort_keys=True))
    else:
        print(f"database:       {path}")
        print(f"schema version: {meta['schema_version']}")
        print(f"built at:       {meta.get('built_at', '')}")
        print(f"next update:    {meta.get('next_update', '')}")
        for name, src in meta["sources"].items():
            print(f"  {name:<24} {src['status']:<8} {src['records']:>7} records {src['rows']:>8} rows"
                  f"  data {src['data_date'] or '-'}" + (f"  ({src['message']})" if src["message"] else ""))
        for key, count in sorted((k, v) for k, v in meta.items() if k.startswith("skipped:")):
            print(f"  {key[8:]}: {count} malformed record(s) skipped at the last build")
    return _warn_age(args, path)


def _run_push(args: argparse.Namespace) -> int:
    from layerscan.db.distribute import push_database
    from layerscan.db.update import db_path

    digest = push_database(db_path(_cache_dir(args)), args.reference,
                           timeout=_timeout(args), insecure=args.insecure)
    _say(args, f"pushed {args.reference}@{digest}")
    return 0


_HANDLERS = {"update": _run_update, "import": _run_import, "status": _run_status, "push": _run_push}


def run(args: argparse.Namespace) -> int:
    handler = _HANDLERS.get(args.db_command or "")
    if handler is None:
        raise UsageError("db needs a subcommand: update, import, status or push")
    return handler(args)


def _standalone_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="layerscan")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--cache-dir", default=os.environ.get("LAYERSCAN_CACHE_DIR", ""))
    common.add_argument("-q", "--quiet", action="store_true")
    common.add_argument("--no-progress", action="store_true")
    common.add_argument("--timeout", type=int, default=60)
    register(parser.add_subparsers(dest="command"), [common])
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m layerscan.cli.db_cmd db ...`` (the same commands without cli/main.py)."""
    args = _standalone_parser().parse_args(argv)
    try:
        return run(args)
    except LayerscanError as exc:
        print(f"layerscan: error: {exc}", file=sys.stderr)
        if exc.hint:
            print(f"layerscan: hint: {exc.hint}", file=sys.stderr)
        return exc.exit_code


if __name__ == "__main__":
    sys.exit(main())
