"""The training loop shared by stage 1 and stage 2: `train(model, train_set, val_set, cfg, kind=...)`.

How it is run (the stage CLIs build the model and datasets and call `train`):

    egohmr train stage1 --config cpu                                   # one process, CPU or one GPU
    egohmr train stage1 --config official --set train.amp=true         # one GPU, mixed precision
    torchrun --nproc_per_node 4 -m egohmr.cli.main train stage1 --config official   # 4 GPUs, DDP
    egohmr train stage1 --config cpu --resume                          # continue <out_dir>/last.pt exactly

The loop reads top to bottom: set the learning rate; forward; stop on a non-finite loss; backward, clip, step;
update the weight average (optional, `train.ema_decay`); log; validate (the average when there is one) and keep the
best checkpoint; write the last checkpoint. There is no module-level state: everything lives
in `train`'s locals, so tests call it directly on tiny models. docs/training.md describes the run folder, the
checkpoint format and the resume semantics.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import logging
import math
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import torch
import yaml
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import Dataset

from egohmr.config.core import config_to_dict
from egohmr.files import atomic_write_text
from egohmr.train.checkpoint import (
    Checkpoint,
    build_checkpoint,
    load_checkpoint,
    load_state_dict_checked,
    save_checkpoint,
)
from egohmr.train.config import TrainConfig, validate_train_config
from egohmr.train.data import (
    EpochBatchSampler,
    ValBatchSampler,
    batch_size_of,
    make_loader,
    nonfinite_keys,
    to_device,
)
from egohmr.train.distributed import (
    DistContext,
    all_gather_objects,
    any_rank,
    barrier,
    broadcast_buffers,
    setup_distributed,
    teardown_distributed,
)
from egohmr.train.ema import WeightEMA
from egohmr.train.logging_utils import MetricsLogger, file_log
from egohmr.train.lr import lr_at
from egohmr.train.rng import capture_rng_state, isolated_rng, mix_seed, restore_rng_state, seed_everything

__all__ = ["NonFiniteLossError", "TrainResult", "TrainableModel", "train"]

logger = logging.getLogger(__name__)

_VAL_SEED_TAG = 0x7661  # separates validation seeds from training seeds in mix_seed


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


class NonFiniteLossError(ValueError):
    """The training loss became NaN or inf; the message names the step, rank, dataset indices and batch keys."""


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


class _TrainingStep(nn.Module):
    """Routes `forward` to `model.training_step`, so DDP's gradient-sync hooks see the training computation."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, batch: Any, step: int) -> dict[str, torch.Tensor]:
        return self.model.training_step(batch, step)


def _check_model(model: Any) -> None:
    if not isinstance(model, nn.Module):
        raise TypeError(f"train: the model must be a torch.nn.Module, got {type(model).__name__}")
    missing = [name for name in ("training_step", "validation_step") if not callable(getattr(model, name, None))]
    if missing:
        raise TypeError(f"train: {type(model).__name__} lacks {missing} (see egohmr.train.TrainableModel)")


