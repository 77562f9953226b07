"""`TrainConfig`: the model-agnostic training settings shared by stage 1 and stage 2.

Defaults are the official values (reference-egohmr.md sections 2 and 3: AdamW lr 1e-4, weight decay 1e-4, batch 16,
4 workers); the stage presets override the validation interval and the best-checkpoint metric.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Literal

from egohmr.config.core import ConfigError

__all__ = ["OFFICIAL_STAGE1_TRAIN", "OFFICIAL_STAGE2_TRAIN", "TrainConfig", "validate_train_config"]


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """Settings of the training loop (`egohmr.train.train`)."""

    max_steps: int = 200_000
    """Number of optimizer updates of the whole run (a resumed run continues up to this). The official code runs
    until it is killed; 200k updates is well past its released checkpoints."""

    batch_size: int = 16
    """Samples per process and update. Under torchrun the global batch is `batch_size * world_size` (official: 16 on
    one GPU)."""

    val_batch_size: int | None = None
    """Samples per process for validation; None uses `batch_size`."""

    num_workers: int = 4
    """DataLoader worker processes per process (official: 4). 0 loads in the main process."""

    lr: float = 1e-4
    """Peak AdamW learning rate (official: 1e-4)."""

    weight_decay: float = 1e-4
    """AdamW decoupled weight decay (official: 1e-4)."""

    adam_betas: tuple[float, float] = (0.9, 0.999)
    """AdamW (beta1, beta2) (official: the PyTorch defaults)."""

    lr_schedule: Literal["constant", "cosine"] = "constant"
    """"constant" (official) or "cosine" decay from `lr` to `min_lr` at `max_steps`; see `egohmr.train.lr.lr_at`."""

    warmup_steps: int = 0
    """Linear warm-up from 0 to `lr` over this many updates (official: 0)."""

    min_lr: float = 0.0
    """Final learning rate of the cosine schedule."""

    grad_clip_norm: float | None = None
    """Clip the global gradient L2 norm to this value; None disables clipping (official: no clipping)."""

    ema_decay: float | None = None
    """Keep an exponential moving average of the weights with this decay (e.g. 0.998, a horizon of ~500 updates) and
    use it for validation, best.pt and the checkpoints' ``model`` weights; None: no averaging (official)."""

    amp: bool = False
    """Mixed precision (torch.autocast + GradScaler). CUDA only: ignored, with a notice, on CPU."""

    amp_dtype: Literal["float16", "bfloat16"] = "float16"
    """Autocast dtype when `amp` is on. bfloat16 needs no loss scaling (the GradScaler is then disabled)."""

    val_every_steps: int = 2000
    """Validate every this many updates and at the last step (official: 2000 for stage 1, 1000 for stage 2)."""

    val_subsample: int = 1
    """Validate on every k-th item of the validation set (official stage 2: 20)."""

    ckpt_every_steps: int = 1000
    """Write `last.pt` every this many updates and at the last step."""

    log_every_steps: int = 50
    """Log losses, learning rate and samples/s every this many updates."""

    best_metric: str = "loss_keypoints_3d_mode"
    """Validation metric that selects `best.pt` (official stage 1: `loss_keypoints_3d_mode`; stage 2:
    `mpjpe_vis_mm`). Must be a key of the model's `validation_step` output."""

    best_mode: Literal["min", "max"] = "min"
    """Whether a lower ("min") or higher ("max") `best_metric` is better."""

    seed: int = 0
    """Seed of the run: model RNG (per rank: seed + rank), data order and per-sample augmentation."""

    device: Literal["auto", "cpu", "cuda"] = "auto"
    """"auto" picks CUDA when available. Under torchrun each process uses cuda:LOCAL_RANK."""

    out_dir: Path = Path("outputs/run")
    """Run folder: config.yaml, train.log, metrics.jsonl, tensorboard/, last.pt, best.pt."""

    progress_bar: bool = True
    """Show a tqdm progress bar (rank 0 only)."""

    tensorboard: bool = True
    """Write TensorBoard event files when the `tensorboard` package is installed."""

    ddp_find_unused_parameters: bool = False
    """Passed to DistributedDataParallel; set it when some parameters get no gradient in a step."""

    init_checkpoint: str | None = None
    """Start from the weights of this checkpoint (any file the stage's `checkpoint.load` accepts: a training
    ``best.pt``/``last.pt``, a shipped inference file, the official file); optimizer, step and RNG start fresh
    (`egohmr.train.init`). Ignored by ``--resume``, which restores ``last.pt``. None: fresh initialisation."""


OFFICIAL_STAGE1_TRAIN = TrainConfig(val_every_steps=2000, best_metric="loss_keypoints_3d_mode", best_mode="min")
"""Official stage-1 training settings (`train_prohmr_scene.py`: val every 2000 it, best by val 3D keypoint loss)."""

OFFICIAL_STAGE2_TRAIN = TrainConfig(val_every_steps=1000, val_subsample=20, best_metric="mpjpe_vis_mm", best_mode="min")
"""Official stage-2 training settings (`train_egohmr.py`: val every 1000 it on every 20th item, best by visible-joint
MPJPE)."""


def validate_train_config(cfg: TrainConfig) -> None:
    """Check value ranges that the type checks of `egohmr.config` cannot express.

    Raises:
        ConfigError: a field out of range, naming the field, the value and what is allowed.
    """
    positive = ["max_steps", "batch_size", "val_every_steps", "ckpt_every_steps", "log_every_steps", "val_subsample"]
    for name in positive:
        value = getattr(cfg, name)
        if value < 1:
            raise ConfigError(f"train.{name}: must be >= 1, got {value}")
    if cfg.val_batch_size is not None and cfg.val_batch_size < 1:
        raise ConfigError(f"train.val_batch_size: must be >= 1 or null, got {cfg.val_batch_size}")
    if cfg.num_workers < 0:
        raise ConfigError(f"train.num_workers: must be >= 0, got {cfg.num_workers}")
    if cfg.warmup_steps < 0:
        raise ConfigError(f"train.warmup_steps: must be >= 0, got {cfg.warmup_steps}")
    if cfg.lr <= 0 or cfg.min_lr < 0 or cfg.weight_decay < 0:
        raise ConfigError(
            f"train.lr must be > 0, train.min_lr and train.weight_decay >= 0; got lr={cfg.lr}, "
            f"min_lr={cfg.min_lr}, weight_decay={cfg.weight_decay}"
        )
    if cfg.grad_clip_norm is not None and cfg.grad_clip_norm <= 0:
        raise ConfigError(f"train.grad_clip_norm: must be > 0 or null (no clipping), got {cfg.grad_clip_norm}")
    if cfg.ema_decay is not None and not 0.0 < cfg.ema_decay < 1.0:
        raise ConfigError(f"train.ema_decay: must be in (0, 1) or null (no averaging), got {cfg.ema_decay}")
    if cfg.init_checkpoint is not None and not cfg.init_checkpoint:
        raise ConfigError("train.init_checkpoint: must name a checkpoint file or be null, got an empty string")
    if not cfg.best_metric:
        raise ConfigError("train.best_metric: must name a validation metric, got an empty string")
