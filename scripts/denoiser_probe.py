"""How much does a trained stage-2 denoiser follow its noisy input x_t? (a diagnostic, not part of the tests)

For a few frames of a split, noise the GT pose to x_t at several timesteps t (two independent noises a and b),
predict x̂0 and decode both to pelvis-aligned joints. Printed per t, in mm (mean joint distance):

* input-vs-gt: the noisy input itself, decoded;
* pred-vs-gt: the prediction;
* pred_a-vs-pred_b against input_a-vs-input_b: how much the prediction moves when the input moves.

A denoiser that has learnt to denoise predicts nearly the input at small t (pred-vs-gt close to input-vs-gt, and
pred_a-vs-pred_b close to input_a-vs-input_b). One that ignores x_t (a regressor from the condition) gives samples
without diversity, and collision guidance, which moves x_t, cannot change its output in the official return mode.

    python scripts/denoiser_probe.py RUN/best.pt --dataset DATA --scene-dir DATA/scene_s2_train --split val
"""

from __future__ import annotations

import argparse

import torch
from torch.utils.data import DataLoader, Subset

from egohmr.data.dataset import EgoBodyDataOptions, EgoBodyDataset
from egohmr.stage2 import checkpoint as stage2_checkpoint


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkpoint")
    parser.add_argument("--dataset", required=True, help="EgoBody root")
    parser.add_argument("--scene-dir", required=True, help="stage-2 cubes around the GT body (scene-s2-train)")
    parser.add_argument("--split", default="val", choices=("train", "val", "test"))
    parser.add_argument("--frames", type=int, default=10, help="frames, spread evenly over the split")
    args = parser.parse_args()
    model, cfg = stage2_checkpoint.load(args.checkpoint)
    model.eval()
    dataset = EgoBodyDataset(
        EgoBodyDataOptions(
            root=args.dataset,
            split=args.split,
            stage=2,
            scene_dir=args.scene_dir,
            num_scene_points=cfg.data.num_scene_points_file,
            pelvis_vis_loosen=cfg.data.pelvis_vis_loosen_test,
            load_images=True,
        )
    )
    rows = torch.linspace(0, len(dataset) - 1, args.frames).long().tolist()
    batch = next(iter(DataLoader(Subset(dataset, rows), batch_size=len(rows))))
    body = model.bodies()["neutral"]
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        cond, betas = model.encode(batch, batch["transl_pv"])

        def joints(x: torch.Tensor) -> torch.Tensor:
            rotmat, _ = model.decode(x)
            j = body(betas, rotmat[:, 0], rotmat[:, 1:]).joints
            return j - j[:, :1]

        def mm(a: torch.Tensor, b: torch.Tensor) -> float:
            return float((a - b).norm(dim=-1).mean() * 1000)

        x0 = model.encode_gt_pose(batch["global_orient_rotmat_pv"], batch["body_pose_rotmat"])
        gt = joints(x0)
        image_on = torch.ones(len(rows), dtype=torch.bool)
        print("   t  input-vs-gt  pred-vs-gt  input_a-vs-input_b  pred_a-vs-pred_b   (mm)")
        for t in (0, 1, 2, 5, 10, 20, 40):
            steps = torch.full((len(rows),), t)
            noises = [torch.randn(x0.shape, generator=generator) for _ in "ab"]
            inputs = [model.train_scheduler.q_sample(x0, steps, noise) for noise in noises]
            preds = [joints(model.denoiser.denoise(x, steps, cond, batch["vis_smpl24"], image_on)) for x in inputs]
            decoded = [joints(x) for x in inputs]
            print(f"{t:4d} {mm(decoded[0], gt):12.1f} {mm(preds[0], gt):11.1f} {mm(*decoded):19.1f} {mm(*preds):17.1f}")


if __name__ == "__main__":
    main()
