"""The update machinery of the training loop: AdamW over the model's groups, the LR, mixed precision, clip, step."""

from __future__ import annotations

import contextlib
import dataclasses
import logging
from typing import Any

import torch
from torch import nn

from egohmr.train.config import TrainConfig

__all__ = ["MixedPrecision", "backward_and_clip", "build_optimizer", "optimizer_step", "set_learning_rate"]

logger = logging.getLogger(__name__)


def _parameter_groups(model: nn.Module, cfg: TrainConfig) -> list[dict[str, Any]]:
    """The model's `parameter_groups()` (or one group of all trainable parameters) with `lr_scale`/`weight_decay`."""
    make_groups = getattr(model, "parameter_groups", None)
    if callable(make_groups):
        groups = [dict(group) for group in make_groups()]
    else:
        groups = [{"params": [p for p in model.parameters() if p.requires_grad]}]
    for group in groups:
        group["params"] = list(group["params"])
        group.setdefault("lr_scale", 1.0)
        group.setdefault("weight_decay", cfg.weight_decay)
    if not any(group["params"] for group in groups):
        raise ValueError(f"train: {type(model).__name__} has no trainable parameters")
    return groups


def build_optimizer(model: nn.Module, cfg: TrainConfig) -> torch.optim.AdamW:
    """AdamW over the model's parameter groups (each keeps its `lr_scale`, see `set_learning_rate`).

    Raises:
        ValueError: the model has no trainable parameters.
    """
    return torch.optim.AdamW(
        _parameter_groups(model, cfg), lr=cfg.lr, betas=cfg.adam_betas, weight_decay=cfg.weight_decay
    )


def set_learning_rate(optimizer: torch.optim.Optimizer, lr: float) -> None:
    """Set every group's LR to `lr` times the group's `lr_scale`."""
    for group in optimizer.param_groups:
        group["lr"] = lr * group["lr_scale"]


@dataclasses.dataclass(frozen=True)
class MixedPrecision:
    """Autocast settings and the GradScaler of a run (both inert in float32)."""

    enabled: bool
    """Autocast is on (`train.amp` on a CUDA device)."""
    dtype: torch.dtype
    device_type: str
    scaler: torch.amp.GradScaler
    """Scales fp16 losses; disabled (a no-op) in float32 and bfloat16."""

    @classmethod
    def for_run(cls, cfg: TrainConfig, device: torch.device) -> MixedPrecision:
        enabled = cfg.amp and device.type == "cuda"
        if cfg.amp and not enabled:
            logger.info("train.amp applies to CUDA only: training in float32 on %s", device)
        dtype = torch.bfloat16 if cfg.amp_dtype == "bfloat16" else torch.float16
        scaler = torch.amp.GradScaler(device.type, enabled=enabled and dtype == torch.float16)
        return cls(enabled, dtype, device.type, scaler)

    def autocast(self) -> contextlib.AbstractContextManager[Any]:
        return torch.autocast(device_type=self.device_type, dtype=self.dtype, enabled=self.enabled)


def backward_and_clip(
    loss: torch.Tensor,
    optimizer: torch.optim.Optimizer,
    scaler: torch.amp.GradScaler,
    params: list[torch.Tensor],
    max_norm: float | None,
) -> torch.Tensor | None:
    """Backward the (scaled) loss; with `max_norm`, unscale and clip the global gradient norm and return it."""
    scaler.scale(loss).backward()
    if max_norm is None:
        return None
    scaler.unscale_(optimizer)
    return torch.nn.utils.clip_grad_norm_(params, max_norm)


def optimizer_step(optimizer: torch.optim.Optimizer, scaler: torch.amp.GradScaler) -> None:
    """Step (skipped by the scaler on inf fp16 gradients), update the loss scale, clear the gradients."""
    scaler.step(optimizer)
    scaler.update()
    optimizer.zero_grad(set_to_none=True)
