"""The state a training run keeps in `last.pt` / `best.pt`: restoring it on resume, and writing it.

`restore_run_state` puts weights, optimizer, GradScaler and the model's own training state back and returns the
rest (`ResumeState`: step, best value, this rank's RNG state); `start_ema` restores the weight average;
`CheckpointWriter` holds everything a checkpoint needs apart from its path, step and best value.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from egohmr.config.core import config_to_dict
from egohmr.train.checkpoint import (
    Checkpoint,
    build_checkpoint,
    load_checkpoint,
    load_state_dict_checked,
    save_checkpoint,
)
from egohmr.train.config import TrainConfig
from egohmr.train.distributed import DistContext, all_gather_objects, barrier
from egohmr.train.ema import WeightEMA
from egohmr.train.rng import capture_rng_state, mix_seed, seed_everything

__all__ = ["CheckpointWriter", "ResumeState", "config_changes", "plain_config", "restore_run_state", "start_ema"]

logger = logging.getLogger(__name__)


@dataclasses.dataclass
class ResumeState:
    """Where a run starts: fresh (`ResumeState.fresh`) or from its `last.pt` (`restore_run_state`)."""

    step: int
    """Updates completed."""
    best: dict[str, Any]
    """``{"metric", "mode", "value", "step"}`` of `best.pt` (value and step None before the first validation)."""
    rng: dict[str, Any] | None = None
    """This rank's saved generator states, restored right before the loop; None for a fresh or re-seeded run."""
    checkpoint: Checkpoint | None = None
    """The loaded `last.pt` (None for a fresh run)."""

    @classmethod
    def fresh(cls, cfg: TrainConfig) -> ResumeState:
        return cls(step=0, best={"metric": cfg.best_metric, "mode": cfg.best_mode, "value": None, "step": None})


