"""`egohmr check-dataset --dataset DIR`: validate a dataset folder (real EgoBody or synthetic) against the official
format and against itself."""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "check-dataset",
        help="validate an EgoBody-format dataset folder",
        description="Check files, annotation fields (shapes, dtypes, NaN), transforms, images, keypoints and boxes "
        "against the projected 3D joints, SMPL parameters against the joints, and the camera and bodies against the "
        "scene mesh. Exit code 1 if anything is wrong.",
    )
    p.add_argument(
        "--dataset", required=True, help="dataset root (contains annotation_egocentric_smpl_npz/, egocentric_color/)"
    )
    p.add_argument("--quick", action="store_true", help="only files, fields and dtypes (what `egohmr doctor` runs)")
    p.add_argument(
        "--body",
        default="auto",
        help="body model for the SMPL parameters -> 3d_joints_pv check: 'auto' (data/smpl, else the open body with "
        "looser tolerances), 'open', 'open-lowres' or a SMPL folder (exact tolerances), 'none' to skip",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from egohmr.synth.checks import check_dataset

    body = None if args.body == "none" else args.body
    report = check_dataset(args.dataset, quick=args.quick, body_source=body)
    for issue in report.issues:
        print(f"ERROR {issue}")
    status = "OK" if report.ok else f"FAILED ({len(report.issues)} issue(s))"
    print(f"check-dataset {args.dataset}: {report.frames} frames, {report.files_checked} files checked: {status}")
    return 0 if report.ok else 1
