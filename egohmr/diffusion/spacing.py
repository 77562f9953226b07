"""Respacing strings of a sampler and a step count (`egohmr.diffusion.schedule.space_timesteps` reads them)."""

from __future__ import annotations

from egohmr.diffusion.schedule import space_timesteps

__all__ = ["spacing_for"]


def spacing_for(sampler: str, steps: int, num_train_timesteps: int = 50) -> str:
    """Respacing string of ``--sampler/--steps``: DDPM over all T steps -> ``""``; DDIM K -> ``ddimK`` when an
    integer stride gives exactly K steps (``ddim5`` official), else ``"K"`` (evenly spread).

    Raises:
        ValueError: ``steps`` outside 1..T.
    """
    if steps < 1 or steps > num_train_timesteps:
        raise ValueError(f"--steps must be in 1..{num_train_timesteps}, got {steps}")
    if sampler == "ddpm":
        return "" if steps == num_train_timesteps else str(steps)
    try:
        space_timesteps(num_train_timesteps, f"ddim{steps}")
        return f"ddim{steps}"
    except ValueError:
        return str(steps)
