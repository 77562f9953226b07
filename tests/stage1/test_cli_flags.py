"""`egohmr train stage1` and `egohmr test stage1`: every flag reaches the config / run field the stage receives."""

from __future__ import annotations

import types
from pathlib import Path

import pytest

from egohmr.stage1 import checkpoint, evaluation
from egohmr.stage1 import train as stage1_train
from tests.cli.helpers import run_command


@pytest.fixture
def trained(monkeypatch):
    """Captures the (cfg, resume) that `egohmr train stage1` hands to `egohmr.stage1.train.train`."""
    calls: list[tuple] = []

    def fake_train(cfg, resume=False):
        calls.append((cfg, resume))
        return types.SimpleNamespace(
            step=0, run_dir="run", best_checkpoint=None, last_checkpoint="last.pt", samples_per_s=1.0
        )

    monkeypatch.setattr(stage1_train, "train", fake_train)
    return calls


TRAIN_FLAGS = [
    (["--config", "cpu"], lambda cfg, resume: cfg.model.backbone == "efficientnet_lite0" and cfg.model.cached_features),
    (["--set", "model.flow_hidden=64", "data.root=/x"], lambda c, _: (c.model.flow_hidden, c.data.root) == (64, "/x")),
    (["--out", "/tmp/run_s1"], lambda cfg, resume: cfg.train.out_dir == Path("/tmp/run_s1")),
    (["--resume"], lambda cfg, resume: resume is True),
    (["--seed", "7"], lambda cfg, resume: cfg.train.seed == 7),
    (["--device", "cpu"], lambda cfg, resume: cfg.train.device == "cpu"),
]  # fmt: skip


@pytest.mark.parametrize(("flags", "reached"), TRAIN_FLAGS, ids=[f[0][0] for f in TRAIN_FLAGS])
def test_train_flag_reaches_its_config_field(trained, flags, reached):
    assert run_command(["train", "stage1", *flags]) == 0
    ((cfg, resume),) = trained
    assert reached(cfg, resume)


def test_train_flags_win_over_set(trained):
    run_command(["train", "stage1", "--set", "train.seed=3", "--seed", "5"])
    assert trained[0][0].train.seed == 5


@pytest.fixture
def tested(monkeypatch):
    """Captures the checkpoint path and the `Stage1TestRun` that `egohmr test stage1` hands to the stage."""
    calls: dict = {}

    def fake_load(path):
        calls["checkpoint"] = path
        return "loaded"

    def fake_evaluate(loaded, run):
        calls["run"] = run
        metrics = dict.fromkeys(evaluation.REPORTED_METRICS, 1.0)
        return types.SimpleNamespace(num_frames=1, metrics=metrics, baseline_metrics={}, results_pkl="r",
                                     predictions_npz="p", metrics_json="m")  # fmt: skip

    monkeypatch.setattr(checkpoint, "load_with_source", fake_load)
    monkeypatch.setattr(evaluation, "evaluate", fake_evaluate)
    return calls


REQUIRED = ["--checkpoint", "ck.pt", "--dataset", "DATA", "--out", "OUT"]
TEST_FLAGS = [
    (["--split", "val"], "split", "val"),
    (["--scene-dir", "S1"], "scene_dir", "S1"),
    (["--num-samples", "3"], "num_samples", 3),
    (["--body", "open"], "body_model", "open"),
    (["--batch-size", "4"], "batch_size", 4),
    (["--workers", "2"], "num_workers", 2),
    (["--seed", "9"], "seed", 9),
    (["--device", "cpu"], "device", "cpu"),
    (["--no-baseline"], "baseline", False),
]


@pytest.mark.parametrize(("flags", "field", "value"), TEST_FLAGS, ids=[f[1] for f in TEST_FLAGS])
def test_test_flag_reaches_its_run_field(tested, flags, field, value):
    assert run_command(["test", "stage1", *REQUIRED, *flags]) == 0
    assert getattr(tested["run"], field) == value


def test_test_required_flags_and_defaults(tested):
    assert run_command(["test", "stage1", *REQUIRED]) == 0
    run = tested["run"]
    assert tested["checkpoint"] == "ck.pt" and (run.dataset_root, run.out_dir) == ("DATA", "OUT")
    assert (run.split, run.num_samples, run.body_model, run.device, run.baseline) == ("test", None, None, "auto", True)


def test_test_refuses_zero_samples(tested):
    with pytest.raises(ValueError, match="--num-samples must be >= 1"):
        run_command(["test", "stage1", *REQUIRED, "--num-samples", "0"])
