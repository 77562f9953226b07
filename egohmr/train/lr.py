"""Learning-rate schedule as a pure function of the step (like nanoGPT's `get_lr`)."""

from __future__ import annotations

import math

from egohmr.train.config import TrainConfig

__all__ = ["lr_at"]


def lr_at(step: int, cfg: TrainConfig) -> float:
    """Learning rate of the update that takes the model from `step` to `step + 1` completed updates.

    Cases, in order:
        1. warm-up (`step < cfg.warmup_steps`): linear, `lr * (step + 1) / warmup_steps`;
        2. `lr_schedule == "constant"` (official): `lr`;
        3. `lr_schedule == "cosine"`: half a cosine from `lr` down to `min_lr`, reached at `cfg.max_steps`.

    Args:
        step: number of updates completed so far (0 for the first update).
        cfg: training settings.

    Returns:
        The learning rate (a Python float); parameter groups may scale it by their `lr_scale`.
    """
    if step < cfg.warmup_steps:
        return cfg.lr * (step + 1) / cfg.warmup_steps
    if cfg.lr_schedule == "constant":
        return cfg.lr
    decay_steps = max(1, cfg.max_steps - cfg.warmup_steps)
    progress = min(1.0, (step - cfg.warmup_steps) / decay_steps)
    return cfg.min_lr + 0.5 * (1.0 + math.cos(math.pi * progress)) * (cfg.lr - cfg.min_lr)
