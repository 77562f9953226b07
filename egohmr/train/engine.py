"""The training loop shared by stage 1 and stage 2: `train(model, train_set, val_set, cfg, kind=...)`.

How it is run (the stage CLIs build the model and datasets and call `train`):

    egohmr train stage1 --config cpu                                   # one process, CPU or one GPU
    egohmr train stage1 --config official --set train.amp=true         # one GPU, mixed precision
    torchrun --nproc_per_node 4 -m egohmr.cli.main train stage1 --config official   # 4 GPUs, DDP
    egohmr train stage1 --config cpu --resume                          # continue <out_dir>/last.pt exactly

`_run` sets the run up (folder, seed, model, optimizer, resume, data, DDP); `_train_loop` reads top to bottom: set
the learning rate; fetch a batch and forward; stop on Ctrl-C (writing `last.pt`) or a non-finite loss; backward,
clip, step; update the weight average (optional, `train.ema_decay`); log; validate (the average when there is one)
and keep the best checkpoint; write the last checkpoint. There is no module-level state: everything lives in the
locals of one call, so tests call `train` directly on tiny models. docs/training.md describes the run folder, the
checkpoint format and the resume semantics.
"""

from __future__ import annotations

import contextlib
import dataclasses
import itertools
import logging
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any, NoReturn

import torch
from torch import nn
from torch.utils.data import Dataset

from egohmr.config.core import config_to_dict
from egohmr.train.config import TrainConfig, validate_train_config
from egohmr.train.data import to_device, train_batches
from egohmr.train.distributed import DistContext, any_rank_each, setup_distributed, teardown_distributed
from egohmr.train.ema import WeightEMA
from egohmr.train.interrupt import InterruptRequest, TrainingInterrupted, ctrl_c_requests
from egohmr.train.logging_utils import LogWindow, MetricsLogger, file_log
from egohmr.train.lr import lr_at
from egohmr.train.nonfinite import BatchPosition, NonFiniteLossError, check_grad_norm, raise_nonfinite_loss
from egohmr.train.optim import (
    MixedPrecision,
    backward_and_clip,
    optimizer_step,
    set_learning_rate,
)
from egohmr.train.protocol import TrainableModel, check_trainable
from egohmr.train.rng import capture_rng_state, restore_rng_state
from egohmr.train.run_setup import (
    check_run_dir,
    count_steps_per_epoch,
    log_start,
    open_run_files,
    prepare_model,
    progress_bar,
    wrap_for_ddp,
)
from egohmr.train.run_state import CheckpointWriter, ResumeState, plain_config, start_ema
from egohmr.train.validation import Validation, validate_for_best

__all__ = ["NonFiniteLossError", "TrainResult", "TrainableModel", "TrainingInterrupted", "train"]

logger = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class TrainResult:
    """Outcome of `train` (the same on every rank)."""

    run_dir: Path
    """The run folder (`cfg.out_dir`)."""
    step: int
    """Updates completed (`cfg.max_steps` after a complete run)."""
    start_step: int
    """Step the run started from (0, or the checkpoint's step on resume)."""
    best_value: float | None
    """Best value of `cfg.best_metric` so far (None without validation)."""
    best_step: int | None
    """Step of `best.pt`."""
    last_checkpoint: Path
    best_checkpoint: Path | None
    val_metrics: dict[str, float]
    """Metrics of the last validation of this call ({} if none ran)."""
    samples_per_s: float
    """Training throughput over this call (all ranks together, samples per second)."""


