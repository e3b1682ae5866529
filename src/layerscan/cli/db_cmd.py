"""``layerscan db update|import|status|push``.

Wired into cli/main.py through ``register(subparsers)`` and ``run(args) -> int``.
Every flag (the global ones, --db-max-age, --ecosystems, --sources, ...) is declared in
the one flag table, ``cli/flags.py``, with its ``LAYERSCAN_*`` variable and config key;
a subcommand resolves them as the command ``db SUBCOMMAND``. Only the positional PATHs
of ``db import`` and REF of ``db push`` are added here. Runnable alone:
``python -m layerscan.cli.db_cmd``.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping, Sequence, TextIO

from layerscan.cli.flags import DB_SUBCOMMANDS, add_flags, environment, flags_for, resolve
from layerscan.cli.parser import CliParser
from layerscan.errors import InputNotFoundError, LayerscanError, UsageError

if TYPE_CHECKING:
    from layerscan.db.update import UpdateOptions

log = logging.getLogger(__name__)
_HELP = {
    "update": "download feeds and rebuild the database",
    "import": "build the database from local files (air-gapped)",
    "status": "show the database version, sources and age",
    "push": "publish the database to an OCI registry",
}


def _csv(value: str) -> tuple[str, ...]:
    return tuple(v.strip() for v in value.split(",") if v.strip())


def register(subparsers: Any) -> None:
    """Add the ``db`` command and its subcommands (flags from the flag table) to ``subparsers``."""
    db = subparsers.add_parser("db", help="manage the vulnerability database",
                               description="manage the vulnerability database")
    sub = db.add_subparsers(dest="db_command", metavar="SUBCOMMAND")
    commands = {name: sub.add_parser(name, help=_HELP[name], description=_HELP[name]) for name in DB_SUBCOMMANDS}
    commands["import"].add_argument("paths", nargs="+", metavar="PATH",
                                    help="feed files, directories or zips (any format)")
    commands["push"].add_argument("reference", metavar="REGISTRY/REPO:TAG")
    for name, parser in commands.items():
        add_flags(parser, flags_for(command_of(name)))


def command_of(subcommand: str | None) -> str:
    """The flag-table command a ``db`` subcommand's flags are resolved as."""
    return f"db {subcommand}" if subcommand else "db"


def _cache_dir(args: argparse.Namespace) -> Path:
    value = args.cache_dir
    if not value:
        from platformdirs import user_cache_dir

        value = user_cache_dir("layerscan", appauthor=False)
    return Path(value)


def _timeout(args: argparse.Namespace) -> float:
    return float(args.timeout or 300)


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
    from layerscan.db.needs import AUTO
    from layerscan.db.update import DEFAULT_ECOSYSTEMS, SOURCES, UpdateOptions, update_database

    cache = _cache_dir(args)
    if args.db_repository:
        from layerscan.db.distribute import pull_database

        path = pull_database(args.db_repository, cache, timeout=_timeout(args), insecure=args.insecure)
        _say(args, f"pulled {args.db_repository} -> {path}")
        return _warn_age(args, path)
    opts = UpdateOptions(cache_dir=cache, sources=_csv(args.db_sources) or SOURCES,
                         ecosystems=_csv(args.ecosystems) or DEFAULT_ECOSYSTEMS,
                         timeout=_timeout(args))
    if opts.ecosystems == (AUTO,):
        opts = _auto_options(args, opts)
    progress = _progress(args)
    try:
        result = update_database(opts, progress, force=args.db_force)
    finally:
        _stop(progress)
    _warn_failed(args, result.failed)
    if result.build is None:
        _say(args, f"database {opts.db_path} is up to date")
    else:
        _report_build(args, result.build)
    return 0


def _auto_options(args: argparse.Namespace, opts: UpdateOptions) -> UpdateOptions:
    """``--ecosystems auto``: the sources the database already holds (``--sources`` narrows them);
    every source when there is no database yet."""
    import dataclasses

    from layerscan.db.needs import all_source_keys, held_sources, select
    from layerscan.db.update import DEFAULT_ECOSYSTEMS, SOURCES

    held = held_sources(opts.db_path)
    if not held:
        _say(args, "no database yet: --ecosystems auto fetches every source")
        return dataclasses.replace(opts, ecosystems=DEFAULT_ECOSYSTEMS)
    chosen = select(held)
    sources = tuple(s for s in chosen.sources if s in opts.sources or opts.sources == SOURCES)
    _say(args, f"--ecosystems auto: updating the {len(chosen.keys)} of {len(all_source_keys())} sources "
               f"the database holds: {', '.join(chosen.keys)}")
    return dataclasses.replace(opts, sources=sources, ecosystems=chosen.ecosystems)


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
        result = import_paths(db_path(_cache_dir(args)), paths, keep_others=not args.db_replace, progress=progress)
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
    if args.db_json:
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
    parser = CliParser(prog="layerscan")
    register(parser.add_subparsers(dest="command"))
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m layerscan.cli.db_cmd db ...`` (the same commands without cli/main.py)."""
    args = _standalone_parser().parse_args(argv)
    try:
        for key, value in resolve(args, command_of(getattr(args, "db_command", None)), environment(), {}).items():
            setattr(args, key, value)
        return run(args)
    except LayerscanError as exc:
        print(f"layerscan: error: {exc}", file=sys.stderr)
        if exc.hint:
            print(f"layerscan: hint: {exc.hint}", file=sys.stderr)
        return exc.exit_code


if __name__ == "__main__":
    sys.exit(main())
