"""Model-agnostic training engine shared by stage 1 and stage 2 (see docs/training.md).

A stage CLI resolves its config, builds the model and datasets, and calls::

    result = train(model, train_set, val_set, cfg.train, kind="egohmr.stage1", full_config=cfg, resume=args.resume)

Ctrl-C stops a run after writing `last.pt` and raises `TrainingInterrupted`, whose message is the resume command.
Checkpoints are read back with `load_checkpoint(path, expected_kind="egohmr.stage1")`.
"""

from egohmr.train.checkpoint import (
    FORMAT_VERSION,
    Checkpoint,
    CheckpointError,
    KeyMismatch,
    build_checkpoint,
    load_checkpoint,
    load_state_dict_checked,
    report_key_mismatch,
    save_checkpoint,
)
from egohmr.train.config import OFFICIAL_STAGE1_TRAIN, OFFICIAL_STAGE2_TRAIN, TrainConfig, validate_train_config
from egohmr.train.distributed import DistContext, all_reduce_gradients, setup_distributed
from egohmr.train.engine import NonFiniteLossError, TrainableModel, TrainingInterrupted, TrainResult, train
from egohmr.train.lr import lr_at
from egohmr.train.rng import seed_everything

__all__ = [
    "FORMAT_VERSION",
    "OFFICIAL_STAGE1_TRAIN",
    "OFFICIAL_STAGE2_TRAIN",
    "Checkpoint",
    "CheckpointError",
    "DistContext",
    "KeyMismatch",
    "NonFiniteLossError",
    "TrainConfig",
    "TrainResult",
    "TrainableModel",
    "TrainingInterrupted",
    "all_reduce_gradients",
    "build_checkpoint",
    "load_checkpoint",
    "load_state_dict_checked",
    "lr_at",
    "report_key_mismatch",
    "save_checkpoint",
    "seed_everything",
    "setup_distributed",
    "train",
    "validate_train_config",
]
