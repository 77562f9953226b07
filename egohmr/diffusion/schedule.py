"""Noise schedules of the stage-2 pose diffusion: pure float64 functions, no network, no state.

Official setting (`reference-egohmr.md` section 3): T = 50, cosine ᾱ (Nichol & Dhariwal 2021, "Improved DDPM",
eq. 17) with s = 0.008 and β clipped at 0.999; x0 prediction; fixed "small" posterior variance. Respacing follows
guided-diffusion: ``""``/``"ddpm"`` keeps every step, ``"ddimN"`` keeps ``range(0, T, k)`` for the stride ``k`` that
gives exactly N steps (official ``ddim5`` -> {0, 10, 20, 30, 40}), and ``"N"`` (or ``"N1,N2,..."`` per equal
section) keeps N evenly spread steps for any N <= T. A respaced schedule recomputes β from the kept ᾱ values, so
ᾱ at the kept steps is unchanged.

Notation (DDPM, Ho et al. 2020, eqs. 6-7): ``betas`` = β_t, ``alphas_cumprod`` = ᾱ_t, ``alphas_cumprod_prev`` =
ᾱ_{t-1} (1 at t = 0), ``posterior_variance`` = β̃_t = β_t (1 − ᾱ_{t−1}) / (1 − ᾱ_t), posterior mean
μ̃_t = coef1 · x0 + coef2 · x_t with coef1 = β_t sqrt(ᾱ_{t−1}) / (1 − ᾱ_t), coef2 = (1 − ᾱ_{t−1}) sqrt(α_t) / (1 − ᾱ_t).
The log variance is "clipped": β̃_0 = 0 is replaced by β̃_1.

Schedules are not module buffers: the `NoiseScheduleConfig` (stored with checkpoints) is their only source.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, fields
from typing import Literal

import numpy as np
import torch

__all__ = [
    "NoiseSchedule",
    "NoiseScheduleConfig",
    "betas_from_alpha_bar",
    "cosine_alpha_bar",
    "named_betas",
    "noise_schedule",
    "schedule_from_betas",
    "space_timesteps",
    "timesteps",
]


@dataclass(frozen=True)
class NoiseScheduleConfig:
    """How the forward (noising) process and the samplers' coefficients are defined. Defaults = official."""

    num_train_timesteps: int = 50
    """T, diffusion steps of training (official ``--num_diffusion_timesteps 50``)."""
    schedule: Literal["cosine", "linear"] = "cosine"
    """β schedule: ``cosine`` (official) or guided-diffusion ``linear`` (β from 1e-4·1000/T to 0.02·1000/T)."""
    prediction: Literal["x0", "v"] = "x0"
    """What the network outputs. ``x0``: x0 directly (official ``pred_x_start``). ``v``: the velocity
    v = √ᾱ_t·ε − √(1−ᾱ_t)·x0 (Salimans & Ho 2022), turned into x̂0 = √ᾱ_t·x_t − √(1−ᾱ_t)·v inside the denoiser, so
    that at low noise x̂0 follows x_t by construction (see `egohmr.models.denoiser.PoseDenoiser`)."""
    variance: Literal["fixed_small"] = "fixed_small"
    """DDPM reverse variance: the posterior variance β̃_t (official ``FIXED_SMALL``)."""
    coef_dtype: Literal["float32", "float64"] = "float32"
    """Dtype the schedule values are rounded to before use. The official ``_extract_into_tensor`` casts them to
    float32 even for float64 inputs (about 1e-7 relative); ``float64`` keeps them exact."""

    def __post_init__(self) -> None:
        if self.num_train_timesteps < 1:
            raise ValueError(f"num_train_timesteps must be >= 1, got {self.num_train_timesteps}")
        allowed = {"schedule": ("cosine", "linear"), "prediction": ("x0", "v"), "variance": ("fixed_small",),
                   "coef_dtype": ("float32", "float64")}  # fmt: skip
        for name, choices in allowed.items():
            if getattr(self, name) not in choices:
                raise ValueError(f"NoiseScheduleConfig.{name} = {getattr(self, name)!r}; allowed: {choices}")


