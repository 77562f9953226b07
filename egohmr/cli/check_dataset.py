"""`egohmr check-dataset DIR`: validate a dataset folder (real EgoBody or synthetic) against the official format."""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "check-dataset",
        help="validate an EgoBody-format dataset folder",
        description="Check files, annotation fields (shapes, dtypes, NaN), transforms, images and that keypoints "
        "agree with the projected 3D joints. Exit code 1 if anything is wrong.",
    )
    p.add_argument("root", help="dataset root (contains annotation_egocentric_smpl_npz/, egocentric_color/, ...)")
    p.add_argument("--no-images", action="store_true", help="do not check that every image file exists")
    p.add_argument(
        "--kp-tol", type=float, default=0.25, help="keypoint vs projected joint tolerance, fraction of bbox side"
    )
    p.add_argument("--max-bad-fraction", type=float, default=0.01, help="tolerated fraction of disagreeing frames")
    p.add_argument("--body", default=None, help="also check SMPL params -> 3d_joints_pv with this body model source")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from egohmr.synth.check import check_dataset

    report = check_dataset(
        args.root,
        check_images=not args.no_images,
        kp_tol_frac=args.kp_tol,
        max_bad_fraction=args.max_bad_fraction,
        body_source=args.body,
    )
    for issue in report.issues:
        print(f"ERROR {issue}")
    status = "OK" if report.ok else f"FAILED ({len(report.issues)} issue(s))"
    print(f"check-dataset {args.root}: {report.frames} frames, {report.files_checked} files checked: {status}")
    return 0 if report.ok else 1
