"""DDPM and DDIM reverse steps for an x0-predicting network: stateless objects, no network inside.

A scheduler is built from a `NoiseScheduleConfig` and a respacing (``""`` = all T steps, ``"ddim5"``, ``"10"``, ...);
it holds only the immutable `NoiseSchedule` of that respacing. Sampling visits the respaced indices K−1 … 0:

    for t_index, t_model in scheduler.steps():            # e.g. ddim5: (4, 40), (3, 30), ..., (0, 0)
        pred_x0 = denoiser(x_t, t_model)                   # the network sees the original timestep
        x_t = scheduler.step(pred_x0, t_index, x_t, generator=g).prev_sample

Official semantics (`reference-egohmr.md` section 3): the returned pose is the x0 predicted by the t = 0 call, not
the final ``prev_sample``; both are available to the sampling loop. Coefficients are rounded to
``config.coef_dtype`` before use (official: float32, even for float64 inputs).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import torch

from egohmr.diffusion.schedule import NoiseSchedule, NoiseScheduleConfig, noise_schedule

__all__ = ["DDIMScheduler", "DDPMScheduler", "StepOutput", "build_scheduler"]

TIndex = int | torch.Tensor


@dataclass(frozen=True)
class StepOutput:
    """Result of one reverse step (all shaped like ``x_t``).

    Attributes:
        prev_sample: x_{t−1} (at the respaced index 0: the mean, no noise).
        pred_x0: the network's x0 prediction that was used.
        mean: mean of x_{t−1} before noise (DDPM posterior mean μ̃; DDIM deterministic update).
        variance: variance of the noise added (DDPM β̃_t; DDIM σ_t²), in ``coef_dtype`` precision.
    """

    prev_sample: torch.Tensor
    pred_x0: torch.Tensor
    mean: torch.Tensor
    variance: torch.Tensor


class _Scheduler:
    """Shared parts: coefficient lookup, timestep plan, forward noising."""

    def __init__(self, config: NoiseScheduleConfig, spacing: str = "") -> None:
        """Build the scheduler.

        Args:
            config: base noise schedule (official defaults).
            spacing: respacing, see `egohmr.diffusion.schedule.space_timesteps`.
        """
        self.config = config
        self.spacing = spacing
        self.schedule: NoiseSchedule = noise_schedule(config, spacing)
        self._coef_dtype = torch.float32 if config.coef_dtype == "float32" else torch.float64

    def __repr__(self) -> str:
        return f"{type(self).__name__}(spacing={self.spacing!r}, steps={self.num_steps}, config={self.config})"

    @property
    def num_steps(self) -> int:
        """K, steps of a full sampling run."""
        return self.schedule.num_steps

    def timesteps(self) -> torch.Tensor:
        """(K,) int64 original timesteps in sampling order (decreasing), e.g. ddim5: [40, 30, 20, 10, 0]."""
        return self.schedule.timestep_map.flip(0)

    def steps(self) -> Iterator[tuple[int, int]]:
        """(respaced index, original timestep) pairs in sampling order."""
        for t_index in range(self.num_steps - 1, -1, -1):
            yield t_index, int(self.schedule.timestep_map[t_index])

    def model_timestep(self, t_index: TIndex) -> torch.Tensor:
        """Original timestep(s) the network sees at respaced index ``t_index`` (int or (N,) int64)."""
        t_index = torch.as_tensor(t_index)
        return self.schedule.timestep_map.to(t_index.device)[t_index]

    def _coef(self, name: str, t_index: TIndex, like: torch.Tensor) -> torch.Tensor:
        """Schedule value(s) at ``t_index``, rounded to ``coef_dtype``, shaped to broadcast against ``like``.

        Returns a ``coef_dtype`` tensor of shape () for an int index or (N, 1, ..., 1) for an (N,) index.
        """
        table = getattr(self.schedule, name).to(self._coef_dtype).to(like.device)
        if isinstance(t_index, torch.Tensor) and t_index.dim() == 1:
            if t_index.shape[0] != like.shape[0]:
                raise ValueError(f"t_index has {t_index.shape[0]} entries for a batch of {like.shape[0]}")
            return table[t_index.to(like.device)].reshape(-1, *([1] * (like.dim() - 1)))
        t = int(t_index)
        if not 0 <= t < self.num_steps:
            raise ValueError(f"t_index {t} outside 0..{self.num_steps - 1} ({self.spacing!r} has {self.num_steps})")
        return table[t]

    def _nonzero(self, t_index: TIndex, like: torch.Tensor) -> torch.Tensor:
        """1 where t_index != 0 (noise is added), 0 at the last step; broadcastable to ``like``."""
        nonzero = (torch.as_tensor(t_index, device=like.device) != 0).to(like.dtype)
        if nonzero.dim() == 1:
            nonzero = nonzero.reshape(-1, *([1] * (like.dim() - 1)))  # (N, 1, ..., 1)
        return nonzero

    @staticmethod
    def _noise(like: torch.Tensor, noise: torch.Tensor | None, generator: torch.Generator | None) -> torch.Tensor:
        if noise is not None:
            if noise.shape != like.shape:
                raise ValueError(f"noise shape {tuple(noise.shape)} != x_t shape {tuple(like.shape)}")
            return noise
        return torch.randn(like.shape, generator=generator, dtype=like.dtype, device=like.device)

    def q_sample(self, x0: torch.Tensor, t_index: TIndex, noise: torch.Tensor) -> torch.Tensor:
        """Forward process q(x_t | x0) = sqrt(ᾱ_t) x0 + sqrt(1 − ᾱ_t) ε (DDPM eq. 4).

        Args:
            x0: (N, ...) clean normalised pose.
            t_index: int or (N,) int64 index into this scheduler's schedule (= t for the full schedule).
            noise: ε, same shape as ``x0``.

        Returns:
            x_t, same shape and dtype as ``x0``.
        """
        a = self._coef("sqrt_alphas_cumprod", t_index, x0).to(x0.dtype)
        b = self._coef("sqrt_one_minus_alphas_cumprod", t_index, x0).to(x0.dtype)
        return a * x0 + b * noise


class DDPMScheduler(_Scheduler):
    """Ancestral DDPM step with the posterior mean and the fixed small variance (official test sampler)."""

    def posterior_log_variance(self, t_index: TIndex, like: torch.Tensor) -> torch.Tensor:
        """log β̃ at ``t_index`` with the official clipping (β̃_0 -> β̃_1), ``coef_dtype``, broadcastable."""
        return self._coef("posterior_log_variance_clipped", t_index, like)

    def add_step_noise(
        self,
        mean: torch.Tensor,
        t_index: TIndex,
        noise: torch.Tensor | None = None,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """x_{t−1} = mean + [t ≠ 0] · exp(½ log β̃_t) · ε. Use on a guided mean (guidance shifts the mean only).

        The noise of one reverse step; the forward process (diffusers' ``add_noise``) is `q_sample`.

        Args:
            mean: (N, ...) posterior mean (possibly guided).
            t_index: int or (N,) respaced index.
            noise: ε like ``mean``; drawn from ``generator`` when None.
            generator: random source for ε.

        Returns:
            x_{t−1}, like ``mean``.
        """
        noise = self._noise(mean, noise, generator)
        std = torch.exp(0.5 * self.posterior_log_variance(t_index, mean)).to(mean.dtype)
        return mean + self._nonzero(t_index, mean) * std * noise

    def step(
        self,
        pred_x0: torch.Tensor,
        t_index: TIndex,
        x_t: torch.Tensor,
        noise: torch.Tensor | None = None,
        generator: torch.Generator | None = None,
    ) -> StepOutput:
        """One DDPM step from an x0 prediction (DDPM eqs. 6-7; ``clip_denoised=False``).

        Notation: ``pred_x0`` = x̂0, mean = μ̃_t(x_t, x̂0) = coef1_t x̂0 + coef2_t x_t, variance = β̃_t.

        Args:
            pred_x0: (N, ...) normalised x0 prediction.
            t_index: int or (N,) int64 respaced index (K−1 … 0).
            x_t: (N, ...) current sample.
            noise: ε like ``x_t``; drawn from ``generator`` when None (also at t = 0, where it is not used).
            generator: random source for ε.

        Returns:
            `StepOutput`.
        """
        coef1 = self._coef("posterior_mean_coef1", t_index, x_t).to(x_t.dtype)
        coef2 = self._coef("posterior_mean_coef2", t_index, x_t).to(x_t.dtype)
        mean = coef1 * pred_x0 + coef2 * x_t
        variance = self._coef("posterior_variance", t_index, x_t).expand_as(x_t)
        prev = self.add_step_noise(mean, t_index, noise, generator)
        return StepOutput(prev_sample=prev, pred_x0=pred_x0, mean=mean, variance=variance)


class DDIMScheduler(_Scheduler):
    """DDIM step (Song et al. 2021, eq. 12) on a respaced schedule; ``eta`` = 0 is deterministic (official)."""

    def __init__(self, config: NoiseScheduleConfig, spacing: str = "ddim5", eta: float = 0.0) -> None:
        """Build the scheduler.

        Args:
            config: base noise schedule.
            spacing: respacing (official validation: ``ddim5``).
            eta: η >= 0; 0 = deterministic DDIM, 1 = DDPM-like variance.
        """
        if eta < 0:
            raise ValueError(f"DDIM eta must be >= 0, got {eta}")
        super().__init__(config, spacing)
        self.eta = float(eta)

    def step(
        self,
        pred_x0: torch.Tensor,
        t_index: TIndex,
        x_t: torch.Tensor,
        noise: torch.Tensor | None = None,
        generator: torch.Generator | None = None,
    ) -> StepOutput:
        """One DDIM step from an x0 prediction.

        Notation: ᾱ = ``alphas_cumprod[t]``, ᾱ' = ``alphas_cumprod_prev[t]`` (of the respaced schedule),
        ε̂ = (x_t / sqrt(ᾱ) − x̂0) / sqrt(1/ᾱ − 1), σ = η sqrt((1 − ᾱ')/(1 − ᾱ)) sqrt(1 − ᾱ/ᾱ'),
        mean = sqrt(ᾱ') x̂0 + sqrt(1 − ᾱ' − σ²) ε̂, x_{t'} = mean + [t ≠ 0] σ ε. Square roots are taken in
        ``coef_dtype`` like the official code.

        Args:
            pred_x0: (N, ...) normalised x0 prediction.
            t_index: int or (N,) int64 respaced index.
            x_t: (N, ...) current sample.
            noise: ε like ``x_t`` (only used when η > 0); drawn from ``generator`` when None and η > 0.
            generator: random source for ε.

        Returns:
            `StepOutput` (variance = σ²).
        """
        dtype = x_t.dtype
        recip = self._coef("sqrt_recip_alphas_cumprod", t_index, x_t).to(dtype)
        recipm1 = self._coef("sqrt_recipm1_alphas_cumprod", t_index, x_t).to(dtype)
        eps = (recip * x_t - pred_x0) / recipm1
        abar = self._coef("alphas_cumprod", t_index, x_t)
        abar_prev = self._coef("alphas_cumprod_prev", t_index, x_t)
        sigma = self.eta * torch.sqrt((1 - abar_prev) / (1 - abar)) * torch.sqrt(1 - abar / abar_prev)
        mean = pred_x0 * torch.sqrt(abar_prev).to(dtype) + torch.sqrt(1 - abar_prev - sigma**2).to(dtype) * eps
        variance = (sigma**2).expand_as(x_t)
        if self.eta > 0:
            prev = mean + self._nonzero(t_index, x_t) * sigma.to(dtype) * self._noise(x_t, noise, generator)
        else:
            prev = mean
        return StepOutput(prev_sample=prev, pred_x0=pred_x0, mean=mean, variance=variance)


def build_scheduler(
    config: NoiseScheduleConfig, sampler: str, spacing: str = "", eta: float = 0.0
) -> DDPMScheduler | DDIMScheduler:
    """Scheduler by name: ``sampler`` ``"ddpm"`` or ``"ddim"``; ``spacing`` as in `space_timesteps`.

    Raises:
        ValueError: unknown sampler name.
    """
    if sampler == "ddpm":
        return DDPMScheduler(config, spacing)
    if sampler == "ddim":
        return DDIMScheduler(config, spacing or "ddim5", eta)
    raise ValueError(f"unknown sampler {sampler!r}; allowed: 'ddpm', 'ddim'")
