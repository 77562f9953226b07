"""`egohmr doctor`: check what you have (torch, extras, body files, dataset, checkpoints) and what fixes the rest.

Examples::

    egohmr doctor
    egohmr doctor --body data/smpl --dataset /data/egobody_release \\
        --checkpoint checkpoints_egohmr/53618/best_model.pt \\
        --checkpoint checkpoints_egohmr/91453/best_model_mpjpe_vis.pt
"""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "doctor",
        help="check torch, extras, body files, a dataset and checkpoints; say what fixes each problem",
        description="One line per check; exit code 1 when something is missing or broken.",
    )
    p.add_argument("--dataset", default=None, help="EgoBody-format root to check (files and fields, not images)")
    p.add_argument("--body", default=None, help="SMPL folder to check (default: report the open body)")
    p.add_argument(
        "--checkpoint", action="append", default=[], help="a checkpoint to identify (repeatable): stage and kind"
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from egohmr import doctor

    findings = doctor.check_torch() + doctor.check_extras() + doctor.check_body(args.body)
    if args.dataset is not None:
        findings += doctor.check_dataset_layout(args.dataset)
    for path in args.checkpoint:
        findings += doctor.check_checkpoint(path)
    for f in findings:
        mark = "ok  " if f.ok else ("opt " if f.optional else "FIX ")
        print(f"{mark} {f.name}: {f.detail}" + (f"\n       -> {f.fix}" if f.fix else ""))
    problems = sum(not (f.ok or f.optional) for f in findings)
    print(
        f"doctor: {len(findings)} checks, {problems} to fix" if problems else f"doctor: {len(findings)} checks, all ok"
    )
    return 1 if problems else 0
