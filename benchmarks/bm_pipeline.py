"""The whole pipeline per frame at the official model size, as ``egohmr infer --frames`` runs it: frames per second,
seconds per step, peak memory.

    python benchmarks/bm_pipeline.py [--threads 1 2] [--frames 10] [--max-memory-gb 4]   # quiet machine
    python benchmarks/bm_pipeline.py --quick                                            # smoke run

Random weights at the official sizes: stage 1 (ResNet-50 on 224 crops, PointNet over 20,000 of the scene points in
front of the camera, flow) from the ``official`` stage-1 preset, stage 2 as `bm_stage2.build_model` (GCN 3718 ->
1024 x 4), packaged open body. Inputs: a 1920 x 1080 image and a room of 200,000 points (floor, two walls, a table)
in the world frame with a camera pose per frame. Per setting (5 samples, diffuse_fuse, collision guidance; DDPM-50,
DDIM-10 with eta 1 and the fast setting, ``--fast``: `egohmr.stage2.config.fast_sampling`),
`EgoHMRPipeline.predict_frames` runs the frames one per call and then as many per call as
``--max-memory-gb`` allows (`EgoHMRPipeline.images_per_batch`), and prints frames/s, the mean seconds of each step
per frame (stage 1, stage-2 scene crop, stage 2, bodies) and the process's peak RSS.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository root, for the benchmark helpers

from benchmarks.bm_stage2 import build_model  # noqa: E402
from egohmr.body import load_body_model  # noqa: E402
from egohmr.pipeline.checkpoints import StageModels  # noqa: E402
from egohmr.pipeline.core import EgoHMRPipeline, FrameInputs  # noqa: E402
from egohmr.pipeline.sampling import SamplingOverrides  # noqa: E402
from egohmr.stage1.config import load_stage1_config  # noqa: E402
from egohmr.stage1.model import ProHMRScene  # noqa: E402
from egohmr.stage2.batching import GIB, RunPeak  # noqa: E402

INTRINSICS = (1460.0, 1460.0, 960.0, 540.0)
BBOX_PX = (760.0, 240.0, 1160.0, 1080.0)  # a person cut by the lower image border
STEPS = ("stage1", "scene", "stage2", "bodies")


def official_pipeline() -> EgoHMRPipeline:
    """`EgoHMRPipeline` over random-weight models of the official sizes (module docstring)."""
    cfg1 = load_stage1_config("official")
    cfg1 = dataclasses.replace(cfg1, model=dataclasses.replace(cfg1.model, backbone_pretrained=False))
    torch.manual_seed(0)
    stage1 = ProHMRScene(cfg1.model, cfg1.loss).eval()
    stage1.attach_body_models(*(load_body_model("open", g) for g in ("neutral", "male", "female")))
    stage2 = build_model("open")
    models = StageModels(stage1, cfg1, stage2, stage2.cfg, {"stage1": "random", "stage2": "random"}, {})
    return EgoHMRPipeline(models, torch.device("cpu"))


def room_world(num_points: int, rng: np.random.Generator) -> np.ndarray:
    """(P, 3) metres, y up: a 6 x 6 m floor, two walls and a table top."""
    n = num_points // 4
    floor = np.column_stack([rng.uniform(-3, 3, n), np.zeros(n), rng.uniform(-3, 3, n)])
    back = np.column_stack([rng.uniform(-3, 3, n), rng.uniform(0, 2.5, n), np.full(n, -3.0)])
    side = np.column_stack([np.full(n, 3.0), rng.uniform(0, 2.5, n), rng.uniform(-3, 3, n)])
    m = num_points - 3 * n
    table = np.column_stack([rng.uniform(0.5, 1.5, m), np.full(m, 0.75), rng.uniform(-1.5, -0.7, m)])
    return np.concatenate([floor, back, side, table])


def world2pv_at(step: int) -> np.ndarray:
    """(4, 4) world -> PV (OpenCV axes) of a head-height camera 3 m from the person, turning slowly."""
    yaw = 0.02 * step
    eye = np.array([3.0 * np.sin(yaw), 1.6, 3.0 * np.cos(yaw)])
    forward = -eye * np.array([1.0, 0.0, 1.0]) + np.array([0.0, -0.6, 0.0])
    forward /= np.linalg.norm(forward)
    right = np.cross(forward, [0.0, 1.0, 0.0])
    right /= np.linalg.norm(right)
    down = np.cross(forward, right)
    rot = np.stack([right, down, forward])  # rows: PV axes in the world
    out = np.eye(4)
    out[:3, :3], out[:3, 3] = rot, -rot @ eye
    return out


def frames_of(count: int, num_points: int) -> list[FrameInputs]:
    rng = np.random.default_rng(0)
    scene = room_world(num_points, rng)
    image = rng.integers(0, 255, size=(1080, 1920, 3), dtype=np.uint8)
    return [FrameInputs(image, INTRINSICS, BBOX_PX, scene, f"frame_{i:05d}", world2pv_at(i)) for i in range(count)]


def run(pipe: EgoHMRPipeline, frames: list[FrameInputs], settings, per_call: int) -> tuple[float, dict[str, float]]:
    """Seconds per frame in all, and the mean seconds of each step per frame, for `per_call` frames per call."""
    pipe.predict_frames(frames[:1], settings)  # warm-up (guidance tables, allocator)
    steps = dict.fromkeys(STEPS, 0.0)
    tic = time.perf_counter()
    for start in range(0, len(frames), per_call):
        for result in pipe.predict_frames(frames[start : start + per_call], settings):
            for name in STEPS:
                steps[name] += result.seconds[name] / len(frames)
    return (time.perf_counter() - tic) / len(frames), steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--frames", type=int, default=10)
    parser.add_argument("--scene-points", type=int, default=200_000)
    parser.add_argument("--max-memory-gb", type=float, default=4.0)
    parser.add_argument("--quick", action="store_true", help="2 frames, DDIM-2 / DDPM-4, 2 samples, one thread count")
    args = parser.parse_args()
    pipe = official_pipeline()
    samples = 2 if args.quick else 5
    guided = {"num_samples": samples, "eta": 1.0, "fuse": True, "guidance": True}
    plans = (
        {
            "ddpm-50": SamplingOverrides(sampler="ddpm", steps=50, **guided),
            "ddim-10 eta 1": SamplingOverrides(sampler="ddim", steps=10, **guided),
            "fast setting": SamplingOverrides(fast=True, num_samples=samples),
        }
        if not args.quick
        else {
            "ddpm-4": SamplingOverrides(sampler="ddpm", steps=4, **guided),
            "ddim-2": SamplingOverrides(sampler="ddim", steps=2, **guided),
            "fast 2,1": SamplingOverrides(sampler="ddim", spacing="2,1", **guided),
        }
    )
    frames = frames_of(2 if args.quick else args.frames, args.scene_points)
    print(
        f"official sizes, random weights, {len(frames)} frames of 1920x1080, {args.scene_points} scene points, "
        f"{samples} samples, diffuse_fuse + guidance; cpu"
    )
    peak = RunPeak("cpu")
    for threads in args.threads[:1] if args.quick else args.threads:
        torch.set_num_threads(threads)
        for plan, choice in plans.items():
            settings = pipe.sampling_settings(overrides=choice)
            capped = pipe.images_per_batch(frames[0], dataclasses.replace(settings, max_memory_gb=args.max_memory_gb))
            single = None
            for per_call in dict.fromkeys([1, min(capped, len(frames))]):
                peak.start()
                seconds, parts = run(pipe, frames, settings, per_call)
                single = single or seconds
                split = " ".join(f"{name} {parts[name]:.3f}" for name in STEPS)
                print(
                    f"{threads} thread(s) {plan:<14} {per_call:>2} frame(s)/call: {1 / seconds:6.3f} frame/s "
                    f"({seconds:6.2f} s/frame; {single / seconds:4.2f}x one per call) | s/frame: {split} | "
                    f"peak RSS {(peak.bytes() or 0) / GIB:5.2f} GiB"
                )


if __name__ == "__main__":
    main()
