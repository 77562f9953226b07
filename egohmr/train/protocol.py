"""What the training engine needs from a model: the `TrainableModel` methods, checked once, and DDP's view of them."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol, runtime_checkable

import torch
from torch import nn

__all__ = ["TrainableModel", "TrainingStep", "check_trainable"]


@runtime_checkable
class TrainableModel(Protocol):
    """What a stage model implements to be trained by `train` (an `nn.Module` with these methods).

    Required:
        training_step(batch, step) -> dict[str, Tensor]: the batch is already on the model's device; `step` is the
            number of updates completed so far. Must hold a scalar "loss" to minimise; every other 0-dim tensor is
            a loss term that gets logged (averaged over the log interval).
        validation_step(batch) -> dict[str, float | Tensor]: scalar metrics of one batch (called under
            `torch.no_grad()` in eval mode); the engine averages them over the validation set weighted by batch size.

    Optional (looked up with `getattr`):
        parameter_groups() -> list[dict]: AdamW parameter groups; a group may set "lr_scale" (multiplies the
            scheduled LR) and "weight_decay". Default: one group of all parameters with `requires_grad`.
        on_train_start(first_batch) -> None: data-dependent initialisation (e.g. ActNorm) on the first batch of a
            fresh run, before DDP wraps the model (rank 0's result is broadcast). Not called on resume.
        auxiliary_step(batch, step) -> dict[str, float]: runs after each main update, outside DDP and autocast,
            for a second optimizer the model owns (e.g. the optional adversarial discriminator). Under DDP it must
            average its own gradients (`egohmr.train.distributed.all_reduce_gradients`).
        train_state_dict() -> dict / load_train_state_dict(state) -> None: extra training state to resume exactly
            (e.g. that second optimizer); stored as the checkpoint's `model_train_state`.
    """

    def training_step(self, batch: Any, step: int) -> dict[str, torch.Tensor]: ...

    def validation_step(self, batch: Any) -> Mapping[str, float | torch.Tensor]: ...


class TrainingStep(nn.Module):
    """Routes `forward` to `model.training_step`, so DDP's gradient-sync hooks see the training computation."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, batch: Any, step: int) -> dict[str, torch.Tensor]:
        return self.model.training_step(batch, step)


def check_trainable(model: Any) -> None:
    """Raise `TypeError` unless `model` is an `nn.Module` with `training_step` and `validation_step`."""
    if not isinstance(model, nn.Module):
        raise TypeError(f"train: the model must be a torch.nn.Module, got {type(model).__name__}")
    missing = [name for name in ("training_step", "validation_step") if not callable(getattr(model, name, None))]
    if missing:
        raise TypeError(f"train: {type(model).__name__} lacks {missing} (see egohmr.train.TrainableModel)")
