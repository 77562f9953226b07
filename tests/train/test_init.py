"""`train.init_checkpoint`: training starts from a checkpoint's weights (shipped files too); other stages refused."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from egohmr.config.core import ConfigError
from egohmr.pipeline.checkpoints import SHIPPED_STAGE1 as STAGE1_FILE
from egohmr.pipeline.checkpoints import SHIPPED_STAGE2 as STAGE2_FILE
from egohmr.stage1 import train as stage1_train
from egohmr.stage1.config import load_stage1_config
from egohmr.stage2.checkpoint import load as load_stage2
from egohmr.stage2.model import EgoHMRModel
from egohmr.train.checkpoint import CheckpointError
from egohmr.train.config import TrainConfig, validate_train_config
from egohmr.train.init import init_from_checkpoint


def _stage1_model_at_first_step(monkeypatch, init_checkpoint, resume: bool = False):
    """The model `egohmr.stage1.train.train` hands to the engine (no data, no steps)."""
    cfg = load_stage1_config("cpu")
    cfg = dataclasses.replace(cfg, train=dataclasses.replace(cfg.train, init_checkpoint=str(init_checkpoint)))
    handed = {}
    monkeypatch.setattr(stage1_train, "build_training_sets", lambda cfg, model: ([], []))
    monkeypatch.setattr(stage1_train, "run_engine", lambda model, *args, **kwargs: handed.setdefault("model", model))
    stage1_train.train(cfg, resume=resume)
    return handed["model"]


def test_stage1_training_starts_from_shipped_weights(monkeypatch):
    shipped = torch.load(STAGE1_FILE, weights_only=True)["model"]
    model = _stage1_model_at_first_step(monkeypatch, STAGE1_FILE)
    state = model.state_dict()
    assert len(shipped) > 50
    for key, value in shipped.items():  # every shipped tensor, before the first optimizer step
        assert torch.equal(state[key], value), key
    assert bool(model.initialized)  # the ActNorm data initialisation is not redone


def test_stage1_resume_ignores_init_checkpoint(monkeypatch):
    shipped = torch.load(STAGE1_FILE, weights_only=True)["model"]
    model = _stage1_model_at_first_step(monkeypatch, STAGE1_FILE, resume=True)
    differing = [k for k, v in shipped.items() if v.is_floating_point() and not torch.equal(model.state_dict()[k], v)]
    assert differing


def test_stage2_file_refused_for_stage1(monkeypatch):
    with pytest.raises(CheckpointError, match=r"train\.init_checkpoint=.*stage2_cpu\.pt.*stage1"):
        _stage1_model_at_first_step(monkeypatch, STAGE2_FILE)


def test_missing_init_checkpoint_named(monkeypatch, tmp_path):
    with pytest.raises(FileNotFoundError, match=r"train\.init_checkpoint="):
        _stage1_model_at_first_step(monkeypatch, tmp_path / "nope.pt")


def test_stage2_init_copies_weights_and_normaliser():
    shipped, cfg = load_stage2(STAGE2_FILE)
    fresh = EgoHMRModel(cfg)
    assert not torch.equal(fresh.x_mean, shipped.x_mean)
    assert init_from_checkpoint(fresh, TrainConfig(init_checkpoint=str(STAGE2_FILE)), load_stage2, resume=False)
    for key, value in shipped.state_dict().items():
        assert torch.equal(fresh.state_dict()[key], value), key


def test_stage1_file_refused_for_stage2():
    _, cfg = load_stage2(STAGE2_FILE)
    with pytest.raises(CheckpointError, match=r"train\.init_checkpoint=.*stage1_cpu\.pt"):
        init_from_checkpoint(EgoHMRModel(cfg), TrainConfig(init_checkpoint=str(STAGE1_FILE)), load_stage2, False)


def test_empty_init_checkpoint_is_a_config_error():
    with pytest.raises(ConfigError, match="train.init_checkpoint"):
        validate_train_config(TrainConfig(init_checkpoint=""))
