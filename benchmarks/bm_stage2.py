"""Stage-2 sampling speed at the official model size: fast batched pipeline vs the official-style reference.

    OMP_NUM_THREADS=2 .venv/bin/python benchmarks/bm_stage2.py            # full table (several minutes on 2 cores)
    .venv/bin/python benchmarks/bm_stage2.py --quick                       # fewer repetitions / batch sizes

Official sizes, random weights: ResNet-50 on 224 crops, PointNet 512/256 on 20,000 scene points, GCN 3718 -> 1024 × 4
blocks, T = 50; 5 samples per image. The reference mode (features recomputed at every denoiser call, one sample after
another, full tokens, two GCN calls with diffuse_fuse) is slow (~126 s per image for the official code on a 2-core
machine), so it is timed on a few steps and extrapolated per step (said in the table). Guidance uses the packaged open
body (13,718 vertices; SMPL has 6,890) and `SurfacePenetration` on the 20,000 cube points.
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
from pathlib import Path

import torch

from egohmr.diffusion.guidance import CollisionGuidance
from egohmr.diffusion.sampling import draw_noise
from egohmr.diffusion.schedulers import build_scheduler
from egohmr.stage2.config import Stage2Config
from egohmr.stage2.model import EgoHMRModel
from egohmr.stage2.pipeline import build_guidance, predict_samples

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository root, for the test fixtures


class TimedGuidance(CollisionGuidance):
    """`CollisionGuidance` that keeps its bound callables (they record their own time)."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.bound: list = []

    def bind(self, betas, points_hc):
        bound = super().bind(betas, points_hc)
        self.bound.append(bound)
        return bound


def make_batch(batch_size: int, num_points: int, generator: torch.Generator) -> dict[str, torch.Tensor]:
    """Official-size inputs: 224 crops, a 2 m scene cube of ``num_points`` points around a body 2.5 m away."""
    from tests.stage2.helpers import synthetic_batch

    batch = synthetic_batch(
        batch_size, num_points=num_points, seed=int(torch.randint(0, 10**6, (1,), generator=generator))
    )
    batch.pop("img_feat")
    batch["img_crop"] = torch.randn(batch_size, 3, 224, 224, generator=generator)
    # half of the cube below the pelvis (a floor / seat region), so that guidance has penetrations to resolve
    batch["scene_points_pv"][:, : num_points // 2, 1] = (
        batch["transl_stage1_pv"][:, None, 1] + 0.3 + 0.7 * torch.rand(batch_size, num_points // 2, generator=generator)
    )
    return batch


def build_model(body: str) -> EgoHMRModel:
    model = EgoHMRModel(Stage2Config()).eval()
    model.set_norm_stats(torch.zeros(144), torch.full((144,), 0.3))
    if body == "ball":
        from tests.stage2.helpers import ball_body

        model.set_body_models(ball_body(), ball_body("male"), ball_body("female"))
    else:
        from egohmr.body import load_body_model

        model.set_body_models(*(load_body_model(body, g) for g in ("neutral", "male", "female")))
    return model


def print_rows(rows: list[tuple[str, str]]) -> None:
    """Print (label, value) rows as a two-column table after a blank line."""
    width = max(len(label) for label, _ in rows)
    print()
    for label, value in rows:
        print(f"{label:<{width}}  {value}")


def timed(fn, repeats: int = 1) -> float:
    best = float("inf")
    for _ in range(repeats):
        tic = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - tic)
    return best


def matmul_flops(n: int = 2048, repeats: int = 3) -> float:
    a, b = torch.randn(n, n), torch.randn(n, n)
    a @ b
    return 2 * n**3 / timed(lambda: a @ b, repeats)


