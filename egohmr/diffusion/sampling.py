"""The reverse-diffusion sampling loop: the only place where a denoiser and a scheduler meet.

    noise = draw_noise(scheduler, shape, generator)            # x_T and one ε per step, drawn up front
    x0 = sample(denoise_fn, scheduler, None, shape, noise=noise, guidance=guidance, return_mode="official")

Each step: the network predicts x̂0 from (x_t, t), the scheduler computes the mean of x_{t'} (DDPM posterior mean or
DDIM update), an optional guidance callable shifts that mean, and the step's noise is added. Nothing here knows
what the network is or what the guidance computes: ``denoise_fn`` is any ``(x_t (N, D), t (N,) int64) -> x̂0``.

Noise is drawn up front (`draw_noise`) as one ``x_T`` and one ε per step, so a run that splits the rows differently
(the per-sample ``reference`` mode of stage 2) uses exactly the same numbers: row ``r`` of every array belongs to
row ``r`` of the batch.

Return semantics (`reference-egohmr.md` section 3): ``"official"`` returns the x̂0 predicted by the last network call
(t = 0), which is what the official code decodes; ``"final"`` returns the final sample x_0 of the chain (the two
differ by the last step's mean and by guidance applied at t = 0).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

import torch

from egohmr.diffusion.schedulers import DDIMScheduler, DDPMScheduler

__all__ = ["GuidanceFn", "ReturnMode", "SamplingNoise", "draw_noise", "sample", "step_plan"]

ReturnMode = Literal["official", "final"]
DenoiseFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


class GuidanceFn(Protocol):
    """Shift of the mean of x_{t'} for one reverse step, or None when the guidance is inactive at that step.

    Called with the current sample ``x_t`` (N, D), the original timestep ``t`` the network saw and the original
    timestep ``t_prev`` the step goes to (−1 for the last step). Returns (N, D) (added to the step's mean before the
    noise) or None (no work done).
    """

    def __call__(self, x_t: torch.Tensor, t: int, t_prev: int) -> torch.Tensor | None: ...


@dataclass(frozen=True)
class SamplingNoise:
    """All random numbers of one sampling run.

    Attributes:
        x_init: (N, D) x_T, standard normal.
        steps: (K, N, D) ε of each step, in the order of the step plan (index 0 = first step taken).
    """

    x_init: torch.Tensor
    steps: torch.Tensor

    def rows(self, index: torch.Tensor | slice) -> SamplingNoise:
        """The noise of a subset of rows (same numbers): ``index`` into N."""
        return SamplingNoise(self.x_init[index], self.steps[:, index])

    def scaled(self, scale: torch.Tensor) -> SamplingNoise:
        """Every number times ``scale`` (broadcast against (N, D), e.g. a per-row, per-entry temperature)."""
        return SamplingNoise(self.x_init * scale, self.steps * scale)


def step_plan(scheduler: DDPMScheduler | DDIMScheduler, timesteps: Sequence[int] | None = None) -> list[int]:
    """Respaced indices visited by a run, in order (default: K−1 … 0).

    Raises:
        ValueError: an index outside 0..K−1, or indices that do not decrease strictly.
    """
    plan = list(range(scheduler.num_steps - 1, -1, -1)) if timesteps is None else [int(t) for t in timesteps]
    if not plan:
        raise ValueError("sample: timesteps is empty")
    if any(not 0 <= t < scheduler.num_steps for t in plan):
        raise ValueError(f"sample: timesteps {plan} outside 0..{scheduler.num_steps - 1} of {scheduler!r}")
    if any(a <= b for a, b in zip(plan, plan[1:], strict=False)):
        raise ValueError(f"sample: timesteps must decrease strictly, got {plan}")
    return plan


def draw_noise(
    num_steps: int,
    shape: tuple[int, ...],
    generator: torch.Generator | None = None,
    dtype: torch.dtype = torch.float32,
    device: torch.device | str = "cpu",
) -> SamplingNoise:
    """Draw x_T and one ε per step, in this order, from ``generator``.

    Args:
        num_steps: K, steps of the run (``len(step_plan(scheduler, timesteps))``).
        shape: (N, D) of the sample.
        generator: random source (on ``device``); None uses torch's global generator.
        dtype, device: of the noise.

    Returns:
        `SamplingNoise`.
    """
    x_init = torch.randn(shape, generator=generator, dtype=dtype, device=device)
    steps = torch.randn((num_steps, *shape), generator=generator, dtype=dtype, device=device)
    return SamplingNoise(x_init, steps)


def sample(
    denoise_fn: DenoiseFn,
    scheduler: DDPMScheduler | DDIMScheduler,
    timesteps: Sequence[int] | None,
    shape: tuple[int, ...],
    guidance: GuidanceFn | None = None,
    generator: torch.Generator | None = None,
    return_mode: ReturnMode = "official",
    noise: SamplingNoise | None = None,
    dtype: torch.dtype = torch.float32,
    device: torch.device | str = "cpu",
) -> torch.Tensor:
    """Run the reverse process from x_T to x_0.

    Args:
        denoise_fn: ``(x_t (N, D), t (N,) int64 original timesteps) -> x̂0`` (any shape with N·D elements).
        scheduler: a `DDPMScheduler` or `DDIMScheduler` (its respacing decides the steps).
        timesteps: respaced indices to visit in order, or None for all (K−1 … 0). Each step uses the scheduler's
            coefficients for its index, i.e. assumes the next index is one lower: pass a prefix of K−1 … 0 (e.g. to
            time the first steps); for fewer steps build a respaced scheduler instead.
        shape: (N, D) of the sample (e.g. (B·S, 144)).
        guidance: optional `GuidanceFn`; its shift is added to the step's mean before the noise.
        generator: random source when ``noise`` is None (then `draw_noise` is called first).
        return_mode: ``"official"``: x̂0 of the last network call; ``"final"``: the last sample.
        noise: pre-drawn noise (`draw_noise`); takes precedence over ``generator``.
        dtype, device: of the sample when the noise is drawn here.

    Returns:
        (N, D) tensor (see ``return_mode``).

    Raises:
        ValueError: bad ``return_mode``, timesteps, or noise of the wrong shape.
    """
    if return_mode not in ("official", "final"):
        raise ValueError(f"sample: return_mode must be 'official' or 'final', got {return_mode!r}")
    plan = step_plan(scheduler, timesteps)
    if noise is None:
        noise = draw_noise(len(plan), shape, generator, dtype, device)
    if tuple(noise.x_init.shape) != tuple(shape) or tuple(noise.steps.shape) != (len(plan), *shape):
        raise ValueError(
            f"sample: noise has x_init {tuple(noise.x_init.shape)} and steps {tuple(noise.steps.shape)}; expected "
            f"{tuple(shape)} and {(len(plan), *shape)}"
        )
    x = noise.x_init
    pred_x0 = x
    timestep_map = scheduler.schedule.timestep_map
    for k, t_index in enumerate(plan):
        t_model = int(timestep_map[t_index])
        t_prev = int(timestep_map[plan[k + 1]]) if k + 1 < len(plan) else -1
        t_rows = torch.full((shape[0],), t_model, dtype=torch.long, device=x.device)
        pred_x0 = denoise_fn(x, t_rows).reshape(x.shape)
        out = scheduler.step(pred_x0, t_index, x, noise=noise.steps[k])
        shift = guidance(x, t_model, t_prev) if guidance is not None else None
        if shift is None:
            x = out.prev_sample
        elif isinstance(scheduler, DDPMScheduler):
            x = scheduler.add_step_noise(out.mean + shift, t_index, noise=noise.steps[k])
        else:
            x = out.prev_sample + shift  # DDIM: the noise term (η > 0) is unchanged by the mean shift
    return pred_x0 if return_mode == "official" else x
