"""Fast batched sampling equals the official-style reference computation; return modes; shapes."""

from __future__ import annotations

import pytest
import torch

from egohmr.diffusion.sampling import draw_noise
from egohmr.diffusion.schedulers import build_scheduler
from egohmr.stage2.pipeline import build_guidance, predict_samples
from tests.stage2.helpers import synthetic_batch, tiny_model


@pytest.fixture(scope="module")
def setup():
    model = tiny_model().double().eval()
    batch = {k: (v.double() if v.is_floating_point() else v) for k, v in synthetic_batch(3, num_points=400).items()}
    # put scene points around the stage-1 pelvis so that guidance has something to push against
    batch["scene_points_pv"][:, :200] = batch["transl_stage1_pv"][:, None] + 0.1 * torch.randn(3, 200, 3).double()
    return model, batch


@pytest.mark.parametrize(
    ("sampler", "spacing", "fuse", "guided"),
    [("ddpm", "10", True, True), ("ddpm", "10", False, False), ("ddim", "ddim5", True, True)],
)
def test_fast_equals_reference_with_the_same_noise(setup, sampler, spacing, fuse, guided):
    model, batch = setup
    scheduler = build_scheduler(model.cfg.schedule, sampler, spacing)
    num_samples = 4
    noise = draw_noise(scheduler.num_steps, (3 * num_samples, 144), torch.Generator().manual_seed(0), torch.float64)
    guidance = build_guidance(model, model.cfg.test) if guided else None
    kwargs = dict(fuse=fuse, guidance=guidance, noise=noise)
    fast = predict_samples(model, batch, batch["transl_stage1_pv"], num_samples, scheduler, **kwargs)
    ref = predict_samples(model, batch, batch["transl_stage1_pv"], num_samples, scheduler, mode="reference", **kwargs)
    assert fast.global_orient_rotmat.shape == (3, num_samples, 3, 3)
    assert fast.body_pose_rotmat.shape == (3, num_samples, 23, 3, 3)
    assert fast.betas.shape == (3, num_samples, 10)
    torch.testing.assert_close(fast.x0, ref.x0, rtol=0, atol=1e-10)
    torch.testing.assert_close(fast.betas, ref.betas, rtol=0, atol=1e-12)
    assert not torch.allclose(fast.x0[:, 0], fast.x0[:, 1])  # samples differ


def _two_samples_ddpm10(model, batch, seed: int):
    """Positional `predict_samples` arguments for 2 samples per image with DDPM-10, and pre-drawn noise."""
    scheduler = build_scheduler(model.cfg.schedule, "ddpm", "10")
    noise = draw_noise(scheduler.num_steps, (6, 144), torch.Generator().manual_seed(seed), torch.float64)
    return (model, batch, batch["transl_stage1_pv"], 2, scheduler), noise


def test_guidance_changes_the_samples_and_return_modes_differ(setup):
    model, batch = setup
    args, noise = _two_samples_ddpm10(model, batch, seed=1)
    plain = predict_samples(*args, noise=noise)
    guided = predict_samples(*args, noise=noise, guidance=build_guidance(model, model.cfg.test))
    final = predict_samples(*args, noise=noise, guidance=build_guidance(model, model.cfg.test), return_mode="final")
    assert not torch.allclose(plain.x0, guided.x0)
    assert not torch.allclose(guided.x0, final.x0)


def test_sampling_needs_eval_mode():
    model = tiny_model()
    batch = synthetic_batch(1)
    with pytest.raises(ValueError, match="eval"):
        predict_samples(model, batch, batch["transl_pv"], 1, build_scheduler(model.cfg.schedule, "ddim", "ddim5"))


def test_visible_noise_scale_acts_on_visible_joints_in_both_modes(setup):
    model, batch = setup
    args, noise = _two_samples_ddpm10(model, batch, seed=2)
    full = predict_samples(*args, noise=noise)
    half = predict_samples(*args, noise=noise, visible_noise_scale=0.5)
    half_ref = predict_samples(*args, noise=noise, visible_noise_scale=0.5, mode="reference")
    torch.testing.assert_close(half.x0, half_ref.x0, rtol=0, atol=1e-10)
    assert not torch.allclose(full.x0, half.x0)
    # every joint visible and no noise on them: the chain is deterministic, both samples of an image are equal
    all_visible = dict(batch, vis_smpl24=torch.ones_like(batch["vis_smpl24"]))
    args, _ = _two_samples_ddpm10(model, all_visible, seed=2)
    still = predict_samples(*args, noise=noise, visible_noise_scale=0.0).x0
    torch.testing.assert_close(still[:, 0], still[:, 1], rtol=0, atol=1e-12)
    spread = predict_samples(*args, noise=noise).x0
    assert not torch.allclose(spread[:, 0], spread[:, 1])


def test_visible_noise_scale_is_checked():
    from egohmr.stage2.config import Stage2Config, Stage2TestConfig

    with pytest.raises(ValueError, match="visible_noise_scale"):
        Stage2Config(test=Stage2TestConfig(visible_noise_scale=1.5))
