"""Noise schedules against diffusion.npz (README section 5) and the respacing rules."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from egohmr.diffusion.schedule import (
    NoiseScheduleConfig,
    named_betas,
    noise_schedule,
    schedule_from_betas,
    space_timesteps,
    timesteps,
)

_ARRAYS = (
    "betas", "alphas_cumprod", "alphas_cumprod_prev", "sqrt_alphas_cumprod", "sqrt_one_minus_alphas_cumprod",
    "sqrt_recip_alphas_cumprod", "sqrt_recipm1_alphas_cumprod", "posterior_variance",
    "posterior_log_variance_clipped", "posterior_mean_coef1", "posterior_mean_coef2",
)  # fmt: skip


@pytest.fixture(scope="module")
def fixture(golden):
    return golden("diffusion")


@pytest.mark.parametrize("prefix, spacing", [("base", None), ("ddpm", ""), ("ddim5", "ddim5")])
def test_schedule_arrays_match_official(fixture, prefix, spacing):
    if spacing is None:
        schedule = schedule_from_betas(named_betas("cosine", 50))
    else:
        schedule = noise_schedule(NoiseScheduleConfig(), spacing)
        assert schedule.timestep_map.tolist() == fixture[f"{prefix}_timestep_map"].tolist()
    arrays = schedule.arrays()
    assert sorted(arrays) == sorted(_ARRAYS)
    for name in _ARRAYS:
        expected = torch.from_numpy(fixture[f"{prefix}_{name}"])
        assert arrays[name].dtype == torch.float64
        torch.testing.assert_close(arrays[name], expected, rtol=0, atol=1e-12, msg=f"{prefix}_{name}")


def test_cosine_schedule_landmarks():
    schedule = noise_schedule(NoiseScheduleConfig())
    ac = schedule.alphas_cumprod
    assert schedule.betas[0].item() == pytest.approx(1.75e-3, rel=2e-3)
    for t, value in {0: 0.998, 10: 0.879, 20: 0.617, 30: 0.312, 40: 0.077}.items():
        assert ac[t].item() == pytest.approx(value, abs=1e-3)
    assert ac[49].item() < 1e-5
    assert bool((schedule.betas <= 0.999).all())


def test_spacings():
    assert space_timesteps(50, "") == list(range(50)) == space_timesteps(50, "ddpm")
    assert space_timesteps(50, "ddim5") == [0, 10, 20, 30, 40]
    assert space_timesteps(50, "ddim10") == list(range(0, 50, 5))
    assert space_timesteps(50, "ddim50") == list(range(50))
    assert timesteps("ddim5") == [40, 30, 20, 10, 0]
    assert space_timesteps(50, "10") == [0, 5, 11, 16, 22, 27, 33, 38, 44, 49]
    assert space_timesteps(50, "50") == list(range(50))
    assert space_timesteps(50, "1") == [0]
    for count in range(1, 51):  # any step count with the evenly spread form
        kept = space_timesteps(50, str(count))
        assert len(kept) == count and kept[0] == 0 and kept == sorted(kept)
    assert space_timesteps(10, "2,3") == [0, 4, 5, 7, 9]


@pytest.mark.parametrize("bad", ["ddim11", "ddimx", "abc", "51", "0"])
def test_bad_spacing_raises(bad):
    with pytest.raises(ValueError, match="spacing"):
        space_timesteps(50, bad)


def test_respaced_schedule_keeps_alpha_bar():
    base = noise_schedule(NoiseScheduleConfig())
    spaced = noise_schedule(NoiseScheduleConfig(), "7")
    torch.testing.assert_close(spaced.alphas_cumprod, base.alphas_cumprod[spaced.timestep_map], rtol=1e-11, atol=0)
    assert spaced.num_steps == 7


def test_config_validation_and_frozen():
    with pytest.raises(ValueError, match="schedule"):
        NoiseScheduleConfig(schedule="sigmoid")
    with pytest.raises(ValueError, match="num_train_timesteps"):
        NoiseScheduleConfig(num_train_timesteps=0)
    cfg = NoiseScheduleConfig()
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.num_train_timesteps = 10  # type: ignore[misc]
    linear = noise_schedule(NoiseScheduleConfig(schedule="linear", num_train_timesteps=1000))
    np.testing.assert_allclose(linear.betas[[0, -1]].numpy(), [1e-4, 0.02])
