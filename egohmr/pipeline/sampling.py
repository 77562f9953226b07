"""Stage-2 sampling settings of the pipeline, `egohmr infer` and `egohmr demo`: one `Stage2TestConfig`.

Every sampling setting lives in `egohmr.stage2.config.Stage2TestConfig`. What the pipeline uses when the caller
says nothing is the **demo preset** (`demo_preset`): the loaded stage-2 checkpoint's ``cfg.test`` with the choices
the demo and ``infer`` have always made, whatever the checkpoint says:

=================  =========================================================================
``num_samples``    5 (the released EgoHMR results use 5; ``Stage2TestConfig`` defaults to 1)
``sampler``        ``ddpm`` over all T steps (``spacing=""``), as the official test
``diffuse_fuse``   True
``guidance``       enabled (weight, active steps and step scales: the checkpoint's)
``return_mode``    ``official``;  ``mode``: ``fast``;  ``seed``: 0
=================  =========================================================================

``visible_noise_scale`` and the guidance weights come from the checkpoint (it says how it is sampled), as in
``egohmr test stage2``. `SamplingOverrides` carries the user's choices (CLI flags, the pipeline's keyword shorthands):
None keeps the preset's value; ``fast=True`` (``--fast``) first swaps the preset's sampler for the fast setting
(`egohmr.stage2.config.fast_sampling`: stochastic DDIM over ten steps, a stronger guidance weight), and the other
choices apply on top of it.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:  # kept out of the import: `egohmr demo --help` must not load torch
    from egohmr.diffusion.schedule import NoiseScheduleConfig
    from egohmr.stage2.config import Stage2TestConfig

__all__ = ["DEMO_NUM_SAMPLES", "SamplingOverrides", "demo_preset", "num_sampling_steps"]

DEMO_NUM_SAMPLES = 5
"""Samples per image of the demo preset."""


def demo_preset(checkpoint_test: Stage2TestConfig) -> Stage2TestConfig:
    """The demo preset (module docstring) on top of a checkpoint's test settings.

    Args:
        checkpoint_test: ``cfg.test`` of the loaded stage-2 checkpoint.

    Returns:
        `Stage2TestConfig` with the preset's fields replaced, every other field the checkpoint's.
    """
    return dataclasses.replace(
        checkpoint_test,
        num_samples=DEMO_NUM_SAMPLES,
        sampler="ddpm",
        spacing="",
        diffuse_fuse=True,
        guidance=dataclasses.replace(checkpoint_test.guidance, enabled=True),
        return_mode="official",
        mode="fast",
        seed=0,
    )


def num_sampling_steps(settings: Stage2TestConfig, schedule: NoiseScheduleConfig) -> int:
    """Denoising steps that ``settings.sampler`` / ``settings.spacing`` run on a schedule (DDIM ``""`` is ``ddim5``)."""
    from egohmr.diffusion.schedulers import build_scheduler

    return build_scheduler(schedule, settings.sampler, settings.spacing).num_steps


@dataclass(frozen=True)
class SamplingOverrides:
    """The user's sampling choices; None keeps the value of the settings they are applied to."""

    fast: bool = False
    """Start from the fast setting (`egohmr.stage2.config.fast_sampling`) instead of the base settings."""
    num_samples: int | None = None
    """S, samples per image (>= 1)."""
    sampler: Literal["ddpm", "ddim"] | None = None
    """Sampler; without `steps` it keeps the number of steps of the base settings."""
    steps: int | None = None
    """Denoising steps (1..T), turned into ``spacing`` by `egohmr.diffusion.spacing.spacing_for`."""
    spacing: str | None = None
    """Kept timesteps instead of `steps` (`egohmr.diffusion.schedule.space_timesteps`: ``ddimN``, ``N``,
    ``N1,N2,...``)."""
    eta: float | None = None
    """DDIM η (0 deterministic, 1 the DDPM variance); ignored by ``ddpm``."""
    fuse: bool | None = None
    """diffuse_fuse."""
    guidance: bool | None = None
    """Collision guidance on or off (its weights stay those of the base settings)."""
    seed: int | None = None
    """Seed of the sampling generator of the CLIs."""
    max_memory_gb: float | None = None
    """Memory cap of one stage-2 call over several frames (`egohmr infer --frames`): picks the frames per call."""

    def apply(self, base: Stage2TestConfig, schedule: NoiseScheduleConfig) -> Stage2TestConfig:
        """``base`` with every non-None choice written into its field.

        Args:
            base: settings to start from (the demo preset, or settings given by the caller); with `fast`, the fast
                setting on top of them.
            schedule: the stage-2 model's noise schedule (number of training steps T).

        Raises:
            ValueError: steps outside 1..T, an unparsable spacing, both steps and spacing, or settings that
                `Stage2TestConfig` refuses.
        """
        from egohmr.diffusion.schedule import space_timesteps
        from egohmr.diffusion.spacing import spacing_for
        from egohmr.stage2.config import fast_sampling

        if self.steps is not None and self.spacing is not None:
            raise ValueError("--steps and --spacing both given: pass one of them")
        if self.fast:
            base = fast_sampling(base)
            space_timesteps(schedule.num_train_timesteps, base.spacing)  # ValueError: a schedule too short for it
        settings = base
        if self.spacing is not None:
            space_timesteps(schedule.num_train_timesteps, self.spacing)  # ValueError naming the spacing
            sampler = self.sampler if self.sampler is not None else base.sampler
            settings = dataclasses.replace(settings, sampler=sampler, spacing=self.spacing)
        elif self.sampler is not None or self.steps is not None:
            sampler = self.sampler if self.sampler is not None else base.sampler
            steps = self.steps if self.steps is not None else num_sampling_steps(base, schedule)
            spacing = spacing_for(sampler, int(steps), schedule.num_train_timesteps)
            settings = dataclasses.replace(settings, sampler=sampler, spacing=spacing)
        if self.eta is not None:
            settings = dataclasses.replace(settings, eta=float(self.eta))
        if self.num_samples is not None:
            settings = dataclasses.replace(settings, num_samples=int(self.num_samples))
        if self.fuse is not None:
            settings = dataclasses.replace(settings, diffuse_fuse=bool(self.fuse))
        if self.guidance is not None:
            guidance = dataclasses.replace(settings.guidance, enabled=bool(self.guidance))
            settings = dataclasses.replace(settings, guidance=guidance)
        if self.seed is not None:
            settings = dataclasses.replace(settings, seed=int(self.seed))
        if self.max_memory_gb is not None:
            settings = dataclasses.replace(settings, max_memory_gb=float(self.max_memory_gb))
        return settings
