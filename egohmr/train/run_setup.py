"""Setting a training run up: the run folder, the model and optimizer (restored on resume), the run files, DDP."""

from __future__ import annotations

import contextlib
import logging
from pathlib import Path
from typing import Any

import torch
import yaml
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from egohmr.files import atomic_write_text
from egohmr.train.config import TrainConfig
from egohmr.train.distributed import DistContext
from egohmr.train.logging_utils import MetricsLogger
from egohmr.train.optim import MixedPrecision, build_optimizer
from egohmr.train.protocol import TrainingStep
from egohmr.train.rng import seed_everything
from egohmr.train.run_state import ResumeState, restore_run_state

__all__ = [
    "check_run_dir",
    "count_steps_per_epoch",
    "log_start",
    "open_run_files",
    "prepare_model",
    "progress_bar",
    "wrap_for_ddp",
]

logger = logging.getLogger(__name__)


def check_run_dir(run_dir: Path, resume: bool) -> None:
    """A fresh run never overwrites another; a resumed run needs its last.pt."""
    last_path, best_path = run_dir / "last.pt", run_dir / "best.pt"
    if resume and not last_path.is_file():
        raise FileNotFoundError(
            f"resume: no checkpoint {last_path}; start without --resume, or set train.out_dir to the run folder"
        )
    if not resume and (last_path.exists() or best_path.exists()):
        raise ValueError(
            f"{run_dir} already holds a run ({last_path.name}); pass --resume to continue it or choose another "
            "train.out_dir"
        )


def count_steps_per_epoch(n_train: int, cfg: TrainConfig, ctx: DistContext) -> int:
    """Global batches per epoch (the remainder is dropped); ValueError if the set is smaller than one."""
    steps_per_epoch = n_train // (cfg.batch_size * ctx.world_size)
    if steps_per_epoch == 0:
        raise ValueError(
            f"the training set has {n_train} items, fewer than one global batch of {cfg.batch_size} x "
            f"{ctx.world_size} process(es); lower train.batch_size"
        )
    return steps_per_epoch


def wrap_for_ddp(model: nn.Module, cfg: TrainConfig, ctx: DistContext) -> nn.Module:
    """The training forward; under DDP wrapping it broadcasts rank 0's weights and buffers."""
    step_module: nn.Module = TrainingStep(model)
    if ctx.is_distributed:
        step_module = DistributedDataParallel(
            step_module,
            device_ids=[ctx.device.index] if ctx.device.type == "cuda" else None,
            find_unused_parameters=cfg.ddp_find_unused_parameters,
        )
    return step_module


def progress_bar(stack: contextlib.ExitStack, cfg: TrainConfig, ctx: DistContext, start_step: int) -> Any:
    if not (ctx.is_main and cfg.progress_bar):
        return None
    from tqdm.auto import tqdm
    from tqdm.contrib.logging import logging_redirect_tqdm

    progress = tqdm(total=cfg.max_steps, initial=start_step, desc="train", dynamic_ncols=True)
    stack.callback(progress.close)
    stack.enter_context(logging_redirect_tqdm())  # console log lines print above the bar, not through it
    return progress


def prepare_model(
    model: nn.Module, cfg: TrainConfig, ctx: DistContext, kind: str, resume: bool, config_dict: dict[str, Any]
) -> tuple[torch.optim.Optimizer, MixedPrecision, ResumeState]:
    """Seed, move the model, build the optimizer and mixed precision; on resume restore them from last.pt."""
    seed_everything(cfg.seed + ctx.rank)  # per-rank stream for dropout and sampling inside the model
    model.to(ctx.device)
    model.train()
    optimizer = build_optimizer(model, cfg)
    precision = MixedPrecision.for_run(cfg, ctx.device)
    if not resume:
        return optimizer, precision, ResumeState.fresh(cfg)
    # weights, optimizer, scaler, step, best, RNG (the data position follows from the step)
    state = restore_run_state(
        Path(cfg.out_dir) / "last.pt",
        kind=kind,
        model=model,
        optimizer=optimizer,
        scaler=precision.scaler,
        cfg=cfg,
        ctx=ctx,
        config=config_dict,
    )
    return optimizer, precision, state


def open_run_files(
    stack: contextlib.ExitStack,
    run_dir: Path,
    cfg: TrainConfig,
    ctx: DistContext,
    config_dict: dict[str, Any],
    resume_step: int | None,
) -> MetricsLogger | None:
    """On rank 0: write config.yaml and open metrics.jsonl (and TensorBoard); None on other ranks."""
    if not ctx.is_main:
        return None
    atomic_write_text(run_dir / "config.yaml", yaml.safe_dump(config_dict, sort_keys=True))
    metrics_log = MetricsLogger(run_dir, cfg.tensorboard, resume_step=resume_step)
    stack.callback(metrics_log.close)
    return metrics_log


def log_start(
    model: nn.Module,
    cfg: TrainConfig,
    ctx: DistContext,
    n_params: int,
    n_train: int,
    steps_per_epoch: int,
    start_step: int,
) -> None:
    logger.info(
        "training %s on %s x %d process(es): %d trainable parameters, %d items, %d steps/epoch, steps %d -> %d, "
        "run folder %s",
        type(model).__name__,
        ctx.device,
        ctx.world_size,
        n_params,
        n_train,
        steps_per_epoch,
        start_step,
        cfg.max_steps,
        cfg.out_dir,
    )
