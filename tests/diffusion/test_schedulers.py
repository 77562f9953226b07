"""DDPM / DDIM steps, q_sample and the guidance mean update against diffusion.npz (README section 5).

Note on the `_f64` references: the official float64 run was fed float64 inputs whose float32 roundings are the stored
`x_t`, `pred_x0`, `noise`, `q_x_start` (e.g. `ddpm_mean_f64` at t = 0 equals a pred_x0 that differs from the stored
one by up to 9e-8). So the f64 arrays are matched to 5e-7 only; the float32 references are matched to 1e-7 (observed:
bit-identical), which pins the float32 coefficient casting.
"""

from __future__ import annotations

import pytest
import torch

from egohmr.constants import LOWER_BODY_JOINTS
from egohmr.diffusion.guidance_step import guidance_joint_weights, weight_guidance_gradient
from egohmr.diffusion.schedule import NoiseScheduleConfig
from egohmr.diffusion.schedulers import DDIMScheduler, DDPMScheduler, build_scheduler

_TOL = {torch.float32: 1e-7, torch.float64: 5e-7}


@pytest.fixture(scope="module")
def fixture(golden):
    return golden("diffusion")


def _t(fixture, name, dtype=None):
    x = torch.from_numpy(fixture[name])
    return x if dtype is None else x.to(dtype)


def _close(actual, expected, atol):
    torch.testing.assert_close(actual, expected.to(actual.dtype), rtol=0, atol=atol)


@pytest.mark.parametrize("dtype, suffix", [(torch.float32, "f32"), (torch.float64, "f64")])
def test_q_sample_and_ddpm_step(fixture, dtype, suffix):
    sched = DDPMScheduler(NoiseScheduleConfig(), "")
    t = _t(fixture, "t_ddpm")
    q = sched.q_sample(_t(fixture, "q_x_start", dtype), t, _t(fixture, "noise", dtype))
    _close(q, _t(fixture, f"q_sample_{suffix}"), _TOL[dtype])
    out = sched.step(_t(fixture, "pred_x0", dtype), t, _t(fixture, "x_t", dtype), noise=_t(fixture, "noise", dtype))
    assert out.prev_sample.dtype == dtype and out.prev_sample.shape == (3, 144)
    _close(out.mean, _t(fixture, f"ddpm_mean_{suffix}"), _TOL[dtype])
    _close(out.prev_sample, _t(fixture, f"ddpm_sample_{suffix}"), _TOL[dtype])
    log_var = sched.posterior_log_variance(t, out.mean).expand(3, 144)
    assert log_var.dtype == torch.float32  # official: float32 even in the float64 run
    torch.testing.assert_close(log_var, _t(fixture, f"ddpm_log_variance_{suffix}"), rtol=0, atol=0)
    assert sched.model_timestep(t).tolist() == fixture["ddpm_model_t_seen"].tolist()
    # no noise at t = 0
    torch.testing.assert_close(out.prev_sample[2], out.mean[2])


@pytest.mark.parametrize("dtype, suffix", [(torch.float32, "f32"), (torch.float64, "f64")])
def test_ddim5_step(fixture, dtype, suffix):
    sched = DDIMScheduler(NoiseScheduleConfig(), "ddim5", eta=0.0)
    t = _t(fixture, "t_ddim_respaced")
    out = sched.step(_t(fixture, "pred_x0", dtype), t, _t(fixture, "x_t", dtype))
    _close(out.prev_sample, _t(fixture, f"ddim_sample_{suffix}"), _TOL[dtype])
    assert sched.model_timestep(t).tolist() == fixture["ddim_model_t_seen"].tolist()
    assert sched.timesteps().tolist() == [40, 30, 20, 10, 0]
    assert list(sched.steps()) == [(4, 40), (3, 30), (2, 20), (1, 10), (0, 0)]
    assert torch.count_nonzero(out.variance) == 0


def test_coef_dtype_option_changes_float64_results(fixture):
    x0 = _t(fixture, "pred_x0", torch.float64)
    x_t = _t(fixture, "x_t", torch.float64)
    t = _t(fixture, "t_ddpm")
    official = DDPMScheduler(NoiseScheduleConfig(), "").step(x0, t, x_t, noise=torch.zeros_like(x0)).mean
    exact = DDPMScheduler(NoiseScheduleConfig(coef_dtype="float64"), "").step(x0, t, x_t, noise=torch.zeros_like(x0))
    diff = (official - exact.mean).abs().max().item()
    assert 1e-10 < diff < 1e-6
    schedule = DDPMScheduler(NoiseScheduleConfig(coef_dtype="float64"), "").schedule
    c1 = schedule.posterior_mean_coef1[t].reshape(3, 1)
    c2 = schedule.posterior_mean_coef2[t].reshape(3, 1)
    torch.testing.assert_close(exact.mean, c1 * x0 + c2 * x_t, rtol=0, atol=1e-15)


