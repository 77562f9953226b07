"""Initialise a training model from a checkpoint's weights (`TrainConfig.init_checkpoint`) before the first step.

This is not a resume: only the model's state dict is copied (parameters and persistent buffers, e.g. stage 1's
ActNorm ``initialized`` flag or stage 2's x0 normaliser ``x_mean`` / ``x_std``); optimizer, step, best value and RNG
start fresh. The file is read by the stage's own loader (`egohmr.stage1.checkpoint.load` /
`egohmr.stage2.checkpoint.load`), so every file that stage can test with can start a training run, and another
stage's file is refused by that loader.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

from torch import nn

from egohmr.train.checkpoint import CheckpointError, load_state_dict_checked
from egohmr.train.config import TrainConfig

__all__ = ["init_from_checkpoint"]

logger = logging.getLogger(__name__)

StageLoader = Callable[[str | Path], tuple[nn.Module, object]]
"""A stage's `checkpoint.load`: path -> (model, config)."""


def init_from_checkpoint(model: nn.Module, cfg: TrainConfig, load_stage: StageLoader, resume: bool) -> bool:
    """Copy the weights of ``cfg.init_checkpoint`` into `model` (see the module docstring).

    Args:
        model: the freshly built training model (body models, if attached, stay out of its state dict).
        cfg: training settings; nothing happens when ``init_checkpoint`` is None.
        load_stage: the stage's `checkpoint.load`.
        resume: a resumed run restores ``last.pt`` instead; the field is then ignored (logged).

    Returns:
        Whether weights were copied.

    Raises:
        FileNotFoundError: no such file. CheckpointError: another stage's file, a foreign file, or weights whose
            names or shapes do not fit `model` (the message names ``train.init_checkpoint`` and the keys).
    """
    path = cfg.init_checkpoint
    if path is None:
        return False
    if resume:
        logger.info("train.init_checkpoint=%s ignored: --resume restores the run's last.pt", path)
        return False
    where = f"train.init_checkpoint={path}"
    try:
        source, _ = load_stage(path)
    except FileNotFoundError as err:
        raise FileNotFoundError(f"{where}: {err}") from None
    except CheckpointError as err:
        raise CheckpointError(f"{where}: {err}") from None
    load_state_dict_checked(model, source.state_dict(), source=where)
    logger.info("model initialised from %s (optimizer and step start fresh)", path)
    return True
