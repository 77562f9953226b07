"""Stage-2 throughput at the official model size: images (frames) per second and peak memory, batch 1 vs the
memory-capped batch, 1 vs 2 threads, 1 process vs ``torchrun`` 2 processes.

    python benchmarks/bm_throughput.py                        # full table (run it on a quiet machine)
    python benchmarks/bm_throughput.py --quick                # smoke run: 4 steps of each plan, 2 images
    python benchmarks/bm_throughput.py --max-memory-gb 4 --device cuda

Official sizes, random weights (`bm_stage2.build_model`): ResNet-50 on 224 crops, PointNet 512/256 on 20,000 points,
GCN 3718 -> 1024 x 4; 5 samples per image, diffuse_fuse and collision guidance (packaged open body), for DDPM-50 and
DDIM-10. Each row samples ``--images`` images with `predict_samples` in batches of 1 or of the most images that fit
``--max-memory-gb`` (`egohmr.stage2.batching.memory_capped_batch`). Peak memory: on CUDA ``max_memory_allocated`` of
the timed run; on CPU the tensors alive together in one call of the chosen batch (tracked on a short step plan,
`egohmr.stage2.batching.measure_peak_bytes`; weights added), and the process's peak RSS. The ``torchrun`` rows run
the same sampling in 2 processes of 1 thread each, each on half of the images (the way ``egohmr test stage2`` shards
chunks), and report all images over the slower process's time.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository root, for the test fixtures

from benchmarks.bm_stage2 import build_model, make_batch, print_rows  # noqa: E402
from egohmr.diffusion.schedulers import build_scheduler  # noqa: E402
from egohmr.diffusion.spacing import spacing_for  # noqa: E402
from egohmr.stage2.batching import (  # noqa: E402
    GIB,
    RunPeak,
    calibration_steps,
    measure_peak_bytes,
    memory_capped_batch,
    repeat_images,
    weight_bytes,
)
from egohmr.stage2.config import Stage2TestConfig  # noqa: E402
from egohmr.stage2.pipeline import build_guidance, predict_samples  # noqa: E402
from egohmr.train.data import to_device  # noqa: E402

SETTINGS = {"DDPM-50": ("ddpm", 50), "DDIM-10": ("ddim", 10)}
"""Benchmarked samplers (name -> sampler, steps), both with diffuse_fuse and collision guidance."""


@dataclasses.dataclass
class Measured:
    images: int
    seconds: float
    batch: int
    peak_bytes: float

    @property
    def rate(self) -> float:
        return self.images / self.seconds


def sampling_settings(name: str, samples: int, max_memory_gb: float) -> Stage2TestConfig:
    sampler, steps = SETTINGS[name]
    base = Stage2TestConfig()
    return dataclasses.replace(
        base,
        sampler=sampler,
        spacing=spacing_for(sampler, steps),
        num_samples=samples,
        diffuse_fuse=True,
        guidance=dataclasses.replace(base.guidance, enabled=True),
        max_memory_gb=max_memory_gb,
    )


def quick_plan(num_steps: int) -> list[int]:
    """The first two and the last two steps of a plan (the last ones guided)."""
    return sorted({num_steps - 1, num_steps - 2, 1, 0}, reverse=True)


def measure(model, example, settings, batch_size: int, images: int, device: torch.device, quick: bool) -> Measured:
    """Sample ``images`` copies of ``example`` in batches of ``batch_size``: time and peak memory."""
    scheduler = build_scheduler(model.cfg.schedule, settings.sampler, settings.spacing)
    guidance = build_guidance(model, settings)
    plan = quick_plan(scheduler.num_steps) if quick else None
    generator = torch.Generator(device=device).manual_seed(0)

    def call(batch, timesteps) -> None:
        predict_samples(
            model, batch, batch["transl_stage1_pv"], settings.num_samples, scheduler, fuse=True, guidance=guidance,
            generator=generator, timesteps=timesteps,
        )  # fmt: skip

    full = repeat_images(example, batch_size)
    call(repeat_images(example, 1), calibration_steps(scheduler.num_steps))  # warm-up
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
    tic = time.perf_counter()
    for start in range(0, images, batch_size):
        call(full if start + batch_size <= images else repeat_images(example, images - start), plan)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    seconds = time.perf_counter() - tic
    if device.type == "cuda":
        peak = float(torch.cuda.max_memory_allocated(device))
    else:
        with measure_peak_bytes(device) as tracked:
            call(full, calibration_steps(scheduler.num_steps))
        peak = tracked.value + weight_bytes(model)
    return Measured(images, seconds, batch_size, peak)


def auto_batch(model, example, settings, device: torch.device) -> int:
    scheduler = build_scheduler(model.cfg.schedule, settings.sampler, settings.spacing)
    guidance = build_guidance(model, settings)
    return memory_capped_batch(model, example, example["transl_stage1_pv"], settings, scheduler, guidance)


def setup(args: argparse.Namespace) -> tuple:
    device = torch.device("cuda" if args.device == "cuda" or (args.device == "auto" and torch.cuda.is_available())
                          else "cpu")  # fmt: skip
    torch.manual_seed(0)
    model = build_model(args.body).to(device)
    example = to_device(make_batch(1, args.points, torch.Generator().manual_seed(0)), device)
    return device, model, example


def worker(args: argparse.Namespace) -> None:
    """One torchrun process: its share of the images in the auto batch, after a barrier so that all overlap."""
    import torch.distributed as dist

    rank, world = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
    device, model, example = setup(args)
    dist.init_process_group("gloo")
    results = {}
    for name in SETTINGS:
        settings = sampling_settings(name, args.samples, args.max_memory_gb)
        share = len(range(rank, args.images, world))
        batch = min(auto_batch(model, example, settings, device), share)
        dist.barrier()
        results[name] = dataclasses.asdict(measure(model, example, settings, batch, share, device, args.quick))
    dist.barrier()
    Path(args.worker_out, f"rank{rank}.json").write_text(json.dumps(results))
    dist.destroy_process_group()


def torchrun_rows(args: argparse.Namespace) -> dict[str, Measured]:
    """Launch the workers (2 processes x 1 thread) and combine: all images over the slower process's seconds."""
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2", "--master-port", "29571",
               __file__, "--worker-out", tmp, *sys.argv[1:]]  # fmt: skip
        env = os.environ | {"OMP_NUM_THREADS": "1"}
        subprocess.run(cmd, env=env, check=True)
        ranks = [json.loads(p.read_text()) for p in sorted(Path(tmp).glob("rank*.json"))]
    combined = {}
    for name in SETTINGS:
        parts = [Measured(**r[name]) for r in ranks]
        combined[name] = Measured(
            sum(p.images for p in parts),
            max(p.seconds for p in parts),
            parts[0].batch,
            max(p.peak_bytes for p in parts),
        )
    return combined


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=5, help="samples per image (default 5)")
    parser.add_argument("--points", type=int, default=20000, help="scene points per cube (official 20,000)")
    parser.add_argument("--images", type=int, default=None, help="images per row (default 2 x the auto batch, <= 64)")
    parser.add_argument("--max-memory-gb", type=float, default=4.0, help="cap that picks the auto batch (GiB)")
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2], help="thread counts (default 1 2)")
    parser.add_argument("--no-torchrun", action="store_true", help="skip the torchrun 2-process rows")
    parser.add_argument("--body", default="open", help="body for guidance: open, open-lowres, a SMPL folder, ball")
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    parser.add_argument("--quick", action="store_true", help="4 steps of each plan and 2 images: checks, not figures")
    parser.add_argument("--worker-out", default=None, help=argparse.SUPPRESS)  # internal: torchrun worker
    args = parser.parse_args()
    if args.quick and args.images is None:
        args.images = 2
    if args.worker_out is not None:
        worker(args)
        return
    device, model, example = setup(args)
    batches = {name: auto_batch(model, example, sampling_settings(name, args.samples, args.max_memory_gb), device)
               for name in SETTINGS}  # fmt: skip
    if args.images is None:
        args.images = min(2 * max(batches.values()), 64)
    print(f"device {device}, torch {torch.__version__}; official sizes, random weights, {args.points} points, "
          f"{args.samples} samples/image, fuse + guidance; {args.images} images per row; auto batch within "
          f"{args.max_memory_gb:g} GiB: {batches}")  # fmt: skip
    if args.quick:
        print("QUICK: 4 steps per plan, not final figures")

    rows: list[tuple[str, str]] = []
    rates: dict[tuple[str, int, str], float] = {}
    for threads in args.threads:
        torch.set_num_threads(threads)
        for name in SETTINGS:
            settings = sampling_settings(name, args.samples, args.max_memory_gb)
            auto = min(batches[name], args.images)
            for label, batch in (("B=1", 1), (f"auto B={auto}", auto)):
                m = measure(model, example, settings, batch, args.images, device, args.quick)
                rates[(name, threads, label.split()[0])] = m.rate
                rows.append((f"{name}, {threads} thread(s), {label}",
                             f"{m.rate:.3f} images/s, peak {m.peak_bytes / GIB:.2f} GiB"))  # fmt: skip
    peak_rss = RunPeak(device).bytes()
    if not args.no_torchrun and device.type == "cpu":
        for name, m in torchrun_rows(args).items():
            rates[(name, 0, "torchrun")] = m.rate
            rows.append((f"{name}, torchrun 2 processes x 1 thread, auto B={m.batch}",
                         f"{m.rate:.3f} images/s, peak {m.peak_bytes / GIB:.2f} GiB per process"))  # fmt: skip

    for name in SETTINGS:
        for threads in args.threads:
            b1, auto = rates.get((name, threads, "B=1")), rates.get((name, threads, "auto"))
            if b1 and auto:
                rows.append((f"{name}, {threads} thread(s): auto batch vs B=1", f"{auto / b1:.2f}x"))
        if {1, 2} <= set(args.threads):
            speedup = rates[(name, 2, "auto")] / rates[(name, 1, "auto")]
            rows.append((f"{name}, auto batch: 2 threads vs 1", f"{speedup:.2f}x"))
        if (name, 0, "torchrun") in rates and 2 in args.threads:
            rows.append((f"{name}: torchrun 2 processes vs 1 process x 2 threads",
                         f"{rates[(name, 0, 'torchrun')] / rates[(name, 2, 'auto')]:.2f}x"))  # fmt: skip
    if peak_rss is not None:
        rows.append(("peak RSS of this process (CPU, all rows)", f"{peak_rss / GIB:.2f} GiB"))
    print_rows(rows)


if __name__ == "__main__":
    main()
