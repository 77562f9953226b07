"""What the denoiser's GCN outputs (``schedule.prediction``): x0 (official) or v, always returned as x̂0."""

from __future__ import annotations

import pytest
import torch

from egohmr.diffusion.schedule import NoiseScheduleConfig, noise_schedule
from egohmr.diffusion.schedulers import DDPMScheduler
from egohmr.models.denoiser import PoseDenoiser

ALPHAS_CUMPROD = noise_schedule(NoiseScheduleConfig()).alphas_cumprod  # (50,) official cosine schedule


def _denoiser(prediction: str, seed: int = 0) -> PoseDenoiser:
    torch.manual_seed(seed)
    net = PoseDenoiser(
        img_dim=40, scene_dim=12, transl_dim=8, latent_dim=16, gcn_hidden=24, gcn_blocks=1,
        prediction=prediction, alphas_cumprod=ALPHAS_CUMPROD,
    )  # fmt: skip
    return net.double().eval()


def _condition(net: PoseDenoiser, rows: int, gen: torch.Generator):
    return net.encode_condition(
        torch.rand(rows, 40, generator=gen, dtype=torch.float64),
        torch.randn(rows, 12, generator=gen, dtype=torch.float64),
        torch.randn(rows, 3, generator=gen, dtype=torch.float64),
        torch.rand(rows, 6, generator=gen, dtype=torch.float64),
    )


def test_true_velocity_gives_back_x0():
    net = _denoiser("v")
    gen = torch.Generator().manual_seed(0)
    x0 = torch.randn(50, 144, generator=gen, dtype=torch.float64)
    eps = torch.randn(50, 144, generator=gen, dtype=torch.float64)
    t = torch.arange(50)
    x_t = DDPMScheduler(NoiseScheduleConfig(coef_dtype="float64")).q_sample(x0, t, eps)
    a = ALPHAS_CUMPROD[t].reshape(-1, 1)
    v = a.sqrt() * eps - (1 - a).sqrt() * x0
    x0_hat = net.to_x0(x_t, t, v.reshape(50, 24, 6))
    # the coefficients are stored in float32 (1e-7 relative), like every schedule value the official code uses
    torch.testing.assert_close(x0_hat.reshape(50, 144), x0, rtol=0, atol=1e-5)


def test_x0_prediction_is_the_raw_network_output():
    net = _denoiser("x0")
    gen = torch.Generator().manual_seed(1)
    cond = _condition(net, 3, gen)
    x_t, t = torch.randn(3, 144, generator=gen, dtype=torch.float64), torch.tensor([0, 7, 49])
    vis = torch.ones(3, 24, dtype=torch.bool)
    with torch.no_grad():
        assert torch.equal(net.denoise(x_t, t, cond, vis), net.denoise_trace(x_t, t, cond, vis).output)


def test_velocity_model_follows_x_t_at_low_noise_and_not_at_high_noise():
    """At t = 0 the prediction moves with x_t almost one to one; at t = T-1 only through the network."""
    net = _denoiser("v")
    gen = torch.Generator().manual_seed(2)
    cond = _condition(net, 4, gen).repeat_interleave(2)
    x_t = torch.randn(8, 144, generator=gen, dtype=torch.float64)
    vis = torch.ones(8, 24, dtype=torch.bool)
    with torch.no_grad():
        for t, lo, hi in ((0, 0.9, 1.1), (49, 0.0, 0.5)):
            steps = torch.full((8,), t)
            pred = net.denoise(x_t, steps, cond, vis).reshape(4, 2, 144)
            pairs = x_t.reshape(4, 2, 144)
            moved = (pred[:, 0] - pred[:, 1]).norm() / (pairs[:, 0] - pairs[:, 1]).norm()
            assert lo < float(moved) < hi, (t, float(moved))


def test_velocity_fast_path_equals_reference():
    net = _denoiser("v")
    gen = torch.Generator().manual_seed(3)
    rows = _condition(net, 2, gen).repeat_interleave(3)
    x_t = torch.randn(6, 144, generator=gen, dtype=torch.float64)
    t = torch.randint(0, 50, (6,), generator=gen)
    vis = torch.rand(6, 24, generator=gen) > 0.3
    image_mask = torch.tensor([True, False, True, True, True, False])
    with torch.no_grad():
        fast = net.denoise(x_t, t, rows, vis, image_mask)
        torch.testing.assert_close(fast, net.denoise_reference(x_t, t, rows, vis, image_mask), rtol=0, atol=1e-12)
        fused = net.denoise_fused(x_t, t, rows, vis)
        torch.testing.assert_close(fused, net.denoise_fused_reference(x_t, t, rows, vis), rtol=0, atol=1e-12)


def test_bad_prediction_settings_raise():
    with pytest.raises(ValueError, match="alphas_cumprod"):
        PoseDenoiser(img_dim=8, scene_dim=8, transl_dim=8, latent_dim=8, gcn_hidden=8, gcn_blocks=1, prediction="v")
    with pytest.raises(ValueError, match="prediction"):
        PoseDenoiser(img_dim=8, scene_dim=8, transl_dim=8, latent_dim=8, gcn_hidden=8, gcn_blocks=1, prediction="eps")
    with pytest.raises(ValueError, match="prediction"):
        NoiseScheduleConfig(prediction="eps")