def _flatten(data: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in data.items():
        name = f"{prefix}.{key}" if prefix else str(key)
        if isinstance(value, Mapping):
            flat.update(_flatten(value, name))
        else:
            flat[name] = value
    return flat


def plain_config(value: Any) -> Any:
    """Plain YAML/JSON-safe copy of a config (dataclasses, mappings, tuples, paths)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return config_to_dict(value)
    if isinstance(value, Mapping):
        return {str(k): plain_config(v) for k, v in value.items()}
    if isinstance(value, tuple | list):
        return [plain_config(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    return value


def config_changes(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    """``"a.b: old -> new"`` for every dotted key whose value differs between two nested config dicts."""
    a, b = _flatten(old), _flatten(new)
    return [
        f"{k}: {a.get(k, '<absent>')!r} -> {b.get(k, '<absent>')!r}"
        for k in sorted(set(a) | set(b))
        if a.get(k) != b.get(k)
    ]


def restore_run_state(
    last_path: Path,
    *,
    kind: str,
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    scaler: torch.amp.GradScaler,
    cfg: TrainConfig,
    ctx: DistContext,
    config: dict[str, Any],
) -> ResumeState:
    """Load `last_path` into the model (trained weights), optimizer, scaler and the model's own training state.

    The best value is kept only if `cfg` still selects by the same metric and mode. RNG states are returned for the
    caller to restore last; when the world size changed they cannot be, and the generators are re-seeded per
    (seed, step, rank) here instead (with a warning: the data order then differs from an uninterrupted run).

    Raises:
        ValueError: the file holds no optimizer state. CheckpointError: see `load_checkpoint`.
    """
    ckpt = load_checkpoint(last_path, expected_kind=kind)
    trained = ckpt.train_model if ckpt.train_model is not None else ckpt.model
    load_state_dict_checked(model, trained, source=str(last_path))
    if ckpt.optimizer is None:
        raise ValueError(f"{last_path} holds no optimizer state (a weights-only export?); cannot resume")
    optimizer.load_state_dict(ckpt.optimizer)
    if ckpt.scaler:
        scaler.load_state_dict(ckpt.scaler)
    load_train_state = getattr(model, "load_train_state_dict", None)
    if ckpt.model_train_state is not None and callable(load_train_state):
        load_train_state(ckpt.model_train_state)
    state = ResumeState.fresh(cfg)
    state.step, state.checkpoint = ckpt.step, ckpt
    if ckpt.best.get("metric") == cfg.best_metric and ckpt.best.get("mode") == cfg.best_mode:
        state.best = dict(ckpt.best)
    else:
        logger.warning(
            "best metric changed from %s (%s) to %s (%s): best.pt will be replaced at the next validation",
            ckpt.best.get("metric"),
            ckpt.best.get("mode"),
            cfg.best_metric,
            cfg.best_mode,
        )
    if ckpt.rng is not None and len(ckpt.rng) == ctx.world_size:
        state.rng = ckpt.rng[ctx.rank]
    else:
        logger.warning(
            "checkpoint holds RNG states of %d rank(s), this run has %d: random streams are re-seeded and "
            "the data order differs from an uninterrupted run",
            len(ckpt.rng) if ckpt.rng is not None else 0,
            ctx.world_size,
        )
        seed_everything(mix_seed(cfg.seed, state.step, ctx.rank))
    changes = config_changes(ckpt.config, config)
    if changes and ctx.is_main:
        logger.warning("config differs from the checkpoint's: %s", "; ".join(changes))
    logger.info("resuming %s from step %d (best %s = %s)", last_path, state.step, cfg.best_metric, state.best["value"])
    return state


def start_ema(model: nn.Module, cfg: TrainConfig, ckpt: Checkpoint | None) -> WeightEMA | None:
    """The weight average of the run (None when ``train.ema_decay`` is unset), restored from a resumed checkpoint."""
    if cfg.ema_decay is None:
        if ckpt is not None and ckpt.ema is not None:
            logger.warning("train.ema_decay is unset: the checkpoint's weight average is dropped, training goes on")
        return None
    ema = WeightEMA(model, cfg.ema_decay)
    if ckpt is not None:
        if ckpt.ema is None:
            logger.warning("%s holds no weight average: it starts now from the resumed weights", ckpt.path)
        else:
            ema.load(ckpt.model, ckpt.ema)
    return ema


@dataclasses.dataclass(frozen=True)
class CheckpointWriter:
    """Writes the run's checkpoints; everything but the path, step, best value and RNG states is fixed per run."""

    ctx: DistContext
    kind: str
    model: nn.Module
    """The unwrapped module (not DDP)."""
    optimizer: torch.optim.Optimizer
    scaler: torch.amp.GradScaler
    config: dict[str, Any]
    extras: Mapping[str, Any] | None
    ema: WeightEMA | None

    def write(self, path: Path, *, step: int, best: dict[str, Any], rng: dict[str, Any] | None = None) -> None:
        """Gather every rank's RNG state, write `path` atomically on rank 0, then wait for all ranks (a collective).

        With weight averaging the file's ``model`` is the average and ``train_model`` the trained weights.

        Args:
            rng: this rank's generator states to store (`capture_rng_state`); None captures them now.
        """
        rng_states = all_gather_objects(self.ctx, rng if rng is not None else capture_rng_state(self.ctx.device))
        if self.ctx.is_main:
            model, ema = self.model, self.ema
            train_state = getattr(model, "train_state_dict", None)
            payload = build_checkpoint(
                kind=self.kind,
                model_state=ema.shadow if ema is not None else model.state_dict(),
                optimizer_state=self.optimizer.state_dict(),
                scaler_state=self.scaler.state_dict(),
                step=step,
                best=best,
                config=self.config,
                extras=self.extras,
                rng=rng_states,
                model_train_state=train_state() if callable(train_state) else None,
                train_model_state=model.state_dict() if ema is not None else None,
                ema_state=ema.state_dict() if ema is not None else None,
            )
            save_checkpoint(payload, path)
        barrier(self.ctx)
