"""`egohmr demo`: synthesise a small EgoBody-style test set, run both stages with the shipped cpu checkpoints,
evaluate, and write overlays, scene views, .glb files and index.html (docs/demo.md).

    egohmr demo [--out DIR] [--frames N] [--num-samples S] [--seed 0] [--device auto]

The work is `egohmr.pipeline.demo.run_demo`; this module parses the flags and prints. The last line printed is the
path of ``index.html``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from egohmr.pipeline.demo import DEFAULT_OUT, DemoSettings, run_demo, tiny_settings
from egohmr.pipeline.sampling import SamplingOverrides

DEFAULTS = DemoSettings()


def register(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add the `demo` subcommand."""
    parser = subparsers.add_parser(
        "demo",
        help="end-to-end demo on a small synthetic test set with the shipped cpu checkpoints",
        description="Synthesise a few EgoBody-style frames, run stage 1 -> stage-2 scene crop -> stage 2 (several "
        "samples, diffuse_fuse, collision guidance) with the shipped cpu checkpoints, evaluate, and write overlays, "
        "scene views, .glb files and index.html. The default 8 frames take about 27 s on a 2-core CPU (docs/demo.md).",
    )
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"output folder (default ./{DEFAULT_OUT})")
    parser.add_argument(
        "--frames",
        type=int,
        default=DEFAULTS.frames,
        help=f"synthetic frames, over all recordings (default {DEFAULTS.frames})",
    )
    parser.add_argument(
        "--num-samples", type=int, default=None, help="stage-2 samples per frame (default: the demo preset's, 5)"
    )
    parser.add_argument(
        "--fast",
        action="store_true",
        help="stage 2 in the fast setting: DDIM over 10 steps, eta 1, stronger guidance (docs/stage2.md)",
    )
    parser.add_argument(
        "--seed", type=int, default=None, help="seed of the synthetic data and of the sampling (default 0)"
    )
    parser.add_argument("--device", default=DEFAULTS.device, choices=("auto", "cpu", "cuda"), help="torch device")
    parser.add_argument("--stage1", default=None, help="stage-1 checkpoint (default: shipped cpu checkpoint)")
    parser.add_argument("--stage2", default=None, help="stage-2 checkpoint (default: shipped cpu checkpoint)")
    # hidden: small and fast runs (tests)
    parser.add_argument("--recordings", type=int, default=DEFAULTS.recordings, help=argparse.SUPPRESS)
    parser.add_argument("--tiny", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--sampler", default=None, choices=("ddpm", "ddim"), help=argparse.SUPPRESS)
    parser.add_argument("--steps", type=int, default=None, help=argparse.SUPPRESS)
    parser.set_defaults(func=_main)
    return parser


def limit_cpu_threads(device: str) -> None:
    """One torch thread on the CPU unless OMP_NUM_THREADS is set: sampling runs many small ops, for which extra
    threads mostly synchronise (measured on the 2-core machine under load: 5.7 s/frame with 1 thread, 22-44 with 2)."""
    import os

    import torch

    if "OMP_NUM_THREADS" not in os.environ and (device == "cpu" or not torch.cuda.is_available()):
        torch.set_num_threads(1)


def demo_settings(args: argparse.Namespace) -> DemoSettings:
    """`DemoSettings` of the flags; unset sampling flags (None) keep the demo preset's values; --tiny comes last."""
    settings = DemoSettings(
        out=args.out,
        frames=args.frames,
        recordings=args.recordings,
        seed=DEFAULTS.seed if args.seed is None else args.seed,
        device=args.device,
        stage1=args.stage1,
        stage2=args.stage2,
        sampling=SamplingOverrides(
            fast=args.fast, num_samples=args.num_samples, sampler=args.sampler, steps=args.steps, seed=args.seed
        ),
    )
    return tiny_settings(settings) if args.tiny else settings


def _print_phase(text: str) -> None:
    print(text, flush=True)


def _progress_bar(frames: range, description: str):
    from tqdm import tqdm

    return tqdm(frames, desc=description, unit="frame")


def _main(args: argparse.Namespace) -> int:
    limit_cpu_threads(args.device)
    result = run_demo(demo_settings(args), on_phase=_print_phase, track=_progress_bar)
    m = result.metrics
    nan = float("nan")
    print(
        f"{result.num_frames} frames x {result.num_samples} samples in {result.seconds:.0f} s: MPJPE vis "
        f"{m.get('mpjpe_vis_mm', nan):.1f} mm, invis {m.get('mpjpe_invis_mm', nan):.1f} mm, "
        f"collision {m.get('collision_ratio', nan):.3f}, {m['seconds_per_image']:.1f} s/image",
        flush=True,
    )
    print(f"demo done: open {result.index_html.resolve()}")
    return 0