def run_fast(model, batch, sampler, spacing, samples, fuse=True, guidance=None, generator=None):
    sch = build_scheduler(model.cfg.schedule, sampler, spacing)
    return predict_samples(
        model, batch, batch["transl_stage1_pv"], samples, sch, fuse=fuse, guidance=guidance, generator=generator
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=5)
    parser.add_argument("--points", type=int, default=20000)
    parser.add_argument("--reference-steps", type=int, default=2, help="DDPM steps timed in reference mode")
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 2, 4, 8])
    parser.add_argument("--body", default="open", help="body for guidance: open, open-lowres, a SMPL folder, ball")
    parser.add_argument("--quick", action="store_true", help="one repetition, batch sizes 1 and 4")
    args = parser.parse_args()
    reps = 1 if args.quick else 2
    sizes = [1, 4] if args.quick else args.batch_sizes
    g = torch.Generator().manual_seed(0)
    torch.manual_seed(0)
    model = build_model(args.body)
    S = args.samples
    rows: list[tuple[str, str]] = []
    print(f"device: CPU ({platform.processor() or platform.machine()}), torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads; {args.points} points, 224 crops, {S} samples/image")  # fmt: skip

    peak = matmul_flops()
    rows.append(("fp32 matmul 2048^3", f"{peak / 1e9:.0f} GFLOP/s"))

    batch1 = make_batch(1, args.points, g)
    with torch.no_grad():
        run_fast(model, batch1, "ddim", "ddim5", S)  # warm-up
    fast_ddpm = timed(lambda: run_fast(model, batch1, "ddpm", "", S, generator=g), reps)
    rows.append(("fast DDPM-50 + fuse, B=1", f"{fast_ddpm:.2f} s/image"))

    # reference: k steps of one sample, extrapolated to 50 steps x S samples
    sch = build_scheduler(model.cfg.schedule, "ddpm", "")
    k = args.reference_steps
    noise = draw_noise(k, (S, 144), g)
    plan = list(range(49, 49 - k, -1))

    def ref_k_steps() -> None:
        predict_samples(
            model, batch1, batch1["transl_stage1_pv"], S, sch, noise=noise, mode="reference", timesteps=plan
        )

    ref_time = timed(ref_k_steps, 1)  # k steps for each of the S samples
    ref_per_image = ref_time / k * 50
    rows.append((f"reference DDPM-50 + fuse, B=1 (timed {k} steps x {S} samples, x{50 // k} extrapolated)",
                 f"{ref_per_image:.1f} s/image"))  # fmt: skip
    rows.append(("speed-up fast vs reference (DDPM-50 + fuse)", f"{ref_per_image / fast_ddpm:.1f}x"))

    for name, sampler, spacing in (("DDIM-10", "ddim", "ddim10"), ("ddim5", "ddim", "ddim5")):
        t = timed(lambda s=sampler, sp=spacing: run_fast(model, batch1, s, sp, S, generator=g), reps)
        rows.append((f"fast {name} + fuse, B=1", f"{t:.2f} s/image"))

    for b in sizes:
        batch = make_batch(b, args.points, g)
        t = timed(lambda bt=batch: run_fast(model, bt, "ddpm", "", S, generator=g), 1)
        rows.append((f"fast DDPM-50 + fuse, B={b}", f"{b / t:.2f} images/s ({t / b:.2f} s/image)"))

    # the denoiser's achieved FLOP/s: one fused call on N = B*S rows (B = largest batch size)
    from torch.utils.flop_counter import FlopCounterMode

    b = sizes[-1]
    batch = make_batch(b, args.points, g)
    with torch.no_grad():
        cond, _ = model.encode(batch, batch["transl_stage1_pv"])
        cond_rows = cond.repeat_interleave(S)
        vis = batch["vis_smpl24"].repeat_interleave(S, 0)
        x = torch.randn(b * S, 144, generator=g)
        t_rows = torch.full((b * S,), 25)
        with FlopCounterMode(display=False) as counter:
            model.denoiser.denoise_fused(x, t_rows, cond_rows, vis)
        flops = counter.get_total_flops()
        call = timed(lambda: model.denoiser.denoise_fused(x, t_rows, cond_rows, vis), 3)
    rows.append((f"denoiser call (fused, N={b * S} rows): {flops / 1e9:.1f} GFLOP in {call * 1e3:.0f} ms",
                 f"{flops / call / 1e9:.0f} GFLOP/s = {100 * flops / call / peak:.0f}% of matmul"))  # fmt: skip

    base = build_guidance(model, model.cfg.test)
    guidance = TimedGuidance(base.config, model.cfg.schedule, base.body_model, base.scorer, model.x_mean, model.x_std)
    t_guided = timed(lambda: run_fast(model, batch1, "ddpm", "", S, guidance=guidance, generator=g), 1)
    seconds = {"guidance": sum(bound.seconds for bound in guidance.bound)}
    rows.append(("fast DDPM-50 + fuse + guidance, B=1", f"{t_guided:.2f} s/image"))
    rows.append(("guidance share of that time", f"{100 * seconds['guidance'] / t_guided:.0f}% "
                 f"({seconds['guidance']:.2f} s for 11 active steps x {S} samples)"))  # fmt: skip

    # reference with guidance: k guided steps (t = 10, 9, ...) of each sample in turn, guidance per sample;
    # per image = 39 unguided reference steps + 11 guided ones
    guided_plan = list(range(10, 10 - k, -1))

    def ref_k_guided_steps() -> None:
        predict_samples(
            model, batch1, batch1["transl_stage1_pv"], S, sch, guidance=base, noise=noise, mode="reference",
            timesteps=guided_plan,
        )  # fmt: skip

    ref_guided_step = timed(ref_k_guided_steps, 1) / k
    ref_guided = ref_time / k * 39 + ref_guided_step * 11
    rows.append((f"reference DDPM-50 + fuse + guidance, B=1 (timed {k} guided + {k} plain steps, extrapolated)",
                 f"{ref_guided:.1f} s/image"))  # fmt: skip
    rows.append(("speed-up fast vs reference (DDPM-50 + fuse + guidance)", f"{ref_guided / t_guided:.1f}x"))

    print_rows(rows)


if __name__ == "__main__":
    main()
