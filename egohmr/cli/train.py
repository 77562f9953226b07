"""`egohmr train {stage1,stage2}`: resolve the stage's config and run its training.

Examples::

    egohmr train stage1 --config cpu --set data.root=/tmp/synth_s1
    egohmr train stage1 --config official --set data.root=/data/egobody_release model.prohmr_checkpoint=ckpt.pt
    egohmr train stage1 --config stage1_cpu --out outputs/s1 --resume           # packaged egohmr/configs/*.yaml
    egohmr train stage2 --config cpu --set data.root=DATA --out RUN                     # ~30 min on 2 CPU cores
    torchrun --nproc_per_node 4 -m egohmr.cli.main train stage1 --config official

Both stages take the same flags; `--config` names a preset (official, cpu) or a YAML override file, `--set` and the
other flags override config fields (flags win).
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

HELPS = {
    "stage1": "train stage 1 (ProHMR-scene: image + scene -> pose samples and body translation)",
    "stage2": "train stage 2 (EgoHMR scene-conditioned pose diffusion)",
}


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("train", help="train stage 1 or stage 2", description="Train a stage.")
    stages = p.add_subparsers(dest="stage", metavar="STAGE", required=True)
    for stage, run in (("stage1", run_stage1), ("stage2", run_stage2)):
        sp = stages.add_parser(stage, help=HELPS[stage], description=HELPS[stage])
        add_run_arguments(sp)
        sp.set_defaults(func=run)


def add_run_arguments(p: argparse.ArgumentParser) -> None:
    """Flags of `egohmr train stage1` and `egohmr train stage2`."""
    p.add_argument(
        "--config",
        default="official",
        help="preset (official, cpu), YAML override file or packaged YAML name (stage1_cpu, stage2_official)",
    )
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


def overrides_from_args(args: argparse.Namespace) -> list[str]:
    """`--set` values plus the shared flags turned into overrides (flags win)."""
    items = [item for group in args.overrides for item in group]
    if args.out is not None:
        items.append(f"train.out_dir={args.out}")
    if args.seed is not None:
        items.append(f"train.seed={args.seed}")
    if args.device is not None:
        items.append(f"train.device={args.device}")
    return items


INTERRUPTED_EXIT_CODE = 130
"""Exit code after Ctrl-C (128 + SIGINT), as shells report an interrupted command."""


def _train(stage: str, args: argparse.Namespace) -> int:
    """Resolve the stage's config, seed, train, print where the run went (or, after Ctrl-C, how to resume)."""
    from egohmr.train import TrainingInterrupted, seed_everything

    load_config, train = _STAGE_MODULES[stage]()
    cfg = load_config(args.config, overrides_from_args(args))
    seed_everything(cfg.train.seed)  # model construction draws from the global RNG
    try:
        result = train(cfg, resume=args.resume)
    except TrainingInterrupted as stop:
        print(str(stop), file=sys.stderr)
        return INTERRUPTED_EXIT_CODE
    print(f"{stage}: step {result.step}, run folder {result.run_dir}")
    if result.best_checkpoint is not None:
        best = f"best {cfg.train.best_metric} = {result.best_value:.5g} at step {result.best_step}"
        print(f"{best}: {result.best_checkpoint}")
    print(f"last checkpoint: {result.last_checkpoint} ({result.samples_per_s:.1f} samples/s)")
    return 0


def _stage1_modules() -> tuple[Any, Any]:
    """(config loader, train function) of stage 1, imported on use so `egohmr --help` stays fast."""
    from egohmr.stage1 import config, train

    return config.load_stage1_config, train.train


def _stage2_modules() -> tuple[Any, Any]:
    """(config loader, train function) of stage 2."""
    from egohmr.stage2 import config, train

    return config.load_stage2_config, train.train


_STAGE_MODULES = {"stage1": _stage1_modules, "stage2": _stage2_modules}


def run_stage1(args: argparse.Namespace) -> int:
    """`egohmr train stage1`."""
    return _train("stage1", args)


def run_stage2(args: argparse.Namespace) -> int:
    """`egohmr train stage2`."""
    return _train("stage2", args)
