"""``layerscan index add REPO... | update | list``: the base-image index (docs/cli.md
"Base-image index").

``add`` reads manifests and configs (never layer blobs) of every tag of each repository (or
of ``REPO:TAG`` only) into the vulnerability database file; ``update`` does it again for
every repository the index has, reading only digests it has not seen; ``list`` prints the
index (``-f jsonl`` is the dump ``db import`` loads on an air-gapped machine). Flags: the
global ones and the registry ones of ``image`` (--insecure, --username, ...).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from layerscan.cli.flags import add_flags, flags_for
from layerscan.errors import UsageError

COMMAND = "index"
FORMATS = ("table", "json", "jsonl")
_REGISTRY_DESTS = frozenset({"username", "password", "password_stdin", "insecure", "docker_config"})
_HELP = {
    "add": "index every tag of REPO (or REPO:TAG only) from its registry: manifests and configs only",
    "update": "re-read every indexed repository; only new digests are fetched",
    "list": "print the base-image index (-f jsonl: the dump 'db import' accepts)",
}
Options = dict[str, Any]


def _flags() -> tuple:
    return tuple(f for f in flags_for("image") if f.group == "global" or f.dest in _REGISTRY_DESTS)


def register(subparsers: argparse._SubParsersAction[Any]) -> None:
    summary = "the base-image index (chain IDs of registry images) used to identify base images"
    index = subparsers.add_parser(COMMAND, help=summary, description=summary)
    sub = index.add_subparsers(dest="index_command", metavar="SUBCOMMAND")
    commands = {name: sub.add_parser(name, help=text, description=text) for name, text in _HELP.items()}
    commands["add"].add_argument("repos", nargs="+", metavar="REPO", help="registry/repository[:tag]")
    commands["list"].add_argument("-f", "--format", dest="index_format", choices=FORMATS, default="table",
                                  help="table, json, or jsonl (one entry per line; 'db import' reads it)")
    commands["list"].add_argument("--repo", dest="index_repo", default="", metavar="REPO",
                                  help="only this repository (as listed)")
    for parser in commands.values():
        add_flags(parser, _flags())


def _db(opts: Options) -> Path:
    from layerscan.db.update import db_path

    return db_path(Path(opts["cache_dir"]))


def _say(opts: Options, text: str) -> None:
    if not opts["quiet"]:
        print(text, file=sys.stderr)


def _source_options(opts: Options) -> Any:
    from layerscan.cli.scan_cmd import _password
    from layerscan.source.base import SourceOptions

    return SourceOptions(username=opts["username"], password=_password(opts), insecure=opts["insecure"],
                         docker_config=opts["docker_config"], timeout=float(opts["timeout"]))


def _index(names: list[str], opts: Options) -> int:
    from layerscan.db.baseindex import index_repositories

    result = index_repositories(_db(opts), names, _source_options(opts),
                                lambda text: _say(opts, f"layerscan: warning: {text}"))
    for run in result.repos:
        current = sum(1 for e in run.entries if e.current)
        _say(opts, f"  {run.repo}: {run.tags} tags, {current} current images; {run.heads} HEAD, "
                   f"{run.new_digests} new digests ({run.manifest_gets} manifests, {run.config_gets} configs "
                   "read, no layer blobs)" + (f"; moved: {', '.join(run.moved)}" if run.moved else ""))
    _say(opts, f"index written to {result.build.path}")
    return 0


def _list(args: argparse.Namespace, opts: Options) -> int:
    import json

    from layerscan.db.feeds.baseindex import dump
    from layerscan.db.store import Store

    with Store.open(_db(opts)) as store:
        entries = store.index_entries(args.index_repo)
    if args.index_format == "jsonl":
        sys.stdout.write(dump(entries))
    elif args.index_format == "json":
        from layerscan.db.baseindex import entries_json

        print(json.dumps(entries_json(entries), indent=2))
    else:
        for e in entries:
            mark = "" if e.current else "  (tag moved)"
            print(f"{e.repo}:{e.tag}  {e.platform}  {e.layers} layers  {e.digest[:19]}  "
                  f"chain {e.chain_id[:19]}  seen {e.first_seen[:10]}..{e.last_seen[:10]}{mark}")
    return 0


def run(args: argparse.Namespace, opts: Options) -> int:
    from layerscan.db.baseindex import indexed_repositories

    command = getattr(args, "index_command", None)
    if command == "add":
        return _index(list(args.repos), opts)
    if command == "update":
        repos = indexed_repositories(_db(opts))
        if not repos:
            raise UsageError("index update: the index is empty; add repositories with 'layerscan index add REPO'")
        return _index(repos, opts)
    if command == "list":
        return _list(args, opts)
    raise UsageError("index needs a subcommand: add, update or list")