def train(
    model: nn.Module,
    train_set: Dataset,
    val_set: Dataset | None,
    cfg: TrainConfig,
    *,
    kind: str,
    full_config: Any = None,
    extras: Mapping[str, Any] | None = None,
    resume: bool = False,
    collate_fn: Callable[[list[Any]], Any] | None = None,
) -> TrainResult:
    """Train `model` on `train_set` for `cfg.max_steps` updates (see the module docstring for the commands).

    Args:
        model: an `nn.Module` implementing `TrainableModel`; moved to the run's device.
        train_set: map-style dataset (items are collated by `collate_fn`, default torch's `default_collate`).
        val_set: map-style validation dataset, or None to skip validation (then no `best.pt`).
        cfg: training settings; `cfg.out_dir` is the run folder.
        kind: checkpoint kind, e.g. "egohmr.stage1"; resuming from a checkpoint of another kind is an error.
        full_config: the resolved experiment config (dataclass or mapping), saved to config.yaml and every
            checkpoint; None saves `{"train": cfg}`.
        extras: plain values the model needs at test time (e.g. pose normalisation statistics), stored in every
            checkpoint under `extras`.
        resume: continue from `<out_dir>/last.pt` exactly (weights, optimizer, GradScaler, step, best value, RNG
            states of every rank, data position). Without it, a folder that already holds a run is refused.
        collate_fn: batch collation function for the DataLoaders.

    Returns:
        Where the run ended, its best value and checkpoints.

    Raises:
        FileNotFoundError: `resume` without `<out_dir>/last.pt`.
        ValueError: the run folder already holds a run (and not `resume`), the train set is smaller than one global
            batch, an empty validation set, `cfg.best_metric` is not a validation metric, a bad config value
            (ConfigError).
        NonFiniteLossError: a NaN/inf loss or gradient; nothing is written for that step.
        TrainingInterrupted: Ctrl-C (SIGINT) or a KeyboardInterrupt during a batch fetch or forward: `last.pt` was
            written for the updates completed, and the message says how to resume (a `KeyboardInterrupt` subclass).
        CheckpointError: `last.pt` is corrupt, foreign or of another kind.
    """
    validate_train_config(cfg)
    check_trainable(model)
    if val_set is not None and len(val_set) == 0:  # type: ignore[arg-type]
        raise ValueError(
            "the validation split has no frames: add frames to it (the val annotation npz) or check data.root; "
            f"best.pt is chosen on it by train.best_metric={cfg.best_metric}"
        )
    ctx = setup_distributed(cfg.device)
    try:
        return _run(model, train_set, val_set, cfg, ctx, kind, full_config, extras, resume, collate_fn)
    finally:
        teardown_distributed(ctx)


@dataclasses.dataclass(frozen=True)
class _Run:
    """What the loop works with, fixed for the whole run (built by `_run`)."""

    cfg: TrainConfig
    ctx: DistContext
    model: nn.Module
    """The unwrapped model (validation, weight average, auxiliary step)."""
    step_module: nn.Module
    """`TrainingStep(model)`, wrapped in DDP when distributed (the training forward)."""
    optimizer: torch.optim.Optimizer
    params: list[torch.Tensor]
    """Every parameter the optimizer updates (gradient clipping)."""
    precision: MixedPrecision
    ema: WeightEMA | None
    writer: CheckpointWriter
    metrics_log: MetricsLogger | None
    """Rank 0 only."""
    progress: Any
    """tqdm bar (rank 0 with `cfg.progress_bar`) or None."""
    interrupt: InterruptRequest
    val_set: Dataset | None
    collate_fn: Callable[[list[Any]], Any] | None
    run_dir: Path
    kind: str

    @property
    def last_path(self) -> Path:
        return self.run_dir / "last.pt"

    @property
    def best_path(self) -> Path:
        return self.run_dir / "best.pt"


def _result(
    run_dir: Path, start_step: int, step: int, best: dict[str, Any], val_metrics: dict[str, float], samples_per_s: float
) -> TrainResult:
    return TrainResult(
        run_dir=run_dir,
        start_step=start_step,
        step=step,
        best_value=best["value"],
        best_step=best["step"],
        last_checkpoint=run_dir / "last.pt",
        best_checkpoint=run_dir / "best.pt" if best["step"] is not None else None,
        val_metrics=val_metrics,
        samples_per_s=samples_per_s,
    )


