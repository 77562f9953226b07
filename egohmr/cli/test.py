"""`egohmr test {stage1,stage2}`: run a trained checkpoint on a split, print metrics and write results files.

Examples::

    egohmr test stage1 --checkpoint outputs/stage1_cpu/best.pt --dataset /tmp/synth_s1 --out outputs/s1_test
    egohmr test stage1 --checkpoint checkpoints_egohmr/53618/best_model.pt --dataset /data/egobody_release \\
        --body-model data/smpl --num-samples 5 --out output_prohmr_scene_53618

Each stage registers a runner in `STAGE_RUNNERS`; stage 2's lives in `egohmr.stage2`.
"""

from __future__ import annotations

import argparse

from egohmr.cli.stages import StageEntry, register_stages

STAGES: dict[str, StageEntry] = {
    "stage1": ("egohmr.cli.test", "add_stage1_arguments", "run_stage1"),
    "stage2": ("egohmr.stage2.test", "add_test_arguments", "run_test"),
}
"""Test entry point of each stage."""

HELPS = {
    "stage1": "test stage 1: metrics of the mode sample, mean baseline, results.pkl for stage 2",
    "stage2": "test stage 2 (diffusion sampling with the stage-1 translation)",
}


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "test", help="test a stage-1 or stage-2 checkpoint on a split", description="Test a stage."
    )
    register_stages(p, STAGES, "testing", HELPS)


def add_stage1_arguments(p: argparse.ArgumentParser) -> None:
    """Flags of `egohmr test stage1`."""
    p.add_argument("--checkpoint", required=True, help="our checkpoint (best.pt/last.pt) or the official best_model.pt")
    p.add_argument("--dataset", required=True, help="EgoBody root (official layout)")
    p.add_argument("--out", required=True, help="output folder (results.pkl, predictions.npz, metrics.json)")
    p.add_argument("--split", default="test", choices=("train", "val", "test"), help="split (default test)")
    p.add_argument("--scene-dir", default=None, help="stage-1 scene folder (default <dataset>/preprocess_scene_s1)")
    p.add_argument("--num-samples", type=int, default=None, help="samples per image (default: the checkpoint's)")
    p.add_argument("--body-model", default=None, help="body model of the metrics (default: the checkpoint's)")
    p.add_argument("--batch-size", type=int, default=16, help="frames per batch (default 16)")
    p.add_argument("--workers", type=int, default=0, help="data-loading workers (default 0)")
    p.add_argument("--seed", type=int, default=0, help="seed of the random samples (default 0)")
    p.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto", help="device (default auto)")
    p.add_argument("--no-baseline", action="store_true", help="skip the mean-pose/mean-translation baseline")


def run_stage1(args: argparse.Namespace) -> int:
    from egohmr.stage1.test import REPORTED_METRICS, test_stage1

    if args.num_samples is not None and args.num_samples < 1:
        raise ValueError(f"--num-samples must be >= 1, got {args.num_samples}")
    result = test_stage1(
        checkpoint=args.checkpoint,
        dataset_root=args.dataset,
        out_dir=args.out,
        split=args.split,
        scene_dir=args.scene_dir,
        num_samples=args.num_samples,
        body_model=args.body_model,
        batch_size=args.batch_size,
        num_workers=args.workers,
        seed=args.seed,
        device=args.device,
        baseline=not args.no_baseline,
    )
    print(f"stage 1, {result.num_frames} {args.split} frames (mode sample):")
    print(f"{'metric':<16}{'model':>12}{'mean baseline':>16}")
    for name in REPORTED_METRICS:
        base = result.baseline_metrics.get(name)
        base_text = f"{base:16.1f}" if base is not None else f"{'-':>16}"
        print(f"{name:<16}{result.metrics[name]:12.1f}{base_text}")
    print(f"wrote {result.results_pkl}, {result.predictions_npz}, {result.metrics_json}")
    return 0
