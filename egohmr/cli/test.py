"""`egohmr test {stage1,stage2}`: run a checkpoint on a split, print metrics and write results files.

Examples::

    egohmr test stage1 --checkpoint outputs/stage1_cpu/best.pt --dataset /tmp/synth_s1 --out outputs/s1_test
    egohmr test stage1 --checkpoint checkpoints_egohmr/53618/best_model.pt --dataset /data/egobody_release \\
        --body data/smpl --num-samples 5 --out output_prohmr_scene_53618
    egohmr test stage2 --checkpoint RUN/best.pt --dataset DATA \\
        --stage1-results S1/results.pkl --num-samples 5 --sampler ddpm --steps 50 --fuse --guidance --out OUT
    torchrun --nproc_per_node 4 -m egohmr.cli.main test stage2 ...same flags...     # shards over 4 processes

Checkpoints are ours (training or shipped) or the official files, told apart by their content. The stage-2 sampling
flags default to the checkpoint's `test` settings (`Stage2TestConfig`).
"""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path
from typing import Any

HELPS = {
    "stage1": "test stage 1: metrics of the mode sample, mean baseline, results.pkl for stage 2",
    "stage2": "test stage 2 (diffusion sampling with the stage-1 translation)",
}


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "test", help="test a stage-1 or stage-2 checkpoint on a split", description="Test a stage."
    )
    stages = p.add_subparsers(dest="stage", metavar="STAGE", required=True)
    for stage, add, run in (
        ("stage1", add_stage1_arguments, run_stage1),
        ("stage2", add_stage2_arguments, run_stage2),
    ):
        sp = stages.add_parser(stage, help=HELPS[stage], description=HELPS[stage])
        add(sp)
        sp.set_defaults(func=run)


# ------------------------------------------------------------------------------------------------ stage 1
def add_stage1_arguments(p: argparse.ArgumentParser) -> None:
    """Flags of `egohmr test stage1`."""
    p.add_argument("--checkpoint", required=True, help="our checkpoint (best.pt/last.pt) or the official best_model.pt")
    p.add_argument("--dataset", required=True, help="EgoBody root (official layout)")
    p.add_argument("--out", required=True, help="output folder (results.pkl, predictions.npz, metrics.json)")
    p.add_argument("--split", default="test", choices=("train", "val", "test"), help="split (default test)")
    p.add_argument("--scene-dir", default=None, help="stage-1 scene folder (default <dataset>/preprocess_scene_s1)")
    p.add_argument("--num-samples", type=int, default=None, help="samples per image (default: the checkpoint's)")
    p.add_argument("--body", default=None, help="body model of the metrics (default: the checkpoint's)")
    p.add_argument("--batch-size", type=int, default=16, help="frames per batch (default 16)")
    p.add_argument("--workers", type=int, default=0, help="data-loading workers (default 0)")
    p.add_argument("--seed", type=int, default=0, help="seed of the random samples (default 0)")
    p.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto", help="device (default auto)")
    p.add_argument("--no-baseline", action="store_true", help="skip the mean-pose/mean-translation baseline")
    p.add_argument("--overwrite", action="store_true", help="replace a test of other inputs or settings in --out")


def stage1_test_run(args: argparse.Namespace) -> Any:
    """The `Stage1TestRun` of the flags."""
    from egohmr.stage1.evaluation import Stage1TestRun

    if args.num_samples is not None and args.num_samples < 1:
        raise ValueError(f"--num-samples must be >= 1, got {args.num_samples}")
    return Stage1TestRun(
        dataset_root=args.dataset,
        out_dir=args.out,
        split=args.split,
        scene_dir=args.scene_dir,
        num_samples=args.num_samples,
        body_model=args.body,
        batch_size=args.batch_size,
        num_workers=args.workers,
        seed=args.seed,
        device=args.device,
        baseline=not args.no_baseline,
        overwrite=args.overwrite,
    )


def run_stage1(args: argparse.Namespace) -> int:
    from egohmr.stage1 import checkpoint, evaluation

    run = stage1_test_run(args)
    result = evaluation.evaluate(checkpoint.load_with_source(args.checkpoint), run)
    print(f"stage 1, {result.num_frames} {args.split} frames (mode sample):")
    print(f"{'metric':<16}{'model':>12}{'mean baseline':>16}")
    for name in evaluation.REPORTED_METRICS:
        base = result.baseline_metrics.get(name)
        base_text = f"{base:16.1f}" if base is not None else f"{'-':>16}"
        print(f"{name:<16}{result.metrics[name]:12.1f}{base_text}")
    print(f"wrote {result.results_pkl}, {result.predictions_npz}, {result.metrics_json}")
    return 0