def _run(
    model: nn.Module,
    train_set: Dataset,
    val_set: Dataset | None,
    cfg: TrainConfig,
    ctx: DistContext,
    kind: str,
    full_config: Any,
    extras: Mapping[str, Any] | None,
    resume: bool,
    collate_fn: Callable[[list[Any]], Any] | None,
) -> TrainResult:
    """Set the run up (folder, seed, model, optimizer, resume, data, DDP), then hand over to `_train_loop`."""
    device, run_dir = ctx.device, Path(cfg.out_dir)
    check_run_dir(run_dir, resume)
    run_dir.mkdir(parents=True, exist_ok=True)
    config_dict = plain_config(full_config) if full_config is not None else {"train": config_to_dict(cfg)}
    n_train = len(train_set)  # type: ignore[arg-type]
    steps_per_epoch = count_steps_per_epoch(n_train, cfg, ctx)

    with contextlib.ExitStack() as stack:
        if ctx.is_main:
            stack.enter_context(file_log(run_dir / "train.log"))
        optimizer, precision, state = prepare_model(model, cfg, ctx, kind, resume, config_dict)
        metrics_log = open_run_files(stack, run_dir, cfg, ctx, config_dict, state.step if resume else None)
        if state.step >= cfg.max_steps:
            logger.info("step %d >= train.max_steps=%d: nothing to train", state.step, cfg.max_steps)
            return _result(run_dir, state.step, state.step, state.best, {}, 0.0)

        # Data: a deterministic function of (seed, epoch), entered at the checkpoint's position
        batches = train_batches(
            train_set,
            batch_size=cfg.batch_size,
            num_workers=cfg.num_workers,
            seed=cfg.seed,
            rank=ctx.rank,
            world_size=ctx.world_size,
            start_step=state.step,
            pin_memory=device.type == "cuda",
            collate_fn=collate_fn,
        )
        stack.callback(batches.close)  # shuts the loader's workers down
        first = next(batches)
        # Data-dependent init (fresh runs), the weight average, then DDP
        if not resume and callable(getattr(model, "on_train_start", None)):
            model.on_train_start(to_device(first[3], device))
        ema = start_ema(model, cfg, state.checkpoint)
        step_module = wrap_for_ddp(model, cfg, ctx)
        if state.rng is not None:
            restore_rng_state(state.rng, device)  # last, so nothing above shifts the random streams

        params = [p for group in optimizer.param_groups for p in group["params"]]
        log_start(model, cfg, ctx, sum(p.numel() for p in params), n_train, steps_per_epoch, state.step)
        run = _Run(
            cfg=cfg,
            ctx=ctx,
            model=model,
            step_module=step_module,
            optimizer=optimizer,
            params=params,
            precision=precision,
            ema=ema,
            writer=CheckpointWriter(ctx, kind, model, optimizer, precision.scaler, config_dict, extras, ema),
            metrics_log=metrics_log,
            progress=progress_bar(stack, cfg, ctx, state.step),
            interrupt=stack.enter_context(ctrl_c_requests()),
            val_set=val_set,
            collate_fn=collate_fn,
            run_dir=run_dir,
            kind=kind,
        )
        return _train_loop(run, itertools.chain([first], batches), state)


