"""LR schedule and TrainConfig resolution."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from egohmr.config import ConfigError, load_config
from egohmr.train import OFFICIAL_STAGE1_TRAIN, OFFICIAL_STAGE2_TRAIN, TrainConfig, lr_at, validate_train_config


def test_constant_schedule_with_warmup():
    cfg = TrainConfig(lr=1e-3, warmup_steps=4, max_steps=10)
    assert [lr_at(s, cfg) for s in range(6)] == pytest.approx([2.5e-4, 5e-4, 7.5e-4, 1e-3, 1e-3, 1e-3])


def test_cosine_schedule_end_points():
    cfg = TrainConfig(lr=1e-3, min_lr=1e-5, lr_schedule="cosine", max_steps=101, warmup_steps=1)
    assert lr_at(1, cfg) == pytest.approx(1e-3)
    assert lr_at(51, cfg) == pytest.approx(1e-5 + 0.5 * (1e-3 - 1e-5))
    assert lr_at(101, cfg) == pytest.approx(1e-5)
    assert all(lr_at(s, cfg) >= lr_at(s + 1, cfg) for s in range(1, 100))
    assert not math.isnan(lr_at(500, cfg))


def test_train_config_from_presets_and_overrides(tmp_path):
    presets = {"stage1": OFFICIAL_STAGE1_TRAIN, "stage2": OFFICIAL_STAGE2_TRAIN}
    cfg = load_config(TrainConfig, "stage2", ["lr=3e-4", "grad_clip_norm=1.0", "out_dir=runs/x", "amp=true"], presets)
    assert cfg.best_metric == "mpjpe_vis_mm" and cfg.val_subsample == 20
    assert cfg.lr == 3e-4 and cfg.grad_clip_norm == 1.0 and cfg.out_dir == Path("runs/x") and cfg.amp
    assert load_config(TrainConfig, "stage1", ["grad_clip_norm=null"], presets).grad_clip_norm is None
    with pytest.raises(ConfigError, match="valid keys"):
        load_config(TrainConfig, None, ["learning_rate=1"])
    with pytest.raises(ConfigError, match="'sometimes'"):
        load_config(TrainConfig, None, ["best_mode=sometimes"])


def test_validate_rejects_out_of_range_values():
    validate_train_config(TrainConfig())
    with pytest.raises(ConfigError, match="train.batch_size"):
        validate_train_config(TrainConfig(batch_size=0))
    with pytest.raises(ConfigError, match="grad_clip_norm"):
        validate_train_config(TrainConfig(grad_clip_norm=0.0))
