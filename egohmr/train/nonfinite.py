"""Stopping on a NaN/inf loss or gradient norm, with a report that names the step, rank, batch and dataset items."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from egohmr.train.data import nonfinite_keys
from egohmr.train.distributed import DistContext, all_gather_objects

__all__ = ["BatchPosition", "NonFiniteLossError", "check_grad_norm", "raise_nonfinite_loss"]

logger = logging.getLogger(__name__)


class NonFiniteLossError(ValueError):
    """The training loss became NaN or inf; the message names the step, rank, dataset indices and batch keys."""


@dataclasses.dataclass(frozen=True)
class BatchPosition:
    """Where a training batch comes from: epoch, batch within the epoch, and this rank's dataset indices."""

    epoch: int
    batch_in_epoch: int
    indices: list[int]


def raise_nonfinite_loss(
    ctx: DistContext,
    step: int,
    position: BatchPosition,
    out: Mapping[str, Any],
    batch: Any,
    local_bad: bool,
    last_path: Path,
) -> None:
    """Gather every rank's report of a non-finite loss at the update after `step` and raise (a collective).

    Raises:
        NonFiniteLossError: always; the message lists, per bad rank, the loss, the non-finite terms of
            `training_step`'s output, the dataset indices and the batch keys holding NaN/inf.
    """
    loss = out["loss"].detach()
    report = {
        "rank": ctx.rank,
        "bad": local_bad,
        "loss": float(loss.float().mean()),
        "terms": sorted(
            key
            for key, value in out.items()
            if isinstance(value, torch.Tensor) and value.is_floating_point() and not bool(torch.isfinite(value).all())
        ),
        "indices": position.indices,
        "batch_keys": nonfinite_keys(batch),
    }
    details = "; ".join(
        f"rank {r['rank']}: loss={r['loss']}, non-finite terms {r['terms']}, dataset indices "
        f"{r['indices']}, batch keys with NaN/inf {r['batch_keys'] or 'none'}"
        for r in all_gather_objects(ctx, report)
        if r["bad"]
    )
    message = (
        f"non-finite training loss at step {step + 1} (the update after step {step}; epoch {position.epoch}, "
        f"batch {position.batch_in_epoch} of the epoch): {details}. Stopped before the update: no checkpoint was "
        f"written or overwritten ({last_path} holds the last good state)"
    )
    logger.error(message)
    raise NonFiniteLossError(message)


def check_grad_norm(grad_norm: torch.Tensor, ctx: DistContext, step: int, position: BatchPosition) -> None:
    """Raise `NonFiniteLossError` if the clipped global gradient norm of the update after `step` is NaN/inf.

    A CPU-GPU sync point. Only called without fp16 AMP (whose GradScaler skips such steps by design).
    """
    if bool(torch.isfinite(grad_norm)):
        return
    message = (
        f"non-finite gradient norm at step {step + 1} (epoch {position.epoch}, batch {position.batch_in_epoch}, "
        f"dataset indices {position.indices} on rank {ctx.rank}); stopped before the update, nothing was written"
    )
    logger.error(message)
    raise NonFiniteLossError(message)
