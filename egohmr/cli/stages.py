"""Per-stage sub-subcommands shared by `egohmr train` and `egohmr test`.

A stage plugs in with one registry entry: `(module, add_arguments_function, run_function)`; the module is imported
when the parser is built, `add_arguments(parser)` adds the stage's flags and `run(args) -> int` executes it. A stage
whose module is missing still appears in `--help` and answers with a clear error naming the package.
"""

from __future__ import annotations

import argparse
import importlib

StageEntry = tuple[str, str, str]


def _unavailable(stage: str, action: str, module: str, reason: str):
    def run(args: argparse.Namespace) -> int:
        raise ValueError(f"{stage} {action} is provided by {module}, which is not available here ({reason})")

    return run


def register_stages(
    parser: argparse.ArgumentParser, registry: dict[str, StageEntry], action: str, helps: dict[str, str]
) -> None:
    """Add one sub-parser per stage of `registry` to `parser` (see the module docstring)."""
    stages = parser.add_subparsers(dest="stage", metavar="STAGE", required=True)
    for stage, (module_name, add_name, run_name) in registry.items():
        try:
            module = importlib.import_module(module_name)
            add, run = getattr(module, add_name), getattr(module, run_name)
        except (ImportError, AttributeError) as err:
            # Accept any arguments (no option prefix) so the user gets the explanation, not a usage error.
            sp = stages.add_parser(stage, help=helps.get(stage, ""), prefix_chars="\x00", add_help=False)
            sp.add_argument("rest", nargs="*", help=argparse.SUPPRESS)
            sp.set_defaults(func=_unavailable(stage, action, module_name, f"{type(err).__name__}: {err}"))
            continue
        sp = stages.add_parser(stage, help=helps.get(stage, ""), description=helps.get(stage, ""))
        add(sp)
        sp.set_defaults(func=run)


def add_run_arguments(p: argparse.ArgumentParser) -> None:
    """Flags shared by `egohmr train stage1` and `egohmr train stage2`."""
    p.add_argument("--config", default="official", help="preset (official, cpu) or YAML override file")
    p.add_argument(
        "--set",
        dest="overrides",
        action="append",
        nargs="+",
        default=[],
        metavar="KEY=VALUE",
        help="override config fields, e.g. --set train.max_steps=100 data.root=/data (repeatable)",
    )
    p.add_argument("--out", default=None, help="run folder (sets train.out_dir)")
    p.add_argument("--resume", action="store_true", help="continue the run in the run folder from its last.pt")
    p.add_argument("--seed", type=int, default=None, help="seed of the run (sets train.seed)")
    p.add_argument("--device", choices=("auto", "cpu", "cuda"), default=None, help="sets train.device")