# ------------------------------------------------------------------------------------------------ stage 2
def add_stage2_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags of `egohmr test stage2`; the sampling flags default to the checkpoint's `test.*` (None here)."""
    add = parser.add_argument
    add("--checkpoint", type=Path, required=True, help="stage-2 checkpoint (ours or official)")
    add("--dataset", type=Path, required=True, help="EgoBody root")
    add("--split", default="test", choices=("train", "val", "test"))
    add(
        "--scene-dir",
        type=Path,
        default=None,
        help="stage-2 cubes around the stage-1 translation (default <dataset>/Egohmr_scene_preprocess_cube_s2_from_pred"
        "_release)",
    )
    add("--stage1-results", type=Path, required=True, help="stage-1 results.pkl of the split")
    add(
        "--translation",
        default="stage1",
        choices=("stage1", "gt"),
        help="body translation that conditions stage 2 and places its bodies: stage1 (official) or gt (diagnostic: "
        "separates pose errors from translation errors)",
    )
    default = "default: the checkpoint's test.{}"
    add(
        "--fast",
        action="store_true",
        help="start from the fast setting instead of the checkpoint's: DDIM over the steps 5,2,1,1,1, eta 1, "
        "diffuse_fuse, guidance at 4/3 of the checkpoint's weight (docs/stage2.md); the flags below apply on top",
    )
    add("--num-samples", type=int, default=None, help=f"samples per image ({default.format('num_samples')})")
    add("--sampler", default=None, choices=("ddpm", "ddim"), help=default.format("sampler"))
    add("--steps", type=int, default=None, help=f"denoising steps, ddpm 50 official, ddim 5 = ddim5 "
        f"({default.format('spacing')})")  # fmt: skip
    add(
        "--spacing",
        default=None,
        help="kept timesteps instead of --steps: 'ddimN', 'N', or 'N1,N2,...' (N_i evenly spread steps in each of "
        "equal sections of 0..T-1, least noisy first: '5,1,1,1,1' = 5 steps in t < 10, where guidance acts, and 1 "
        f"in each higher section) ({default.format('spacing')})",
    )
    add(
        "--fuse",
        action=argparse.BooleanOptionalAction,
        default=None,
        help=f"diffuse_fuse ({default.format('diffuse_fuse')})",
    )
    add(
        "--guidance",
        action=argparse.BooleanOptionalAction,
        default=None,
        help=f"collision guidance ({default.format('guidance.enabled')})",
    )
    add("--guidance-weight", type=float, default=None, help=default.format("guidance.weight"))
    add("--return-mode", default=None, choices=("official", "final"), help=default.format("return_mode"))
    add(
        "--visible-noise-scale",
        type=float,
        default=None,
        help=f"sampling noise factor on visible joints ({default.format('visible_noise_scale')})",
    )
    add("--eta", type=float, default=None, help=f"DDIM eta, 0 deterministic ({default.format('eta')})")
    add("--mode", default=None, choices=("fast", "reference"), help=default.format("mode"))
    add("--batch-size", type=int, default=None, help=f"images per batch ({default.format('batch_size')})")
    add(
        "--max-memory-gb",
        type=float,
        default=None,
        help="memory cap (GiB) that picks the images per batch instead of --batch-size: the most whose measured "
        f"weights + sampling memory fit ({default.format('max_memory_gb')})",
    )
    add("--seed", type=int, default=None, help=default.format("seed"))
    add("--chunk-size", type=int, default=64, help="frames per chunk file (resume granularity)")
    add("--workers", type=int, default=0, help="DataLoader workers")
    add("--device", default="auto", choices=("auto", "cpu", "cuda"))
    add("--body", default=None, help="body model source for guidance and metrics (default: config)")
    add("--metric-mode", default="corrected", choices=("corrected", "official"))
    add("--inside-test", default="fast_winding_number", choices=("fast_winding_number", "exact", "trimesh"))
    add("--no-collision", action="store_true", help="skip collision/contact metrics")
    add("--out", type=Path, required=True, help="output folder")
    add("--overwrite", action="store_true", help="recompute the outputs of a run of other settings or inputs in --out")


