"""Stage 2 through the shared training engine: two CPU steps, validation, checkpoint round trip."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from egohmr.diffusion.schedule import NoiseScheduleConfig
from egohmr.stage2 import checkpoint
from egohmr.stage2.model import CHECKPOINT_KIND
from egohmr.train import train
from tests.stage2.helpers import synthetic_batch, tiny_config, tiny_model


@pytest.mark.parametrize("prediction", ["x0", "v"])
def test_two_steps_with_validation_and_checkpoint_round_trip(tmp_path, prediction):
    cfg = tiny_config(penetration_start_step=1)
    cfg = dataclasses.replace(
        cfg,
        schedule=NoiseScheduleConfig(prediction=prediction),
        train=dataclasses.replace(
            cfg.train, max_steps=2, batch_size=2, num_workers=0, val_every_steps=2, val_subsample=1,
            ckpt_every_steps=2, log_every_steps=1, device="cpu", progress_bar=False, tensorboard=False,
            out_dir=tmp_path / "run",
        ),
    )  # fmt: skip
    batch = synthetic_batch(batch_size=4)
    items = [{k: v[i] for k, v in batch.items()} for i in range(4)]
    model = tiny_model(cfg)
    result = train(model, items, items[:2], cfg.train, kind=CHECKPOINT_KIND, full_config=cfg)
    assert result.step == 2 and result.best_checkpoint is not None
    assert "mpjpe_vis_mm" in result.val_metrics
    loaded, loaded_cfg = checkpoint.load(result.last_checkpoint)
    assert loaded_cfg.model == cfg.model and loaded_cfg.schedule == cfg.schedule
    model.eval()
    loaded.eval()
    assert torch.equal(loaded.x_std, model.x_std)
    x = torch.randn(4, 144)
    t = torch.tensor([0, 5, 20, 49])
    with torch.no_grad():
        cond, _ = model.encode(batch, batch["transl_pv"])
        cond2, _ = loaded.encode(batch, batch["transl_pv"])
        a = model.denoiser.denoise_fused(x, t, cond, batch["vis_smpl24"])
        b = loaded.denoiser.denoise_fused(x, t, cond2, batch["vis_smpl24"])
    torch.testing.assert_close(a, b)
