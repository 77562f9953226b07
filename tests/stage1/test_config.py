"""Stage-1 config: presets, YAML files, validation, and the loss-weight <-> loss-function correspondence."""

from __future__ import annotations

import dataclasses
import inspect
from pathlib import Path

import pytest

from egohmr.config.core import ConfigError
from egohmr.stage1 import losses
from egohmr.stage1.config import LossWeights, load_stage1_config

REPO = Path(__file__).resolve().parents[2]


def test_every_weight_has_a_loss_function_and_every_loss_a_weight():
    functions = {name.removeprefix("loss_") for name, _ in inspect.getmembers(losses, inspect.isfunction)}
    functions = {f for f in functions if f"loss_{f}" in losses.__all__}
    weighted = {losses.weight_term(f.name) for f in dataclasses.fields(LossWeights)}
    assert weighted == functions == set(losses.LOSS_TERMS)
    assert "transl" not in weighted  # the official unused TRANSL weight is not carried over


def test_official_preset_values():
    cfg = load_stage1_config("official")
    m = cfg.model
    assert (m.backbone, m.num_scene_points, m.flow_hidden, m.flow_num_layers, m.flow_blocks_per_layer) == (
        "resnet50",
        20000,
        1024,
        4,
        2,
    )
    assert m.context_dim == 2566
    assert (m.num_train_samples, m.num_test_samples) == (2, 5)
    t = cfg.train
    assert (t.lr, t.weight_decay, t.batch_size, t.val_every_steps, t.best_metric) == (
        1e-4,
        1e-4,
        16,
        2000,
        "loss_keypoints_3d_mode",
    )
    assert cfg.loss == LossWeights()
    assert (cfg.loss.keypoints_2d_full_mode, cfg.loss.v2v_mode, cfg.loss.nll) == (0.01, 0.5, 0.001)


def test_cpu_preset_and_yaml_files():
    cpu = load_stage1_config("cpu")
    assert cpu.model.cached_features and cpu.model.freeze_backbone and cpu.model.backbone == "efficientnet_lite0"
    assert cpu.model.context_dim == 6 + 1280 + cpu.model.scene_feat_dim
    assert load_stage1_config(REPO / "egohmr" / "configs" / "stage1_cpu.yaml") == cpu
    assert load_stage1_config(REPO / "egohmr" / "configs" / "stage1_official.yaml") == load_stage1_config("official")
    changed = load_stage1_config("cpu", ["train.max_steps=7", "data.root=/x"])
    assert (changed.train.max_steps, changed.data.root) == (7, "/x")


def test_bad_configs_are_refused():
    with pytest.raises(ConfigError, match="valid keys"):
        load_stage1_config("cpu", ["model.no_such_field=1"])
    with pytest.raises(ConfigError, match="freeze_backbone"):
        load_stage1_config("cpu", ["model.freeze_backbone=false"])
    with pytest.raises(ConfigError, match="prohmr_checkpoint"):
        load_stage1_config("official", ["model.backbone_pretrained=true"])
    with pytest.raises(FileNotFoundError, match="neither a preset"):
        load_stage1_config("no_such_preset")
