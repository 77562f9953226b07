"""Exponential moving average of a model's weights (Polyak averaging), used for validation, best.pt and inference.

    ema = WeightEMA(model, decay=0.998)
    ...optimizer.step(); ema.update(model)
    with ema.applied(model):           # the model holds the averaged weights inside the block
        validate(model)

Every floating-point entry of the state dict (parameters and BatchNorm running statistics) is averaged; integer
entries (``num_batches_tracked``) are copied. The effective decay warms up as ``min(decay, (1 + n) / (10 + n))``
after ``n`` updates, so early averages are not dominated by the initial weights.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from typing import Any

import torch
from torch import nn

__all__ = ["WeightEMA"]


class WeightEMA:
    """Averaged copy of a model's state dict (same device and dtypes as the model)."""

    def __init__(self, model: nn.Module, decay: float) -> None:
        """Start the average at the model's current weights.

        Args:
            model: the unwrapped module (not DDP).
            decay: in (0, 1); the average forgets with a horizon of about ``1 / (1 - decay)`` updates.
        """
        if not 0.0 < decay < 1.0:
            raise ValueError(f"WeightEMA: decay must be in (0, 1), got {decay}")
        self.decay = decay
        self.updates = 0
        self.shadow = {key: value.detach().clone() for key, value in model.state_dict().items()}

    def current_decay(self) -> float:
        """Decay of the next update (warm-up: ``min(decay, (1 + n) / (10 + n))``)."""
        return min(self.decay, (1 + self.updates) / (10 + self.updates))

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        """Move the average towards the model's current weights (call after each optimizer step)."""
        weight = 1.0 - self.current_decay()
        for key, value in model.state_dict().items():
            shadow = self.shadow[key]
            if shadow.is_floating_point():
                shadow.lerp_(value.detach(), weight)
            else:
                shadow.copy_(value)
        self.updates += 1

    @contextlib.contextmanager
    def applied(self, model: nn.Module) -> Iterator[nn.Module]:
        """Inside the block ``model`` holds the averaged weights; its own are restored afterwards (also on error)."""
        own = {key: value.detach().clone() for key, value in model.state_dict().items()}
        model.load_state_dict(self.shadow)
        try:
            yield model
        finally:
            model.load_state_dict(own)

    def state_dict(self) -> dict[str, Any]:
        """``{"decay", "updates"}`` (the averaged weights themselves are stored as the checkpoint's ``model``)."""
        return {"decay": self.decay, "updates": self.updates}

    def load(self, averaged: Mapping[str, torch.Tensor], state: Mapping[str, Any]) -> None:
        """Restore from a checkpoint: the averaged weights and `state_dict`'s counters."""
        missing = sorted(set(self.shadow) - set(averaged))
        if missing:
            raise ValueError(f"WeightEMA.load: averaged weights lack {missing[:5]}")
        for key, shadow in self.shadow.items():
            shadow.copy_(averaged[key])
        self.updates = int(state["updates"])