def test_ddpm_scalar_index_generator_and_shapes():
    sched = DDPMScheduler(NoiseScheduleConfig(coef_dtype="float64"))
    gen = torch.Generator().manual_seed(0)
    x_t = torch.randn(4, 144, generator=gen, dtype=torch.float64)
    x0 = torch.randn(4, 144, generator=gen, dtype=torch.float64)
    a = sched.step(x0, 30, x_t, generator=torch.Generator().manual_seed(5))
    b = sched.step(x0, torch.full((4,), 30), x_t, generator=torch.Generator().manual_seed(5))
    torch.testing.assert_close(a.prev_sample, b.prev_sample)
    noise = torch.randn(x_t.shape, generator=torch.Generator().manual_seed(5), dtype=torch.float64)
    std = sched.schedule.posterior_variance[30].sqrt()
    torch.testing.assert_close(a.prev_sample, a.mean + std * noise, rtol=1e-12, atol=1e-12)
    with pytest.raises(ValueError, match="t_index 50"):
        sched.step(x0, 50, x_t)
    with pytest.raises(ValueError, match="noise shape"):
        sched.step(x0, 3, x_t, noise=torch.zeros(2, 144))


def test_ddim_eta_one_matches_ddpm_variance_and_x0_fixed_point():
    cfg = NoiseScheduleConfig(coef_dtype="float64")
    ddim = DDIMScheduler(cfg, "ddim10", eta=1.0)
    ddpm = DDPMScheduler(cfg, "ddim10")  # DDPM on the same respaced schedule
    gen = torch.Generator().manual_seed(1)
    x_t = torch.randn(2, 144, generator=gen, dtype=torch.float64)
    x0 = torch.randn(2, 144, generator=gen, dtype=torch.float64)
    for t_index in (9, 4, 1):
        a, b = ddim.step(x0, t_index, x_t, noise=torch.zeros_like(x_t)), ddpm.step(x0, t_index, x_t)
        torch.testing.assert_close(a.variance, b.variance, rtol=1e-10, atol=0)  # eta = 1: sigma^2 = beta~
        torch.testing.assert_close(a.mean, b.mean, rtol=1e-10, atol=1e-12)  # ... and the same mean
    # a perfect x0 prediction on a noiseless trajectory is a fixed point of deterministic DDIM
    ddim0 = DDIMScheduler(cfg, "ddim5")
    eps = torch.randn(2, 144, generator=gen, dtype=torch.float64)
    x_40 = ddim0.q_sample(x0, 4, eps)
    x_30 = ddim0.step(x0, 4, x_40).prev_sample
    torch.testing.assert_close(x_30, ddim0.q_sample(x0, 3, eps), rtol=1e-12, atol=1e-12)
    with pytest.raises(ValueError, match="eta"):
        DDIMScheduler(cfg, "ddim5", eta=-0.1)


def test_build_scheduler():
    cfg = NoiseScheduleConfig()
    assert isinstance(build_scheduler(cfg, "ddpm"), DDPMScheduler)
    ddim = build_scheduler(cfg, "ddim", "")
    assert isinstance(ddim, DDIMScheduler) and ddim.num_steps == 5
    assert build_scheduler(cfg, "ddim", "10").num_steps == 10
    with pytest.raises(ValueError, match="sampler"):
        build_scheduler(cfg, "euler")


def test_guidance_joint_weights():
    w = guidance_joint_weights()
    assert w.tolist() == [0, 1, 1, 0, 2, 2, 0, 2, 2, 0, 2, 2] + [0] * 12
    assert set(torch.nonzero(w).flatten().tolist()) == set(LOWER_BODY_JOINTS)


@pytest.mark.parametrize("t", [10, 7, 4, 0])
def test_guidance_step_parts_match_official(fixture, t):
    """Weighted gradient, the step's mean and variance, and the noise added to the guided mean (the mean update
    itself is checked against the same fixture in tests/diffusion/test_guidance.py)."""
    p = f"guid_t{t}_"
    g_weighted = weight_guidance_gradient(_t(fixture, p + "g_raw"))
    torch.testing.assert_close(g_weighted, _t(fixture, p + "g_weighted"), rtol=0, atol=0)
    sched = DDPMScheduler(NoiseScheduleConfig(), "")
    noise = _t(fixture, "noise")
    out = sched.step(_t(fixture, "pred_x0"), t, _t(fixture, "x_t"), noise=noise)
    _close(out.mean, _t(fixture, p + "mean_before"), 1e-7)
    _close(out.variance, _t(fixture, p + "variance"), 0.0)
    _close(sched.add_step_noise(_t(fixture, p + "mean_after"), t, noise=noise), _t(fixture, p + "sample"), 1e-7)


def test_weight_guidance_gradient_checks_its_shape():
    with pytest.raises(ValueError, match="144"):
        weight_guidance_gradient(torch.zeros(2, 72))
