"""Sampling settings of the pipeline: the demo preset, user overrides, and the pipeline's defaults."""

from __future__ import annotations

import dataclasses

import pytest

from egohmr.diffusion.guidance import GuidanceConfig
from egohmr.diffusion.schedule import NoiseScheduleConfig
from egohmr.pipeline.sampling import SamplingOverrides, demo_preset, num_sampling_steps
from egohmr.stage2.config import FAST_GUIDANCE_GAIN, FAST_SPACING, Stage2TestConfig, fast_sampling

SCHEDULE = NoiseScheduleConfig()


def test_demo_preset_fixes_the_demo_choices_and_keeps_the_checkpoint_rest():
    checkpoint = Stage2TestConfig(
        sampler="ddim",
        spacing="ddim5",
        num_samples=1,
        diffuse_fuse=False,
        guidance=GuidanceConfig(enabled=False, weight=7.0, max_timestep=4),
        visible_noise_scale=0.5,
        return_mode="final",
        mode="reference",
        batch_size=3,
        seed=9,
    )
    preset = demo_preset(checkpoint)
    assert (preset.num_samples, preset.sampler, preset.spacing, preset.diffuse_fuse) == (5, "ddpm", "", True)
    assert (preset.return_mode, preset.mode, preset.seed) == ("official", "fast", 0)
    assert preset.guidance == GuidanceConfig(enabled=True, weight=7.0, max_timestep=4)
    assert (preset.visible_noise_scale, preset.batch_size) == (0.5, 3)
    assert num_sampling_steps(preset, SCHEDULE) == 50


def test_overrides_none_keeps_and_values_replace():
    base = demo_preset(Stage2TestConfig())
    assert SamplingOverrides().apply(base, SCHEDULE) == base
    changed = SamplingOverrides(num_samples=2, sampler="ddim", steps=5, fuse=False, guidance=False, seed=4).apply(
        base, SCHEDULE
    )
    expected = dataclasses.replace(
        base,
        num_samples=2,
        sampler="ddim",
        spacing="ddim5",
        diffuse_fuse=False,
        guidance=dataclasses.replace(base.guidance, enabled=False),
        seed=4,
    )
    assert changed == expected
    assert num_sampling_steps(changed, SCHEDULE) == 5
    spaced = SamplingOverrides(sampler="ddim", spacing="5,1,1,1,1", eta=1.0).apply(base, SCHEDULE)
    assert (spaced.sampler, spaced.spacing, spaced.eta) == ("ddim", "5,1,1,1,1", 1.0)
    assert num_sampling_steps(spaced, SCHEDULE) == 9


def test_fast_setting_swaps_the_sampler_and_keeps_the_rest():
    base = demo_preset(Stage2TestConfig(guidance=GuidanceConfig(enabled=False, weight=12.0), visible_noise_scale=0.5))
    fast = SamplingOverrides(fast=True).apply(base, SCHEDULE)
    assert fast == fast_sampling(base)
    assert (fast.sampler, fast.spacing, fast.eta, fast.diffuse_fuse) == ("ddim", FAST_SPACING, 1.0, True)
    assert fast.guidance == GuidanceConfig(enabled=True, weight=12.0 * FAST_GUIDANCE_GAIN)
    assert (fast.num_samples, fast.visible_noise_scale, fast.seed) == (base.num_samples, 0.5, base.seed)
    assert num_sampling_steps(fast, SCHEDULE) == 10
    # the user's other choices apply on top of the fast setting, a sampler change keeping its ten steps
    on_top = SamplingOverrides(fast=True, num_samples=2, guidance=False, eta=0.5, sampler="ddpm").apply(base, SCHEDULE)
    assert (on_top.num_samples, on_top.guidance.enabled, on_top.eta, on_top.sampler) == (2, False, 0.5, "ddpm")
    assert num_sampling_steps(on_top, SCHEDULE) == 10


def test_fast_setting_refuses_a_schedule_too_short_for_its_steps():
    with pytest.raises(ValueError, match="timestep spacing '5,2,1,1,1'"):
        SamplingOverrides(fast=True).apply(demo_preset(Stage2TestConfig()), NoiseScheduleConfig(num_train_timesteps=10))


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (SamplingOverrides(num_samples=0), "num_samples must be >= 1"),
        (SamplingOverrides(sampler="euler"), "sampler must be 'ddpm' or 'ddim'"),  # type: ignore[arg-type]
        (SamplingOverrides(steps=51), "--steps must be in 1..50"),
        (SamplingOverrides(spacing="26,1"), "timestep spacing '26,1'"),
        (SamplingOverrides(steps=10, spacing="10"), "--steps and --spacing"),
    ],
)
def test_overrides_refuse_bad_values(overrides, message):
    with pytest.raises(ValueError, match=message):
        overrides.apply(demo_preset(Stage2TestConfig()), SCHEDULE)


def test_pipeline_defaults_are_the_preset_of_its_checkpoint(pipe):
    assert pipe.default_settings == demo_preset(pipe.stage2.cfg.test)
    assert pipe.sampling_settings() == pipe.default_settings
    custom = dataclasses.replace(pipe.default_settings, num_samples=1, sampler="ddim", spacing="ddim5")
    assert pipe.sampling_settings(custom, SamplingOverrides(num_samples=2)).num_samples == 2
    assert pipe.sampling_settings(custom).spacing == "ddim5"


def test_guidance_built_from_settings_without_touching_the_model_config(pipe):
    from egohmr.stage2.pipeline import build_guidance

    cfg_before = pipe.stage2.cfg
    off = dataclasses.replace(pipe.default_settings, guidance=GuidanceConfig(enabled=False))
    assert build_guidance(pipe.stage2, off) is None
    heavy = dataclasses.replace(pipe.default_settings, guidance=GuidanceConfig(enabled=True, weight=3.0))
    assert build_guidance(pipe.stage2, heavy).config.weight == 3.0
    assert pipe.stage2.cfg is cfg_before
