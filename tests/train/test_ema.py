"""Weight averaging (`train.ema_decay`): the average itself, and the engine's use of it (validation, checkpoints,
exact resume, training unchanged)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from egohmr.config.core import ConfigError
from egohmr.train import load_checkpoint, train
from egohmr.train.config import validate_train_config
from egohmr.train.ema import WeightEMA
from tests.train.toy import KIND, ToyMLP, ToyRegression, toy_config


def test_update_follows_the_warm_up_decay_and_copies_integer_buffers():
    model = nn.BatchNorm1d(3)
    ema = WeightEMA(model, decay=0.99)
    start = {k: v.clone() for k, v in model.state_dict().items()}
    with torch.no_grad():
        model.weight.add_(1.0)
    model.num_batches_tracked += 5
    assert ema.current_decay() == pytest.approx(0.1)  # (1 + 0) / (10 + 0)
    ema.update(model)
    torch.testing.assert_close(ema.shadow["weight"], 0.1 * start["weight"] + 0.9 * model.weight.detach())
    assert int(ema.shadow["num_batches_tracked"]) == 5
    for _ in range(1000):
        ema.update(model)
    assert ema.current_decay() == 0.99


def test_applied_swaps_the_weights_in_and_back_even_on_error():
    model = nn.Linear(2, 2)
    ema = WeightEMA(model, decay=0.5)
    own = {k: v.clone() for k, v in model.state_dict().items()}
    ema.shadow["weight"].fill_(7.0)
    with pytest.raises(RuntimeError, match="boom"), ema.applied(model):
        assert bool((model.weight == 7.0).all())
        raise RuntimeError("boom")
    for key, value in model.state_dict().items():
        assert torch.equal(value, own[key])


def test_bad_decay_is_refused():
    with pytest.raises(ValueError, match="decay"):
        WeightEMA(nn.Linear(1, 1), decay=1.0)
    with pytest.raises(ConfigError, match="ema_decay"):
        validate_train_config(toy_config("unused", 4, ema_decay=0.0))


def _run(out_dir, max_steps, resume=False, **cfg):
    model = ToyMLP(seed=1)
    result = train(
        model, ToyRegression(seed=0), ToyRegression(n=24, seed=1), toy_config(out_dir, max_steps, **cfg),
        kind=KIND, resume=resume,
    )  # fmt: skip
    return model, result


def test_engine_validates_and_saves_the_average_and_resumes_exactly(tmp_path):
    plain_model, plain = _run(tmp_path / "plain", 12)
    ema_model, averaged = _run(tmp_path / "ema", 12, ema_decay=0.8)
    # averaging does not touch training: same trained weights, bit for bit
    for key, value in plain_model.state_dict().items():
        assert torch.equal(value, ema_model.state_dict()[key]), key
    # ...but validation sees the average
    assert plain.val_metrics != averaged.val_metrics
    last = load_checkpoint(tmp_path / "ema" / "last.pt", expected_kind=KIND)
    assert last.ema == {"decay": 0.8, "updates": 12} and last.train_model is not None
    for key, value in ema_model.state_dict().items():
        assert torch.equal(last.train_model[key], value), key
    assert not torch.equal(last.model["fc1.weight"], last.train_model["fc1.weight"])
    # the run's validation metric is that of the file's (averaged) weights, not of the trained ones
    val = ToyRegression(n=24, seed=1)

    def val_loss(state: dict) -> float:
        check = ToyMLP(seed=1)
        check.load_state_dict(state)
        with torch.no_grad():
            return float(check.eval().validation_step({"x": val.x, "y": val.y})["loss_mse"])

    assert val_loss(last.model) == pytest.approx(averaged.val_metrics["loss_mse"], rel=1e-3)
    assert val_loss(last.train_model) != pytest.approx(averaged.val_metrics["loss_mse"], rel=1e-3)
    assert load_checkpoint(tmp_path / "plain" / "last.pt").train_model is None

    # a run stopped at its step-6 checkpoint and resumed ends with the same average and weights
    _run(tmp_path / "resumed", 6, ema_decay=0.8)
    resumed_model, resumed = _run(tmp_path / "resumed", 12, resume=True, ema_decay=0.8)
    again = load_checkpoint(tmp_path / "resumed" / "last.pt", expected_kind=KIND)
    for key in last.model:
        assert torch.equal(again.model[key], last.model[key]), key
        assert torch.equal(again.train_model[key], last.train_model[key]), key
    assert resumed.val_metrics == averaged.val_metrics