def _plain_config(value: Any) -> Any:
    """Plain YAML/JSON-safe copy of a config (dataclasses, mappings, tuples, paths)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return config_to_dict(value)
    if isinstance(value, Mapping):
        return {str(k): _plain_config(v) for k, v in value.items()}
    if isinstance(value, tuple | list):
        return [_plain_config(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    return value


def _flatten(data: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in data.items():
        name = f"{prefix}.{key}" if prefix else str(key)
        if isinstance(value, Mapping):
            flat.update(_flatten(value, name))
        else:
            flat[name] = value
    return flat


def _config_changes(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    a, b = _flatten(old), _flatten(new)
    return [
        f"{k}: {a.get(k, '<absent>')!r} -> {b.get(k, '<absent>')!r}"
        for k in sorted(set(a) | set(b))
        if a.get(k) != b.get(k)
    ]


def _parameter_groups(model: nn.Module, cfg: TrainConfig) -> list[dict[str, Any]]:
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


def _train_batches(
    train_set: Dataset,
    cfg: TrainConfig,
    ctx: DistContext,
    start_step: int,
    steps_per_epoch: int,
    collate_fn: Callable[[list[Any]], Any] | None,
) -> Iterator[tuple[int, int, list[int], Any]]:
    """Endless (epoch, batch-in-epoch, dataset indices, batch) stream, starting where `start_step` left off."""
    epoch, first = divmod(start_step, steps_per_epoch)
    set_epoch = getattr(train_set, "set_epoch", None)
    while True:
        if callable(set_epoch):
            set_epoch(epoch)  # datasets that seed augmentation per (seed, epoch, item); before workers start
        sampler = EpochBatchSampler(
            len(train_set),  # type: ignore[arg-type]
            cfg.batch_size,
            seed=cfg.seed,
            epoch=epoch,
            rank=ctx.rank,
            world_size=ctx.world_size,
            start_batch=first,
        )
        loader = make_loader(
            train_set,
            sampler,
            num_workers=cfg.num_workers,
            loader_seed=mix_seed(cfg.seed, epoch, ctx.rank),
            pin_memory=ctx.device.type == "cuda",
            collate_fn=collate_fn,
        )
        # Workers prefetch the next batches while the current step runs on the device.
        for k, batch in enumerate(loader, start=first):
            yield epoch, k, sampler.indices(k), batch
        epoch, first = epoch + 1, 0


def _validate(
    model: nn.Module,
    val_set: Dataset,
    cfg: TrainConfig,
    ctx: DistContext,
    step: int,
    autocast: Callable[[], contextlib.AbstractContextManager[Any]],
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
                    if isinstance(value, torch.Tensor):
                        if value.numel() != 1:
                            raise ValueError(
                                f"validation_step of {type(model).__name__} returned {key!r} with shape "
                                f"{tuple(value.shape)}; metrics must be scalars"
                            )
                        value = value.item()  # CPU-GPU sync, once per metric and batch
                    sums[key] = sums.get(key, 0.0) + float(value) * n
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


def _start_ema(model: nn.Module, cfg: TrainConfig, ckpt: Checkpoint | None) -> WeightEMA | None:
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


def _is_better(value: float, best: float | None, mode: str) -> bool:
    if not math.isfinite(value):
        return False
    if best is None:
        return True
    return value < best if mode == "min" else value > best


def _write_checkpoint(
    path: Path,
    *,
    ctx: DistContext,
    kind: str,
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    scaler: torch.amp.GradScaler,
    step: int,
    best: dict[str, Any],
    config: dict[str, Any],
    extras: Mapping[str, Any] | None,
    ema: WeightEMA | None,
) -> None:
    """Gather every rank's RNG state, write `path` atomically on rank 0, then wait for all ranks (a collective).

    With weight averaging the file's ``model`` is the average and ``train_model`` the trained weights.
    """
    rng_states = all_gather_objects(ctx, capture_rng_state(ctx.device))
    if ctx.is_main:
        train_state = getattr(model, "train_state_dict", None)
        payload = build_checkpoint(
            kind=kind,
            model_state=ema.shadow if ema is not None else model.state_dict(),
            optimizer_state=optimizer.state_dict(),
            scaler_state=scaler.state_dict(),
            step=step,
            best=best,
            config=config,
            extras=extras,
            rng=rng_states,
            model_train_state=train_state() if callable(train_state) else None,
            train_model_state=model.state_dict() if ema is not None else None,
            ema_state=ema.state_dict() if ema is not None else None,
        )
        save_checkpoint(payload, path)
    barrier(ctx)


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
            batch, `cfg.best_metric` is not a validation metric, a bad config value (ConfigError).
        NonFiniteLossError: a NaN/inf loss or gradient; nothing is written for that step.
        CheckpointError: `last.pt` is corrupt, foreign or of another kind.
    """
    validate_train_config(cfg)
    _check_model(model)
    ctx = setup_distributed(cfg.device)
    try:
        return _run(model, train_set, val_set, cfg, ctx, kind, full_config, extras, resume, collate_fn)
    finally:
        teardown_distributed(ctx)


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
    device = ctx.device
    run_dir = Path(cfg.out_dir)
    last_path, best_path = run_dir / "last.pt", run_dir / "best.pt"

    # ---- 1. Run folder: a fresh run never overwrites another; a resumed run needs its last.pt -----------------
    if resume and not last_path.is_file():
        raise FileNotFoundError(
            f"resume: no checkpoint {last_path}; start without --resume, or set train.out_dir to the run folder"
        )
    if not resume and (last_path.exists() or best_path.exists()):
        raise ValueError(
            f"{run_dir} already holds a run ({last_path.name}); pass --resume to continue it or choose another "
            "train.out_dir"
        )
    run_dir.mkdir(parents=True, exist_ok=True)
    config_dict = _plain_config(full_config) if full_config is not None else {"train": config_to_dict(cfg)}

    n_train = len(train_set)  # type: ignore[arg-type]
    steps_per_epoch = n_train // (cfg.batch_size * ctx.world_size)
    if steps_per_epoch == 0:
        raise ValueError(
            f"the training set has {n_train} items, fewer than one global batch of {cfg.batch_size} x "
            f"{ctx.world_size} process(es); lower train.batch_size"
        )

    with contextlib.ExitStack() as stack:
        if ctx.is_main:
            stack.enter_context(file_log(run_dir / "train.log"))

        # ---- 2. Seed, model, optimizer, mixed precision ------------------------------------------------------
        seed_everything(cfg.seed + ctx.rank)  # per-rank stream for dropout and sampling inside the model
        model.to(device)
        model.train()
        optimizer = torch.optim.AdamW(
            _parameter_groups(model, cfg), lr=cfg.lr, betas=cfg.adam_betas, weight_decay=cfg.weight_decay
        )
        params = [p for group in optimizer.param_groups for p in group["params"]]
        use_amp = cfg.amp and device.type == "cuda"
        if cfg.amp and not use_amp:
            logger.info("train.amp applies to CUDA only: training in float32 on %s", device)
        amp_dtype = torch.bfloat16 if cfg.amp_dtype == "bfloat16" else torch.float16
        scaler = torch.amp.GradScaler(device.type, enabled=use_amp and amp_dtype == torch.float16)

        def autocast() -> contextlib.AbstractContextManager[Any]:
            return torch.autocast(device_type=device.type, dtype=amp_dtype, enabled=use_amp)

        # ---- 3. Resume: weights, optimizer, scaler, step, best, RNG (the data position follows from the step) --
        start_step = 0
        best: dict[str, Any] = {"metric": cfg.best_metric, "mode": cfg.best_mode, "value": None, "step": None}
        rng_to_restore = None
        ckpt: Checkpoint | None = None
        if resume:
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
            start_step = ckpt.step
            if ckpt.best.get("metric") == cfg.best_metric and ckpt.best.get("mode") == cfg.best_mode:
                best = dict(ckpt.best)
            else:
                logger.warning(
                    "best metric changed from %s (%s) to %s (%s): best.pt will be replaced at the next validation",
                    ckpt.best.get("metric"),
                    ckpt.best.get("mode"),
                    cfg.best_metric,
                    cfg.best_mode,
                )
            if ckpt.rng is not None and len(ckpt.rng) == ctx.world_size:
                rng_to_restore = ckpt.rng[ctx.rank]
            else:
                saved = len(ckpt.rng) if ckpt.rng is not None else 0
                logger.warning(
                    "checkpoint holds RNG states of %d rank(s), this run has %d: random streams are re-seeded and "
                    "the data order differs from an uninterrupted run",
                    saved,
                    ctx.world_size,
                )
                seed_everything(mix_seed(cfg.seed, start_step, ctx.rank))
            changes = _config_changes(ckpt.config, config_dict)
            if changes and ctx.is_main:
                logger.warning("config differs from the checkpoint's: %s", "; ".join(changes))
            logger.info(
                "resuming %s from step %d (best %s = %s)", last_path, start_step, cfg.best_metric, best["value"]
            )

        if ctx.is_main:
            atomic_write_text(run_dir / "config.yaml", yaml.safe_dump(config_dict, sort_keys=True))
            metrics_log = MetricsLogger(run_dir, cfg.tensorboard, resume_step=start_step if resume else None)
            stack.callback(metrics_log.close)

        result_common = {"run_dir": run_dir, "start_step": start_step}
        if start_step >= cfg.max_steps:
            logger.info("step %d >= train.max_steps=%d: nothing to train", start_step, cfg.max_steps)
            return TrainResult(
                **result_common,
                step=start_step,
                best_value=best["value"],
                best_step=best["step"],
                last_checkpoint=last_path,
                best_checkpoint=best_path if best["step"] is not None else None,
                val_metrics={},
                samples_per_s=0.0,
            )

        # ---- 4. Data: a deterministic function of (seed, epoch), entered at the checkpoint's position ----------
        batches = _train_batches(train_set, cfg, ctx, start_step, steps_per_epoch, collate_fn)
        stack.callback(batches.close)  # shuts the loader's workers down
        pending = next(batches)

        # ---- 5. Data-dependent init (fresh runs), then DDP (broadcasts rank 0's weights and buffers) ------------
        if not resume and callable(getattr(model, "on_train_start", None)):
            model.on_train_start(to_device(pending[3], device))
        ema = _start_ema(model, cfg, ckpt)
        # Everything a checkpoint holds apart from its path, step and best value is fixed for the run.
        save_checkpoint_at = functools.partial(
            _write_checkpoint,
            ctx=ctx,
            kind=kind,
            model=model,
            optimizer=optimizer,
            scaler=scaler,
            config=config_dict,
            extras=extras,
            ema=ema,
        )
        step_module: nn.Module = _TrainingStep(model)
        if ctx.is_distributed:
            step_module = DistributedDataParallel(
                step_module,
                device_ids=[device.index] if device.type == "cuda" else None,
                find_unused_parameters=cfg.ddp_find_unused_parameters,
            )
        if rng_to_restore is not None:
            restore_rng_state(rng_to_restore, device)  # last, so nothing above shifts the random streams

        n_params = sum(p.numel() for p in params)
        logger.info(
            "training %s on %s x %d process(es): %d trainable parameters, %d items, %d steps/epoch, steps %d -> %d, "
            "run folder %s",
            type(model).__name__,
            device,
            ctx.world_size,
            n_params,
            n_train,
            steps_per_epoch,
            start_step,
            cfg.max_steps,
            run_dir,
        )

        # ---- 6. The loop ---------------------------------------------------------------------------------------
        step = start_step
        window: dict[str, torch.Tensor] = {}  # sums of logged terms since the last log line (kept on the device)
        window_aux: dict[str, float] = {}
        window_steps, window_start = 0, time.perf_counter()
        run_start, val_metrics = time.perf_counter(), {}
        samples_per_step = cfg.batch_size * ctx.world_size
        progress = None
        if ctx.is_main and cfg.progress_bar:
            from tqdm.auto import tqdm
            from tqdm.contrib.logging import logging_redirect_tqdm

            progress = tqdm(total=cfg.max_steps, initial=start_step, desc="train", dynamic_ncols=True)
            stack.callback(progress.close)
            stack.enter_context(logging_redirect_tqdm())  # console log lines print above the bar, not through it

        while step < cfg.max_steps:
            epoch, batch_in_epoch, indices, batch = pending if pending is not None else next(batches)
            pending = None
            batch = to_device(batch, device)

            # 6a. learning rate of this update: a pure function of the step
            lr = lr_at(step, cfg)
            for group in optimizer.param_groups:
                group["lr"] = lr * group["lr_scale"]

            # 6b. forward (through DDP when distributed)
            with autocast():
                out = step_module(batch, step)
            if "loss" not in out:
                raise KeyError(f"training_step of {type(model).__name__} returned {sorted(out)}, without 'loss'")
            loss = out["loss"]

            # 6c. a NaN/inf loss stops the run before anything is updated or written.
            # CPU-GPU sync point (every step), plus a one-element all-reduce under DDP so all ranks stop together.
            local_bad = not bool(torch.isfinite(loss.detach()).all())
            if any_rank(ctx, local_bad):
                reports = all_gather_objects(
                    ctx,
                    {
                        "rank": ctx.rank,
                        "bad": local_bad,
                        "loss": float(loss.detach().float().mean()),
                        "terms": sorted(
                            k
                            for k, v in out.items()
                            if isinstance(v, torch.Tensor)
                            and v.is_floating_point()
                            and not bool(torch.isfinite(v.detach()).all())
                        ),
                        "indices": indices,
                        "batch_keys": nonfinite_keys(batch),
                    },
                )
                details = "; ".join(
                    f"rank {r['rank']}: loss={r['loss']}, non-finite terms {r['terms']}, dataset indices "
                    f"{r['indices']}, batch keys with NaN/inf {r['batch_keys'] or 'none'}"
                    for r in reports
                    if r["bad"]
                )
                message = (
                    f"non-finite training loss at step {step + 1} (the update after step {step}; epoch {epoch}, "
                    f"batch {batch_in_epoch} of the epoch): {details}. Stopped before the update: no checkpoint was "
                    f"written or overwritten ({last_path} holds the last good state)"
                )
                logger.error(message)
                raise NonFiniteLossError(message)

            # 6d. backward, unscale, clip, step (GradScaler is a no-op without fp16 AMP)
            scaler.scale(loss).backward()
            grad_norm = None
            if cfg.grad_clip_norm is not None:
                scaler.unscale_(optimizer)
                grad_norm = torch.nn.utils.clip_grad_norm_(params, cfg.grad_clip_norm)
                # fp16 AMP skips steps with inf gradients by design; in fp32 they are an error (sync point).
                if not scaler.is_enabled() and not bool(torch.isfinite(grad_norm)):
                    message = (
                        f"non-finite gradient norm at step {step + 1} (epoch {epoch}, batch {batch_in_epoch}, dataset "
                        f"indices {indices} on rank {ctx.rank}); stopped before the update, nothing was written"
                    )
                    logger.error(message)
                    raise NonFiniteLossError(message)
            scaler.step(optimizer)
            scaler.update()
            optimizer.zero_grad(set_to_none=True)
            if ema is not None:
                ema.update(model)
            auxiliary_step = getattr(model, "auxiliary_step", None)
            if callable(auxiliary_step):
                for key, value in (auxiliary_step(batch, step) or {}).items():
                    window_aux[key] = window_aux.get(key, 0.0) + float(value)
            step += 1

            # 6e. log: averages over the interval (rank 0's values), LR and throughput
            for key, value in out.items():
                if isinstance(value, torch.Tensor) and value.ndim == 0:
                    window[key] = window.get(key, 0.0) + value.detach().float()
            if grad_norm is not None:
                window["grad_norm"] = window.get("grad_norm", 0.0) + grad_norm.detach().float()
            window_steps += 1
            if step % cfg.log_every_steps == 0 or step == cfg.max_steps:
                elapsed = time.perf_counter() - window_start
                values = {k: float(v) / window_steps for k, v in window.items()}  # CPU-GPU sync point
                values.update({k: v / window_steps for k, v in window_aux.items()})
                values["lr"] = lr
                values["samples_per_s"] = window_steps * samples_per_step / max(elapsed, 1e-9)
                values["epoch"] = epoch
                if ctx.is_main:
                    metrics_log.log(step, "train", values)
                    terms = " ".join(f"{k}={v:.4g}" for k, v in values.items() if k not in ("lr", "epoch"))
                    logger.info("step %d/%d lr=%.3g %s", step, cfg.max_steps, lr, terms)
                    if progress is not None:
                        progress.set_postfix(loss=f"{values['loss']:.4g}", samples_s=f"{values['samples_per_s']:.1f}")
                window, window_aux, window_steps, window_start = {}, {}, 0, time.perf_counter()
            if progress is not None:
                progress.update(1)

            # 6f. validate; a better `best_metric` writes best.pt
            if val_set is not None and (step % cfg.val_every_steps == 0 or step == cfg.max_steps):
                with ema.applied(model) if ema is not None else contextlib.nullcontext():
                    val_metrics = _validate(model, val_set, cfg, ctx, step, autocast, collate_fn)
                if cfg.best_metric not in val_metrics:
                    raise ValueError(
                        f"train.best_metric={cfg.best_metric!r} is not among the validation metrics "
                        f"{sorted(val_metrics)} of {type(model).__name__}"
                    )
                value = val_metrics[cfg.best_metric]
                improved = _is_better(value, best["value"], cfg.best_mode)
                if ctx.is_main:
                    metrics_log.log(step, "val", val_metrics)
                    logger.info(
                        "validation at step %d: %s%s",
                        step,
                        " ".join(f"{k}={v:.5g}" for k, v in val_metrics.items()),
                        f" (new best {cfg.best_metric})" if improved else "",
                    )
                if improved:
                    best = {"metric": cfg.best_metric, "mode": cfg.best_mode, "value": value, "step": step}
                    save_checkpoint_at(best_path, step=step, best=best)

            # 6g. last.pt (every rank takes part: RNG states are gathered)
            if step % cfg.ckpt_every_steps == 0 or step == cfg.max_steps:
                save_checkpoint_at(last_path, step=step, best=best)

        total_time = time.perf_counter() - run_start
        samples_per_s = (step - start_step) * samples_per_step / max(total_time, 1e-9)
        logger.info(
            "finished at step %d (%.1f samples/s); best %s = %s at step %s",
            step,
            samples_per_s,
            cfg.best_metric,
            best["value"],
            best["step"],
        )
        return TrainResult(
            **result_common,
            step=step,
            best_value=best["value"],
            best_step=best["step"],
            last_checkpoint=last_path,
            best_checkpoint=best_path if best["step"] is not None else None,
            val_metrics=val_metrics,
            samples_per_s=samples_per_s,
        )
