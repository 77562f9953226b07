"""Entry point of the `egohmr` console command.

Each subcommand lives in its own module under `egohmr.cli` and exposes `register(subparsers)`, which adds
its parser and sets `func(args) -> int`. Heavy imports happen inside `func`, so `egohmr --help` is fast.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

from egohmr import __version__
from egohmr.jobs import FolderLockedError

# Subcommand modules, in the order `--help` lists them.
SUBCOMMAND_MODULES: tuple[str, ...] = (
    "demo",
    "infer",
    "synth",
    "check_dataset",
    "preprocess",
    "train",
    "test",
    "eval",
    "view",
    "doctor",
)


class UserError(Exception):
    """An error caused by the user's input; printed without a traceback."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="egohmr",
        description="EgoHMR: probabilistic human mesh recovery in 3D scenes from egocentric views.",
    )
    parser.add_argument("--version", action="version", version=f"egohmr {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in SUBCOMMAND_MODULES:
        importlib.import_module(f"egohmr.cli.{name}").register(subparsers)
    _add_verbose_to_subcommands(parser)
    return parser


def _add_verbose_to_subcommands(parser: argparse.ArgumentParser) -> None:
    """Accept `-v/--verbose` after any (nested) subcommand too; unset there, it leaves the top-level value alone."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in dict.fromkeys(action.choices.values()):  # aliases map to the same parser
                sub.add_argument(
                    "-v", "--verbose", action="store_true", default=argparse.SUPPRESS, help="log debug messages"
                )
                _add_verbose_to_subcommands(sub)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO, format="%(levelname)s %(name)s: %(message)s"
    )
    if args.command is None:
        parser.print_help()
        return 0
    try:
        return int(args.func(args) or 0)
    except (UserError, FileNotFoundError, ValueError, FolderLockedError) as err:
        print(f"egohmr {args.command}: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
