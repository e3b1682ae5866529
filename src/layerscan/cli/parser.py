"""argparse with one-line usage errors.

argparse answers a bad flag with the whole usage block (17 lines for ``image``)
and no next step. Here every usage error is one line on stderr, exit 2: what
was wrong, a "did you mean" for a typo'd flag or command, and the ``--help``
to read.
"""

from __future__ import annotations

import argparse
import re
from typing import NoReturn, Sequence

PROG = "layerscan"
EXIT_USAGE = 2
_INVALID_CHOICE = re.compile(r"invalid choice: '([^']*)' \(choose from (.*)\)")


def _closest(word: str, candidates: Sequence[str]) -> str:
    import difflib  # only for a usage error: not on every start-up

    found = difflib.get_close_matches(word, candidates, n=1, cutoff=0.6)
    return found[0] if found else ""


def _did_you_mean(word: str, candidates: Sequence[str]) -> str:
    close = _closest(word, candidates)
    return f": did you mean {close}?" if close else ""


def _choice_hint(message: str) -> str:
    m = _INVALID_CHOICE.search(message)
    if not m:
        return message
    choices = [c.strip().strip("'") for c in m.group(2).split(",")]
    close = _closest(m.group(1), choices)
    instead = f"did you mean {close}?" if close else f"one of: {', '.join(choices)}"
    return f"{message[:m.start()]}unknown choice '{m.group(1)}': {instead}"


class CliParser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line; subparsers inherit the class.
    Abbreviated flags are refused (``clean --scan-cach`` must not delete anything, and
    ``--list-al`` deserves a "did you mean" rather than a guess), as in Trivy."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]

    def error(self, message: str) -> NoReturn:
        command = self.prog.removeprefix(PROG).strip()
        help_cmd = " ".join(p for p in (PROG, command, "--help") if p)
        text = " ".join(_choice_hint(message).split())
        self.exit(EXIT_USAGE, f"{PROG}: error: {text} (see '{help_cmd}')\n")

    def parse_args(self, args: Sequence[str] | None = None,  # type: ignore[override]
                   namespace: argparse.Namespace | None = None) -> argparse.Namespace:
        parsed, extras = self.parse_known_args(args, namespace)
        if extras:
            chosen = _chosen_parser(self, parsed)
            chosen.error(_unrecognized(extras, chosen))
        return parsed

    def option_strings(self) -> list[str]:
        return [o for action in self._actions for o in action.option_strings if o.startswith("--")]


def _chosen_parser(parser: CliParser, parsed: argparse.Namespace) -> CliParser:
    """The innermost subcommand parser that the command line selected."""
    for action in parser._actions:  # noqa: SLF001 - argparse has no public accessor
        if isinstance(action, argparse._SubParsersAction):  # noqa: SLF001
            chosen = action.choices.get(getattr(parsed, action.dest, None) or "")
            if isinstance(chosen, CliParser):
                return _chosen_parser(chosen, parsed)
    return parser


def _unrecognized(extras: Sequence[str], parser: CliParser) -> str:
    flags = [e for e in extras if e.startswith("-")]
    if not flags:
        return f"unexpected argument{'s' if len(extras) > 1 else ''}: {' '.join(extras)}"
    first = flags[0].split("=", 1)[0]
    more = f" (and {len(flags) - 1} more)" if len(flags) > 1 else ""
    return f"unknown flag {first}{_did_you_mean(first, parser.option_strings())}{more}"


__all__ = ["CliParser", "EXIT_USAGE", "PROG"]
