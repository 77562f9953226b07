"""Benchmark of stage 1: training samples/s and test images/s for both presets, and where the time goes.

For each preset (`official`, `cpu`) and each device present, with random weights and random inputs of the preset's
sizes (224 px crops, the preset's number of scene points, random 240-vertex body models so the body-model cost is
small and the same for both; the real open-lowres body would add a little):

* train: one `training_step` + backward + AdamW step (cached image features when the preset caches them);
* test: `forward` with the preset's `num_test_samples`, image backbone included (no cache at test time);
* shares: the backbone, the PointNet and the flow + head timed alone (forward + backward for training, forward for
  testing); "other" is the rest (body model, losses, optimizer, context assembly);
* floor: the PointNet's multiply-adds per image against the machine's measured matmul rate (a GEMM of the PointNet's
  own shape), i.e. how close its forward pass is to the fastest this CPU can do in fp32.

Not part of the test run::

    python benchmarks/bm_stage1.py [--repeats 3] [--official-batch 2]
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository root, for the test fixtures

from egohmr.stage1.config import load_stage1_config  # noqa: E402
from egohmr.stage1.model import ProHMRScene  # noqa: E402
from tests.body import random_body_model  # noqa: E402
from tests.stage1.helpers import random_batch  # noqa: E402


def median_s(fn, repeats: int) -> float:
    fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        times.append(time.perf_counter() - t0)
    return float(np.median(times))


def make(preset: str, device: str) -> tuple[ProHMRScene, object]:
    cfg = load_stage1_config(preset)
    model_cfg = dataclasses.replace(cfg.model, backbone_pretrained=False)
    torch.manual_seed(0)
    model = ProHMRScene(model_cfg, cfg.loss)
    rng = np.random.default_rng(0)
    model.attach_body_models(*(random_body_model(rng) for _ in range(3)))
    return model.to(device), cfg


def batch_for(cfg, batch_size: int, device: str, cached: bool) -> dict[str, torch.Tensor]:
    b = random_batch(batch_size, num_points=cfg.model.num_scene_points, image=not cached)
    if not cached:
        b["img_crop"] = torch.randn(batch_size, 3, cfg.model.image_size_px, cfg.model.image_size_px)
    else:
        b["img_feat"] = torch.rand(batch_size, cfg.model.img_feat_dim)
    return {k: v.to(device) for k, v in b.items()}


def pointnet_gflop(num_points: int, hidden: int, num_blocks: int) -> float:
    """Forward GFLOP of one cloud (2 per multiply-add): the lift, block 0 on 2H-wide input, the later blocks on their
    per-point H-wide half (the pooled half is once per cloud, `ResnetBlockFC.forward_with_pooled`)."""
    lift = 3 * 2 * hidden
    first = 2 * hidden * hidden + hidden * hidden + 2 * hidden * hidden
    later = 3 * hidden * hidden
    return 2 * num_points * (lift + first + (num_blocks - 1) * later) / 1e9


def matmul_gflops(rows: int, inner: int, cols: int, device: str, repeats: int) -> float:
    """Measured fp32 GFLOP/s of a (rows x inner) @ (inner x cols) product."""
    a, b = torch.randn(rows, inner, device=device), torch.randn(inner, cols, device=device)
    return 2 * rows * inner * cols / 1e9 / median_s(lambda: a @ b, repeats)


def print_floor(cfg, device: str, seconds: float, repeats: int) -> None:
    enc = cfg.model
    gflop = pointnet_gflop(enc.num_scene_points, enc.scene_hidden_dim, 4)
    rate = matmul_gflops(enc.num_scene_points, enc.scene_hidden_dim, enc.scene_hidden_dim, device, repeats)
    print(
        f"{'':<9} {'':<22} {'':<5} {'':<13} floor pointnet {gflop:5.1f} GFLOP/image: {1000 * seconds:7.1f} ms = "
        f"{gflop / seconds:6.1f} GFLOP/s, {100 * gflop / seconds / rate:3.0f}% of the measured matmul rate "
        f"({rate:.0f} GFLOP/s; floor {1000 * gflop / rate:.1f} ms)"
    )


def bench(preset: str, device: str, batch_size: int, repeats: int) -> None:
    model, cfg = make(preset, device)
    cached = cfg.model.cached_features
    train_batch = batch_for(cfg, batch_size, device, cached)
    test_batch = batch_for(cfg, batch_size, device, False)
    model.on_train_start(train_batch)
    opt = torch.optim.AdamW([p for g in model.parameter_groups() for p in g["params"]], lr=1e-5)

    def train_step() -> None:
        out = model.training_step(train_batch, 0)
        out["loss"].backward()
        opt.step()
        opt.zero_grad(set_to_none=True)

    model.train()
    t_train = median_s(train_step, repeats)
    with torch.no_grad():
        ctx = model.context(test_batch)
    img = test_batch["img_crop"]
    pts = train_batch["scene_points_pv"]
    gt6 = torch.randn(batch_size, 144, device=device)

    def backbone_train() -> None:
        if cached or cfg.model.freeze_backbone:
            return
        model.backbone(img).sum().backward()

    def pointnet_train() -> None:
        model.scene_enc(pts).sum().backward()

    def flow_train() -> None:
        c = ctx.detach().requires_grad_(False)
        lp = model.flow.log_prob(gt6, c).sum()
        s = model.flow.sample(c, cfg.model.num_train_samples)
        (lp + s.pose_6d.sum() + s.betas.sum()).backward()

    parts_train = {
        n: median_s(f, repeats)
        for n, f in (("backbone", backbone_train), ("pointnet", pointnet_train), ("flow", flow_train))
    }
    model.zero_grad(set_to_none=True)
    model.eval()
    s_test = cfg.model.num_test_samples

    def test_step() -> None:
        with torch.no_grad():
            model(test_batch, s_test)

    t_test = median_s(test_step, repeats)
    with torch.no_grad():
        parts_test = {
            "backbone": median_s(lambda: model.backbone(img), repeats),
            "pointnet": median_s(lambda: model.scene_enc(pts), repeats),
            "flow": median_s(lambda: model.flow.sample(ctx, s_test), repeats),
        }

    def shares(parts: dict[str, float], total: float) -> str:
        text = " ".join(f"{k} {100 * v / total:4.0f}%" for k, v in parts.items())
        return f"{text} other {100 * max(total - sum(parts.values()), 0.0) / total:4.0f}%"

    note = ", cached features" if cached else ""
    name = torch.cuda.get_device_name() if device == "cuda" else f"cpu ({torch.get_num_threads()} threads)"
    print(
        f"{preset:<9} {name:<22} B={batch_size:<3} points={cfg.model.num_scene_points:<6} "
        f"train {batch_size / t_train:7.2f} samples/s ({1000 * t_train:8.1f} ms/step{note}) | "
        f"{shares(parts_train, t_train)}"
    )
    print(
        f"{'':<9} {'':<22} {'':<5} {'':<13} test  {batch_size / t_test:7.2f} images/s  ({1000 * t_test:8.1f} ms/batch, "
        f"S={s_test}) | {shares(parts_test, t_test)}"
    )
    print_floor(cfg, device, parts_test["pointnet"] / batch_size, repeats)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--official-batch", type=int, default=2, help="batch of the official preset (16 in training)")
    parser.add_argument("--cpu-batch", type=int, default=32, help="batch of the cpu preset")
    parser.add_argument("--presets", nargs="+", default=["cpu", "official"])
    args = parser.parse_args()
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    for device in devices:
        for preset in args.presets:
            batch = args.official_batch if preset == "official" else args.cpu_batch
            if device == "cuda" and preset == "official":
                batch = 16
            bench(preset, device, batch, args.repeats)


if __name__ == "__main__":
    main()