@dataclass(frozen=True)
class NoiseSchedule:
    """A (possibly respaced) schedule of K steps. All arrays are (K,) float64 CPU tensors except ``timestep_map``.

    Index ``i`` (the "respaced index", K−1 … 0 during sampling) is step ``timestep_map[i]`` of the T-step training
    process; the network always sees the original timestep ``timestep_map[i]``.
    """

    betas: torch.Tensor
    alphas_cumprod: torch.Tensor
    alphas_cumprod_prev: torch.Tensor
    sqrt_alphas_cumprod: torch.Tensor
    sqrt_one_minus_alphas_cumprod: torch.Tensor
    sqrt_recip_alphas_cumprod: torch.Tensor
    sqrt_recipm1_alphas_cumprod: torch.Tensor
    posterior_variance: torch.Tensor
    posterior_log_variance_clipped: torch.Tensor
    posterior_mean_coef1: torch.Tensor
    posterior_mean_coef2: torch.Tensor
    timestep_map: torch.Tensor
    """(K,) int64 original timestep of each respaced index, increasing."""

    @property
    def num_steps(self) -> int:
        """K."""
        return int(self.betas.shape[0])

    def arrays(self) -> dict[str, torch.Tensor]:
        """{field name: tensor} of every float64 array (not ``timestep_map``)."""
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name != "timestep_map"}


def cosine_alpha_bar(t_frac: float, s: float = 0.008) -> float:
    """Cosine ᾱ(t) = cos²((t/T + s)/(1 + s) · π/2) at ``t_frac = t/T`` (Improved DDPM, eq. 17, unnormalised)."""
    return math.cos((t_frac + s) / (1 + s) * math.pi / 2) ** 2


def betas_from_alpha_bar(
    num_timesteps: int, alpha_bar: Callable[[float], float], max_beta: float = 0.999
) -> np.ndarray:
    """β_i = min(1 − ᾱ((i+1)/T) / ᾱ(i/T), max_beta) for i = 0..T−1, float64 (Improved DDPM, sec. 3.2)."""
    return np.array(
        [
            min(1 - alpha_bar((i + 1) / num_timesteps) / alpha_bar(i / num_timesteps), max_beta)
            for i in range(num_timesteps)
        ],
        dtype=np.float64,
    )


def named_betas(schedule: str, num_timesteps: int) -> np.ndarray:
    """(T,) float64 β of a named schedule: ``cosine`` (official) or ``linear`` (guided-diffusion, scaled to T)."""
    if schedule == "cosine":
        return betas_from_alpha_bar(num_timesteps, cosine_alpha_bar)
    if schedule == "linear":
        scale = 1000 / num_timesteps
        return np.linspace(scale * 0.0001, scale * 0.02, num_timesteps, dtype=np.float64)
    raise ValueError(f"unknown beta schedule {schedule!r}; allowed: 'cosine', 'linear'")


def space_timesteps(num_timesteps: int, spacing: str) -> list[int]:
    """Original timesteps kept by a respacing, increasing.

    Args:
        num_timesteps: T.
        spacing: ``""`` or ``"ddpm"``: all T steps. ``"ddimN"``: ``range(0, T, k)`` for the smallest stride ``k``
            giving exactly N steps (guided-diffusion DDIM striding; ``ddim5`` with T=50 -> [0, 10, 20, 30, 40]).
            ``"N"`` or ``"N1,N2,..."``: split 0..T−1 into equal sections and keep N_i evenly spread steps in each
            (rounded fractional stride, first and last step of a section included), so any N <= T works.

    Returns:
        Sorted list of kept timesteps.

    Raises:
        ValueError: unparsable spacing, a count larger than its section, or ``ddimN`` without an exact stride.
    """
    text = spacing.strip()
    if text in ("", "ddpm"):
        return list(range(num_timesteps))
    if text.startswith("ddim"):
        try:
            count = int(text[len("ddim") :])
        except ValueError:
            raise ValueError(f"timestep spacing {spacing!r}: expected 'ddimN' with an integer N") from None
        for stride in range(1, num_timesteps + 1):
            kept = list(range(0, num_timesteps, stride))
            if len(kept) == count:
                return kept
        raise ValueError(
            f"timestep spacing {spacing!r}: no integer stride gives exactly {count} of {num_timesteps} steps; "
            f"use the evenly spread form {str(count)!r}"
        )
    try:
        counts = [int(part) for part in text.split(",")]
    except ValueError:
        raise ValueError(f"timestep spacing {spacing!r}: expected '', 'ddpm', 'ddimN', 'N' or 'N1,N2,...'") from None
    size_per, extra = divmod(num_timesteps, len(counts))
    kept: list[int] = []
    start = 0
    for i, count in enumerate(counts):
        size = size_per + (1 if i < extra else 0)
        if not 1 <= count <= size:
            raise ValueError(f"timestep spacing {spacing!r}: section {i} has {size} steps, cannot keep {count}")
        stride = 1.0 if count == 1 else (size - 1) / (count - 1)
        position = 0.0  # accumulated like guided-diffusion, so ties round the same way
        for _ in range(count):
            kept.append(start + round(position))
            position += stride
        start += size
    return sorted(set(kept))


