"""`egohmr train {stage1,stage2}`: resolve the config and run the stage's training.

Examples::

    egohmr train stage1 --config cpu --set data.root=/tmp/synth_s1
    egohmr train stage1 --config official --set data.root=/data/egobody_release model.prohmr_checkpoint=ckpt.pt
    egohmr train stage1 --config configs/stage1_cpu.yaml --out outputs/s1 --resume
    torchrun --nproc_per_node 4 -m egohmr.cli.main train stage1 --config official

Stages plug in through `STAGES` (module, add-arguments function, run function); stage 2's lives in `egohmr.stage2`.
"""

from __future__ import annotations

import argparse

from egohmr.cli.stages import StageEntry, add_run_arguments, register_stages

STAGES: dict[str, StageEntry] = {
    "stage1": ("egohmr.cli.train", "add_stage1_arguments", "run_stage1"),
    "stage2": ("egohmr.stage2.train", "add_train_arguments", "run_train"),
}
"""Training entry point of each stage."""

HELPS = {
    "stage1": "train stage 1 (ProHMR-scene: image + scene -> pose samples and body translation)",
    "stage2": "train stage 2 (EgoHMR scene-conditioned pose diffusion)",
}


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("train", help="train stage 1 or stage 2", description="Train a stage.")
    register_stages(p, STAGES, "training", HELPS)


def add_stage1_arguments(p: argparse.ArgumentParser) -> None:
    """Flags of `egohmr train stage1`."""
    add_run_arguments(p)


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


def run_stage1(args: argparse.Namespace) -> int:
    """Resolve `Stage1Config`, seed, train, print where the run went."""
    from egohmr.stage1.config import load_stage1_config
    from egohmr.stage1.train import train_stage1
    from egohmr.train import seed_everything

    cfg = load_stage1_config(args.config, overrides_from_args(args))
    seed_everything(cfg.train.seed)  # model construction draws from the global RNG
    result = train_stage1(cfg, resume=args.resume)
    print(f"stage 1: step {result.step}, run folder {result.run_dir}")
    if result.best_checkpoint is not None:
        best = f"best {cfg.train.best_metric} = {result.best_value:.5g} at step {result.best_step}"
        print(f"{best}: {result.best_checkpoint}")
    print(f"last checkpoint: {result.last_checkpoint} ({result.samples_per_s:.1f} samples/s)")
    return 0
