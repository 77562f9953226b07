"""Validation during training: reproducible metrics over all ranks, and whether they make a new best checkpoint."""

from __future__ import annotations

import contextlib
import dataclasses
import math
from collections.abc import Callable
from typing import Any

import torch
from torch import nn
from torch.utils.data import Dataset

from egohmr.train.config import TrainConfig
from egohmr.train.data import ValBatchSampler, batch_size_of, make_loader, to_device
from egohmr.train.distributed import DistContext, all_gather_objects, broadcast_buffers
from egohmr.train.ema import WeightEMA
from egohmr.train.rng import isolated_rng, mix_seed

__all__ = ["Validation", "is_better", "validate", "validate_for_best"]

_VAL_SEED_TAG = 0x7661  # separates validation seeds from training seeds in mix_seed

Autocast = Callable[[], contextlib.AbstractContextManager[Any]]


def validate(
    model: nn.Module,
    val_set: Dataset,
    cfg: TrainConfig,
    ctx: DistContext,
    step: int,
    autocast: Autocast,
    collate_fn: Callable[[list[Any]], Any] | None,
) -> dict[str, float]:
    """Mean of each `validation_step` metric over the (subsampled) validation set, over all ranks.

    Runs in eval mode, without gradients, with the global generators seeded per (seed, step, rank) and restored
    afterwards, so validation is reproducible and does not disturb training.
    """
    sampler = ValBatchSampler(
        len(val_set),  # type: ignore[arg-type]
        cfg.val_batch_size or cfg.batch_size,
        seed=cfg.seed,
        subsample=cfg.val_subsample,
        rank=ctx.rank,
        world_size=ctx.world_size,
    )
    loader = make_loader(
        val_set,
        sampler,
        num_workers=cfg.num_workers,
        loader_seed=mix_seed(cfg.seed, _VAL_SEED_TAG, ctx.rank),
        pin_memory=ctx.device.type == "cuda",
        collate_fn=collate_fn,
    )
    broadcast_buffers(ctx, model)
    sums: dict[str, float] = {}
    counts: dict[str, int] = {}
    model.eval()
    try:
        with torch.no_grad(), isolated_rng(mix_seed(cfg.seed, _VAL_SEED_TAG, step, ctx.rank), ctx.device):
            for batch in loader:
                batch = to_device(batch, ctx.device)
                n = batch_size_of(batch)
                with autocast():
                    metrics = model.validation_step(batch)
                for key, value in metrics.items():
                    sums[key] = sums.get(key, 0.0) + _scalar(value, key, model) * n
                    counts[key] = counts.get(key, 0) + n
    finally:
        model.train()
    total_sums: dict[str, float] = {}
    total_counts: dict[str, int] = {}
    for rank_sums, rank_counts in all_gather_objects(ctx, (sums, counts)):
        for key, value in rank_sums.items():
            total_sums[key] = total_sums.get(key, 0.0) + value
            total_counts[key] = total_counts.get(key, 0) + rank_counts[key]
    return {key: total_sums[key] / total_counts[key] for key in sorted(total_sums)}


def _scalar(value: float | torch.Tensor, key: str, model: nn.Module) -> float:
    if isinstance(value, torch.Tensor):
        if value.numel() != 1:
            raise ValueError(
                f"validation_step of {type(model).__name__} returned {key!r} with shape {tuple(value.shape)}; "
                "metrics must be scalars"
            )
        value = value.item()  # CPU-GPU sync, once per metric and batch
    return float(value)


def is_better(value: float, best: float | None, mode: str) -> bool:
    """Whether a validation value beats the best so far (`mode` "min" or "max"); NaN/inf never does."""
    if not math.isfinite(value):
        return False
    if best is None:
        return True
    return value < best if mode == "min" else value > best


@dataclasses.dataclass(frozen=True)
class Validation:
    """Outcome of `validate_for_best` at one step."""

    metrics: dict[str, float]
    """Mean of each validation metric (sorted by name)."""
    new_best: dict[str, Any] | None
    """The new ``{"metric", "mode", "value", "step"}`` when `cfg.best_metric` improved, else None."""


def validate_for_best(
    model: nn.Module,
    val_set: Dataset,
    cfg: TrainConfig,
    ctx: DistContext,
    step: int,
    autocast: Autocast,
    collate_fn: Callable[[list[Any]], Any] | None,
    ema: WeightEMA | None,
    best: dict[str, Any],
) -> Validation:
    """Validate (the weight average when there is one) and compare `cfg.best_metric` with the best so far.

    Raises:
        ValueError: `cfg.best_metric` is not among the validation metrics.
    """
    with ema.applied(model) if ema is not None else contextlib.nullcontext():
        metrics = validate(model, val_set, cfg, ctx, step, autocast, collate_fn)
    if cfg.best_metric not in metrics:
        raise ValueError(
            f"train.best_metric={cfg.best_metric!r} is not among the validation metrics {sorted(metrics)} of "
            f"{type(model).__name__}"
        )
    value = metrics[cfg.best_metric]
    if not is_better(value, best["value"], cfg.best_mode):
        return Validation(metrics, None)
    return Validation(metrics, {"metric": cfg.best_metric, "mode": cfg.best_mode, "value": value, "step": step})