def stage2_test_settings(args: argparse.Namespace, base: Any, num_train_timesteps: int) -> Any:
    """`Stage2TestConfig` of the flags: `base` (the checkpoint's `test`, or with `--fast` the fast setting on top of
    it) with every given flag replacing its field.

    Args:
        args: parsed `egohmr test stage2` flags.
        base: the checkpoint's `Stage2TestConfig`.
        num_train_timesteps: T of the checkpoint's schedule (turns `--steps` into a respacing).
    """
    from egohmr.diffusion.schedule import space_timesteps
    from egohmr.diffusion.spacing import spacing_for
    from egohmr.stage2.config import fast_sampling

    if args.fast:
        base = fast_sampling(base)
        space_timesteps(num_train_timesteps, base.spacing)  # ValueError: a schedule too short for it

    given = {
        "num_samples": args.num_samples,
        "sampler": args.sampler,
        "diffuse_fuse": args.fuse,
        "return_mode": args.return_mode,
        "visible_noise_scale": args.visible_noise_scale,
        "eta": args.eta,
        "mode": args.mode,
        "batch_size": args.batch_size,
        "max_memory_gb": args.max_memory_gb,
        "seed": args.seed,
    }
    settings = dataclasses.replace(base, **{k: v for k, v in given.items() if v is not None})
    if args.steps is not None and args.spacing is not None:
        raise ValueError("--steps and --spacing both given: pass one of them")
    if args.steps is not None:
        settings = dataclasses.replace(settings, spacing=spacing_for(settings.sampler, args.steps, num_train_timesteps))
    if args.spacing is not None:
        space_timesteps(num_train_timesteps, args.spacing)  # ValueError naming the spacing
        settings = dataclasses.replace(settings, spacing=args.spacing)
    guidance = {"enabled": args.guidance, "weight": args.guidance_weight}
    guidance = {k: v for k, v in guidance.items() if v is not None}
    return dataclasses.replace(settings, guidance=dataclasses.replace(settings.guidance, **guidance))


def stage2_test_run(args: argparse.Namespace) -> Any:
    """The `Stage2TestRun` of the flags."""
    from egohmr.stage2.config import Stage2DataConfig
    from egohmr.stage2.evaluation import Stage2TestRun

    default_scene_dir = Path(Stage2DataConfig(root=str(args.dataset)).resolved_scene_dir_test())

    return Stage2TestRun(
        dataset_root=args.dataset,
        scene_dir=args.scene_dir if args.scene_dir is not None else default_scene_dir,
        stage1_results=args.stage1_results,
        out_dir=args.out,
        split=args.split,
        translation=args.translation,
        chunk_size=args.chunk_size,
        num_workers=args.workers,
        device=args.device,
        body=args.body,
        metric_mode=args.metric_mode,
        inside_test=args.inside_test,
        collision=not args.no_collision,
        overwrite=args.overwrite,
    )


def run_stage2(args: argparse.Namespace) -> int:
    from egohmr.stage2 import checkpoint, evaluation

    loaded = checkpoint.load_with_source(args.checkpoint)
    num_train_timesteps = loaded.cfg.schedule.num_train_timesteps
    settings = stage2_test_settings(args, loaded.cfg.test, num_train_timesteps)
    result = evaluation.evaluate(loaded, stage2_test_run(args), settings)
    if result.metrics is None:  # not rank 0: the merge and the metrics are rank 0's
        return 0
    m = result.metrics
    steps = evaluation.num_steps(settings, num_train_timesteps)
    flags = f"{' fuse' if settings.diffuse_fuse else ''}{' guidance' if settings.guidance.enabled else ''}"
    print(
        f"stage 2 [{settings.sampler}-{steps}{flags}, {settings.num_samples} samples, {result.num_frames} frames]: "
        f"MPJPE vis {m['mpjpe_vis_mm']:.1f} mm, best-of-{settings.num_samples} invis {m['min_mpjpe_invis_mm']:.1f} mm, "
        f"mean invis {m['mpjpe_invis_mm']:.1f} mm, APD {m.get('apd_joints_mm', float('nan')):.1f} mm, "
        f"collision {m['collision_ratio']:.4f}, contact {m['contact_ratio']:.3f}"
    )
    print(
        f"speed: {m['images_per_second_sampling']:.2f} images/s sampling, {m['images_per_second_end_to_end']:.2f} "
        f"images/s end to end ({m['seconds_per_image']:.2f} s/image), {m['images_per_batch']:.0f} images per batch, "
        f"peak memory {m['peak_memory_gb']:.2f} GiB"
    )
    print(f"results and metrics written to {result.out_dir}")
    return 0