def _train_loop(run: _Run, batches: Iterator[tuple[int, int, list[int], Any]], state: ResumeState) -> TrainResult:
    """One update per iteration from `state.step` to `cfg.max_steps`; log, validate and checkpoint at intervals."""
    cfg, ctx, model = run.cfg, run.ctx, run.model
    step, best, val_metrics = state.step, state.best, {}
    window = LogWindow(samples_per_step=cfg.batch_size * ctx.world_size)
    run_start = time.perf_counter()
    while step < cfg.max_steps:
        rng_at_start = capture_rng_state(ctx.device)  # what last.pt stores if this update is interrupted

        # 1. learning rate of this update: a pure function of the step
        lr = lr_at(step, cfg)
        set_learning_rate(run.optimizer, lr)

        # 2. batch and forward (through DDP when distributed); a KeyboardInterrupt here leaves `step` updates done
        out = None
        try:
            epoch, batch_in_epoch, indices, batch = next(batches)
            position = BatchPosition(epoch, batch_in_epoch, indices)
            batch = to_device(batch, ctx.device)
            with run.precision.autocast():
                out = run.step_module(batch, step)
        except KeyboardInterrupt:
            run.interrupt.requested = True

        # 3. stop before the update on Ctrl-C (writing last.pt) or a NaN/inf loss (writing nothing).
        # CPU-GPU sync point (every step), plus a two-element all-reduce under DDP so all ranks stop together.
        loss = _loss_of(out, model) if out is not None else None
        local_bad = loss is not None and not bool(torch.isfinite(loss.detach()).all())
        interrupted, loss_bad = any_rank_each(ctx, [run.interrupt.requested, local_bad])
        if interrupted:
            _stop_interrupted(run, step, best, rng_at_start)
        if loss_bad:
            raise_nonfinite_loss(ctx, step, position, out, batch, local_bad, run.last_path)

        # 4. backward, unscale, clip, step (GradScaler is a no-op without fp16 AMP, which skips inf gradients by
        # design; in float32 a non-finite gradient norm stops the run: a sync point)
        grad_norm = backward_and_clip(loss, run.optimizer, run.precision.scaler, run.params, cfg.grad_clip_norm)
        if grad_norm is not None and not run.precision.scaler.is_enabled():
            check_grad_norm(grad_norm, ctx, step, position)
        optimizer_step(run.optimizer, run.precision.scaler)
        if run.ema is not None:
            run.ema.update(model)
        auxiliary_step = getattr(model, "auxiliary_step", None)
        auxiliary = auxiliary_step(batch, step) if callable(auxiliary_step) else None
        step += 1

        # 5. log: averages over the interval (rank 0's values), LR and throughput
        window.add(out, grad_norm, auxiliary)
        if step % cfg.log_every_steps == 0 or step == cfg.max_steps:
            _log_train(run, step, window.close(lr, epoch))
        if run.progress is not None:
            run.progress.update(1)

        # 6. validate; a better `best_metric` writes best.pt
        if run.val_set is not None and (step % cfg.val_every_steps == 0 or step == cfg.max_steps):
            validation = validate_for_best(
                model, run.val_set, cfg, ctx, step, run.precision.autocast, run.collate_fn, run.ema, best
            )
            _log_validation(run, step, validation)
            val_metrics = validation.metrics
            if validation.new_best is not None:
                best = validation.new_best
                run.writer.write(run.best_path, step=step, best=best)

        # 7. last.pt (every rank takes part: RNG states are gathered)
        if step % cfg.ckpt_every_steps == 0 or step == cfg.max_steps:
            run.writer.write(run.last_path, step=step, best=best)

    samples_per_s = (step - state.step) * window.samples_per_step / max(time.perf_counter() - run_start, 1e-9)
    logger.info(
        "finished at step %d (%.1f samples/s); best %s = %s at step %s",
        step,
        samples_per_s,
        cfg.best_metric,
        best["value"],
        best["step"],
    )
    return _result(run.run_dir, state.step, step, best, val_metrics, samples_per_s)


def _loss_of(out: Mapping[str, torch.Tensor], model: nn.Module) -> torch.Tensor:
    if "loss" not in out:
        raise KeyError(f"training_step of {type(model).__name__} returned {sorted(out)}, without 'loss'")
    return out["loss"]


def _stop_interrupted(run: _Run, step: int, best: dict[str, Any], rng_at_start: dict[str, Any]) -> NoReturn:
    """Write last.pt for the `step` updates done (with the random state from before the interrupted update), raise."""
    run.writer.write(run.last_path, step=step, best=best, rng=rng_at_start)
    error = TrainingInterrupted(step, run.run_dir, run.last_path, run.kind.rpartition(".")[2])
    if run.ctx.is_main:
        logger.warning("%s", error)
    raise error


def _log_train(run: _Run, step: int, values: dict[str, float]) -> None:
    if run.metrics_log is None:
        return
    run.metrics_log.log(step, "train", values)
    terms = " ".join(f"{k}={v:.4g}" for k, v in values.items() if k not in ("lr", "epoch"))
    logger.info("step %d/%d lr=%.3g %s", step, run.cfg.max_steps, values["lr"], terms)
    if run.progress is not None:
        run.progress.set_postfix(loss=f"{values['loss']:.4g}", samples_s=f"{values['samples_per_s']:.1f}")


def _log_validation(run: _Run, step: int, validation: Validation) -> None:
    if run.metrics_log is None:
        return
    run.metrics_log.log(step, "val", validation.metrics)
    logger.info(
        "validation at step %d: %s%s",
        step,
        " ".join(f"{k}={v:.5g}" for k, v in validation.metrics.items()),
        f" (new best {run.cfg.best_metric})" if validation.new_best is not None else "",
    )
