"""`egohmr synth`: write a synthetic dataset in the official EgoBody layout."""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "synth",
        help="generate a synthetic EgoBody-format dataset",
        description="Procedural rooms, an open-body interactee and a head-mounted camera wearer, written in the "
        "official EgoBody layout (images, annotation npz, calibrations, transforms).",
    )
    p.add_argument("--out", required=True, help="output dataset root")
    p.add_argument("--seed", type=int, default=0, help="seed of every random draw (default 0)")
    p.add_argument("--scenes", type=int, default=3, help="number of rooms (default 3)")
    p.add_argument("--recordings", type=int, default=6, help="number of recordings (default 6)")
    p.add_argument("--frames", type=int, default=300, help="total annotated frames over all recordings (default 300)")
    p.add_argument("--width", type=int, default=1920, help="image width in px (default 1920)")
    p.add_argument("--height", type=int, default=1080, help="image height in px (default 1080)")
    p.add_argument("--workers", type=int, default=2, help="worker processes (default 2; 1 = in process)")
    p.add_argument("--renderer", choices=("auto", "egl", "numpy"), default="auto", help="render backend (default auto)")
    p.add_argument("--body", default="open", help="body model source for the interactee (default: open)")
    p.add_argument(
        "--scene-max-edge", type=float, default=0.05, help="longest edge of the written scene meshes, m (default 0.05)"
    )
    p.add_argument(
        "--overwrite", action="store_true", help="replace a dataset of other settings in --out (default: refuse)"
    )
    p.set_defaults(func=run)


def build_config(args: argparse.Namespace):
    from pathlib import Path

    from egohmr.synth.generate import SynthConfig

    return SynthConfig(
        out=Path(args.out),
        seed=args.seed,
        num_scenes=args.scenes,
        num_recordings=args.recordings,
        num_frames=args.frames,
        width=args.width,
        height=args.height,
        workers=args.workers,
        renderer=args.renderer,
        body_source=args.body,
        scene_max_edge_m=args.scene_max_edge,
        overwrite=args.overwrite,
    )


def run(args: argparse.Namespace) -> int:
    from egohmr.synth.generate import generate_dataset

    summary = generate_dataset(build_config(args))
    splits = ", ".join(f"{k} {v}" for k, v in summary.frames_per_split.items())
    print(f"wrote {summary.frames} frames ({splits}) to {args.out} in {summary.seconds:.1f} s")
    print(f"{summary.frames / summary.seconds:.1f} frames/s; truncated frames: {100 * summary.truncated_fraction:.0f}%")
    return 0
