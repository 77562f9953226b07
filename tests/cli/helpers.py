"""Running `egohmr` subcommands in-process for tests that inspect what a command hands to the library."""

from __future__ import annotations

from egohmr.cli.main import build_parser


def run_command(argv: list[str]) -> int:
    """Parse `argv` with the real `egohmr` parser and run its subcommand; exceptions propagate (unlike `main`)."""
    args = build_parser().parse_args(argv)
    return args.func(args)