def schedule_from_betas(betas: np.ndarray, timestep_map: list[int] | None = None) -> NoiseSchedule:
    """All derived arrays of a β schedule, float64 (module docstring for the formulas).

    Args:
        betas: (K,) float64 in (0, 1].
        timestep_map: original timestep of each index; default 0..K−1.

    Returns:
        `NoiseSchedule`.
    """
    betas = np.asarray(betas, dtype=np.float64)
    if betas.ndim != 1 or not ((betas > 0).all() and (betas <= 1).all()):
        raise ValueError("betas must be a 1-D array with values in (0, 1]")
    alphas = 1.0 - betas
    ac = np.cumprod(alphas, axis=0)
    ac_prev = np.append(1.0, ac[:-1])
    post_var = betas * (1.0 - ac_prev) / (1.0 - ac)
    clipped = np.log(np.append(post_var[1], post_var[1:])) if len(betas) > 1 else np.log(post_var)
    arrays = {
        "betas": betas,
        "alphas_cumprod": ac,
        "alphas_cumprod_prev": ac_prev,
        "sqrt_alphas_cumprod": np.sqrt(ac),
        "sqrt_one_minus_alphas_cumprod": np.sqrt(1.0 - ac),
        "sqrt_recip_alphas_cumprod": np.sqrt(1.0 / ac),
        "sqrt_recipm1_alphas_cumprod": np.sqrt(1.0 / ac - 1),
        "posterior_variance": post_var,
        "posterior_log_variance_clipped": clipped,
        "posterior_mean_coef1": betas * np.sqrt(ac_prev) / (1.0 - ac),
        "posterior_mean_coef2": (1.0 - ac_prev) * np.sqrt(alphas) / (1.0 - ac),
    }
    tmap = list(range(len(betas))) if timestep_map is None else list(timestep_map)
    if len(tmap) != len(betas):
        raise ValueError(f"timestep_map has {len(tmap)} entries for {len(betas)} betas")
    return NoiseSchedule(
        **{name: torch.from_numpy(value.copy()) for name, value in arrays.items()},
        timestep_map=torch.tensor(tmap, dtype=torch.int64),
    )


def noise_schedule(config: NoiseScheduleConfig, spacing: str = "") -> NoiseSchedule:
    """The schedule a sampler with this respacing uses (official ``SpacedDiffusion``).

    Kept steps get β'_i = 1 − ᾱ_{t_i} / ᾱ_{t_{i−1}} (ᾱ of the previous kept step, 1 before the first).

    Args:
        config: base schedule.
        spacing: see `space_timesteps`.

    Returns:
        `NoiseSchedule` with K = number of kept steps.
    """
    base = schedule_from_betas(named_betas(config.schedule, config.num_train_timesteps))
    kept = space_timesteps(config.num_train_timesteps, spacing)
    new_betas = []
    last = 1.0
    for t in kept:
        ac = float(base.alphas_cumprod[t])
        new_betas.append(1.0 - ac / last)
        last = ac
    return schedule_from_betas(np.array(new_betas, dtype=np.float64), kept)


def timesteps(spacing: str, num_train_timesteps: int = 50) -> list[int]:
    """Original timesteps a sampler visits, in sampling order (decreasing): ``ddim5`` -> [40, 30, 20, 10, 0]."""
    return space_timesteps(num_train_timesteps, spacing)[::-1]
