"""`egohmr preprocess`: scene points for stage 1 and stage 2, and the diffusion pose statistics.

egohmr preprocess scene-s1 --dataset EGOBODY --split test                 # -> EGOBODY/preprocess_scene_s1
egohmr preprocess scene-s2-train --dataset EGOBODY --split train --body data/smpl
                                        # -> EGOBODY/Egohmr_scene_preprocess_cube_s2_from_gt_release
egohmr preprocess scene-s2-test --dataset EGOBODY --stage1-results S1/results.pkl
                                        # -> EGOBODY/Egohmr_scene_preprocess_cube_s2_from_pred_release
egohmr preprocess stats --dataset EGOBODY                                 # -> EGOBODY/preprocess_stats/

Each `--out` defaults to the folder its consumer reads by default (`test stage1 --scene-dir`, `data.scene_dir_train`,
`test stage2 --scene-dir`), so the commands chain with `--dataset` alone.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from egohmr.config import layout

# Default output folders under --dataset: the ones their consumers read by default.
DEFAULT_OUT = {
    "scene-s1": layout.SCENE_S1_DIR,
    "scene-s2-train": layout.SCENE_S2_TRAIN_DIR,
    "scene-s2-test": layout.SCENE_S2_TEST_DIR,
    "stats": layout.STATS_DIR,
}


def _dataset_and_out(p: argparse.ArgumentParser, step: str) -> None:
    p.add_argument("--dataset", required=True, help="EgoBody root (official tree, see docs/data.md)")
    p.add_argument("--out", default=None, help=f"output folder (default <dataset>/{DEFAULT_OUT[step]})")
    p.set_defaults(step=step)


def output_dir(args: argparse.Namespace) -> str:
    """`--out`, or the step's default folder under `--dataset`."""
    return args.out if args.out is not None else str(Path(args.dataset) / DEFAULT_OUT[args.step])


def _common(p: argparse.ArgumentParser, step: str, split_default: str) -> None:
    _dataset_and_out(p, step)
    p.add_argument("--split", default=split_default, choices=("train", "val", "test"), help="annotation split")
    p.add_argument("--num-points", type=int, default=20000, help="points per frame (official 20000)")
    p.add_argument("--workers", type=int, default=0, help="worker processes (0: in this process)")
    p.add_argument("--seed", type=int, default=0, help="seed of the per-frame random draws")
    p.add_argument("--allow-replacement", action="store_true", help="sample with replacement if too few points")
    p.add_argument(
        "--overwrite", action="store_true", help="recompute existing outputs (also those of other inputs/parameters)"
    )
    p.add_argument("--no-progress", action="store_true", help="hide progress bars")


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("preprocess", help="scene preprocessing (stage 1 / stage 2) and pose statistics")
    sub = parser.add_subparsers(dest="preprocess_command", metavar="STEP", required=True)

    p = sub.add_parser("scene-s1", help="stage 1: scene points in front of the egocentric camera")
    _common(p, "scene-s1", "train")
    p.add_argument("--every", type=int, default=15, help="save every n-th frame (and at recording changes)")
    p.add_argument("--keep-parts", action="store_true", help="keep per-frame part files after merging")
    p.set_defaults(func=_run_s1)

    p = sub.add_parser("scene-s2-train", help="stage 2: 2x2 m cubes around the GT body (train/val)")
    _common(p, "scene-s2-train", "train")
    p.add_argument("--body", default="open", help="'open', a SMPL folder (data/smpl) or a model file")
    p.add_argument("--cube-size", type=float, default=2.0, help="cube side in metres")
    p.set_defaults(func=_run_s2, s2_mode="train")

    p = sub.add_parser("scene-s2-test", help="stage 2: 2x2 m cubes around the stage-1 translation (test)")
    _common(p, "scene-s2-test", "test")
    p.add_argument("--stage1-results", required=True, help="stage-1 results.pkl (pred_cam_full_list)")
    p.add_argument("--cube-size", type=float, default=2.0, help="cube side in metres")
    p.set_defaults(func=_run_s2, s2_mode="test")

    p = sub.add_parser("stats", help="diffusion pose statistics (preprocess_stats.npz) of a split")
    _dataset_and_out(p, "stats")
    p.add_argument("--split", default="train", choices=("train", "val", "test"), help="split (official: train)")
    p.add_argument("--overwrite", action="store_true", help="recompute statistics made from other inputs")
    p.set_defaults(func=_run_stats)


def _run_s1(args: argparse.Namespace) -> int:
    from egohmr.preprocess.scene_s1 import SceneS1Options, run_scene_s1

    res = run_scene_s1(
        SceneS1Options(
            root=args.dataset,
            split=args.split,
            out_dir=output_dir(args),
            num_points=args.num_points,
            every=args.every,
            num_workers=args.workers,
            seed=args.seed,
            allow_replacement=args.allow_replacement,
            overwrite=args.overwrite,
            keep_parts=args.keep_parts,
        ),
        progress=not args.no_progress,
    )
    print(f"{res.num_saved} saved frames for {res.num_frames} frames ({res.num_computed} computed now): {res.pcd_path}")
    return 0


def _run_s2(args: argparse.Namespace) -> int:
    from egohmr.preprocess.scene_s2 import SceneS2Options, run_scene_s2

    res = run_scene_s2(
        SceneS2Options(
            root=args.dataset,
            split=args.split,
            out_root=output_dir(args),
            mode=args.s2_mode,
            stage1_results=getattr(args, "stage1_results", None),
            body_model=getattr(args, "body", "open"),
            num_points=args.num_points,
            cube_size_m=args.cube_size,
            num_workers=args.workers,
            seed=args.seed,
            allow_replacement=args.allow_replacement,
            overwrite=args.overwrite,
        ),
        progress=not args.no_progress,
    )
    print(f"{res.num_frames} cubes in {res.out_dir} ({res.num_computed} computed now)")
    return 0


def _run_stats(args: argparse.Namespace) -> int:
    from egohmr.data.stats import pose_stats_job

    stats, path = pose_stats_job(args.dataset, args.split, output_dir(args), args.overwrite)
    print(f"pose statistics of {stats.num_frames} frames: {path}")
    return 0
