"""Stage-2 noise drawn per frame: a frame's noise depends on the seed and its key only."""

from __future__ import annotations

import torch

from egohmr.diffusion.schedule import NoiseScheduleConfig
from egohmr.diffusion.schedulers import build_scheduler
from egohmr.stage2.pipeline import draw_frame_noise


def test_a_frames_noise_does_not_depend_on_its_batch():
    scheduler = build_scheduler(NoiseScheduleConfig(), "ddim", "ddim5")
    batch = draw_frame_noise(0, ["a_frame_00001", "b_frame_00002"], 3, scheduler)
    alone = draw_frame_noise(0, ["b_frame_00002"], 3, scheduler)
    assert batch.x_init.shape == (6, 144) and batch.steps.shape == (5, 6, 144)
    torch.testing.assert_close(batch.rows(slice(3, 6)).x_init, alone.x_init, rtol=0, atol=0)
    torch.testing.assert_close(batch.rows(slice(3, 6)).steps, alone.steps, rtol=0, atol=0)
    other_seed = draw_frame_noise(1, ["b_frame_00002"], 3, scheduler)
    assert not torch.allclose(other_seed.x_init, alone.x_init)
    assert not torch.allclose(batch.x_init[:3], batch.x_init[3:])  # two frames, two streams
