"""End-to-end tests of the training loop on a tiny MLP (CPU, a few seconds in total)."""

from __future__ import annotations

import json
import os
import pickle
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from egohmr.train import CheckpointError, NonFiniteLossError, TrainingInterrupted, load_checkpoint, train
from egohmr.train.data import EpochBatchSampler
from egohmr.train.logging_utils import tensorboard_available
from tests.train.toy import KIND, ToyMLP, ToyRegression, toy_config

REPO_ROOT = Path(__file__).resolve().parents[2]


def _run(out_dir: Path, max_steps: int, model: ToyMLP | None = None, resume: bool = False, train_set=None, **cfg):
    model = model if model is not None else ToyMLP(seed=1)
    result = train(
        model,
        train_set if train_set is not None else ToyRegression(seed=0),
        ToyRegression(n=24, seed=1),
        toy_config(out_dir, max_steps, **cfg),
        kind=KIND,
        resume=resume,
    )
    return model, result


def _assert_same_state(a: dict, b: dict) -> None:
    assert sorted(a) == sorted(b)
    for key in a:
        assert torch.equal(a[key], b[key]), f"{key} differs"


def test_killed_run_resumes_bit_exactly(tmp_path):
    # Run A: 12 uninterrupted steps (crosses the epoch boundary at step 8).
    model_a, result_a = _run(tmp_path / "a", 12)
    assert result_a.step == 12

    # Run B: a real process, killed after its step-6 checkpoint appears (it sleeps from step 6 on).
    run_b = tmp_path / "b"
    env = dict(os.environ, TOY_THREADS=str(torch.get_num_threads()), PYTHONPATH=str(REPO_ROOT))
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.train.toy", str(run_b), "12", "--sleep-from", "6"],
        cwd=REPO_ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 60
        while not (run_b / "last.pt").exists():
            if proc.poll() is not None:
                pytest.fail(f"toy run exited early: {proc.stderr.read().decode()[-2000:]}")
            if time.monotonic() > deadline:
                pytest.fail("toy run wrote no checkpoint within 60 s")
            time.sleep(0.05)
        proc.kill()
        proc.wait()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stderr.close()
    assert proc.returncode != 0, "the run finished instead of being killed"
    assert load_checkpoint(run_b / "last.pt", expected_kind=KIND).step == 6
    assert not list(run_b.glob(".*.tmp")), "a temporary checkpoint file was left behind"

    # Resume B to step 12 in this process: same step, same parameters and optimizer state, bit for bit.
    model_b, result_b = _run(run_b, 12, resume=True)
    assert result_b.start_step == 6 and result_b.step == 12
    _assert_same_state(model_a.state_dict(), model_b.state_dict())
    ckpt_a, ckpt_b = load_checkpoint(tmp_path / "a" / "last.pt"), load_checkpoint(run_b / "last.pt")
    assert ckpt_a.step == ckpt_b.step == 12
    for sa, sb in zip(ckpt_a.optimizer["state"].values(), ckpt_b.optimizer["state"].values(), strict=True):
        _assert_same_state(sa, sb)
    assert ckpt_a.best == ckpt_b.best
    assert result_a.val_metrics == result_b.val_metrics
    assert model_b.on_train_start_calls == 0  # data-dependent init is not redone on resume

    # metrics.jsonl of B reads as if it had never stopped: same steps and values as A's (times aside).
    def records(run: Path) -> list[dict]:
        rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
        return [{k: v for k, v in row.items() if k not in ("time", "samples_per_s")} for row in rows]

    assert records(run_b) == records(tmp_path / "a")


@pytest.mark.parametrize("how, step", [("raise", 5), ("sigint", 9)])
def test_ctrl_c_writes_last_checkpoint_that_resumes_to_the_same_weights(tmp_path, how, step):
    model_a, result_a = _run(tmp_path / "a", 12)

    # Checkpoints fall at steps 6 and 12: last.pt at step 5 or 9 can only come from the interruption.
    run_b = tmp_path / "b"
    model_b = ToyMLP(seed=1, interrupt_at=(step, how))
    with pytest.raises(TrainingInterrupted) as info:
        _run(run_b, 12, model=model_b)
    error = info.value
    assert isinstance(error, KeyboardInterrupt)
    assert (error.step, error.run_dir, error.checkpoint) == (step, run_b, run_b / "last.pt")
    assert str(error) == f"interrupted at step {step}; resume with: egohmr train toy --resume --out {run_b}"
    assert str(pickle.loads(pickle.dumps(error))) == str(error)
    if how == "sigint":  # the handler only recorded the signal: the forward finished, its update was not made
        assert model_b.finished_step_after_sigint
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # the run's handler is gone
    assert load_checkpoint(run_b / "last.pt", expected_kind=KIND).step == step
    assert not list(run_b.glob(".*.tmp"))
    assert f"interrupted at step {step}" in (run_b / "train.log").read_text()

    # Resuming continues to the weights, optimizer state and best checkpoint of the uninterrupted run.
    model_c, result_c = _run(run_b, 12, resume=True)
    assert (result_c.start_step, result_c.step) == (step, 12)
    _assert_same_state(model_a.state_dict(), model_c.state_dict())
    ckpt_a, ckpt_c = load_checkpoint(tmp_path / "a" / "last.pt"), load_checkpoint(run_b / "last.pt")
    for sa, sc in zip(ckpt_a.optimizer["state"].values(), ckpt_c.optimizer["state"].values(), strict=True):
        _assert_same_state(sa, sc)
    assert ckpt_a.best == ckpt_c.best and result_a.val_metrics == result_c.val_metrics


def test_resume_needs_last_checkpoint_and_fresh_run_refuses_to_overwrite(tmp_path):
    with pytest.raises(FileNotFoundError, match="last.pt"):
        _run(tmp_path / "r", 4, resume=True)
    _run(tmp_path / "r", 4, ckpt_every_steps=2)
    with pytest.raises(ValueError, match="already holds a run"):
        _run(tmp_path / "r", 4)
    # Resuming a finished run to a larger max_steps continues it.
    _, result = _run(tmp_path / "r", 6, resume=True, ckpt_every_steps=2)
    assert (result.start_step, result.step) == (4, 6)


def test_resume_refuses_checkpoint_of_another_kind(tmp_path):
    _run(tmp_path / "k", 2, ckpt_every_steps=2)
    with pytest.raises(CheckpointError, match="other stage"):
        train(
            ToyMLP(seed=1),
            ToyRegression(),
            None,
            toy_config(tmp_path / "k", 4),
            kind="egohmr.stage2",
            resume=True,
        )


def test_nan_loss_stops_with_step_and_batch_and_overwrites_nothing(tmp_path):
    run = tmp_path / "nan"
    _run(run, 4, ckpt_every_steps=2, val_every_steps=2)
    before = {name: (run / name).read_bytes() for name in ("last.pt", "best.pt")}
    # The batch of step 5 (epoch 0, batch 4 of the epoch) holds item `bad`, whose input is NaN.
    bad = EpochBatchSampler(64, 8, seed=3, epoch=0).indices(4)[2]
    with pytest.raises(NonFiniteLossError) as info:
        _run(run, 8, resume=True, train_set=ToyRegression(seed=0, nan_index=bad), ckpt_every_steps=1, val_every_steps=1)
    message = str(info.value)
    assert "at step 5" in message and "epoch 0, batch 4" in message
    assert str(bad) in message and "'x'" in message
    after = {name: (run / name).read_bytes() for name in ("last.pt", "best.pt")}
    assert after == before
    assert "non-finite training loss at step 5" in (run / "train.log").read_text()


@pytest.mark.parametrize("mode, expected_step", [("min", 6), ("max", 2)])
def test_best_checkpoint_follows_the_metric(tmp_path, mode, expected_step):
    scores = {2: 5.0, 4: 2.0, 6: 1.0, 8: 4.0}  # validation score by step
    model = ToyMLP(seed=1, val_scores=scores)
    _, result = _run(tmp_path / mode, 8, model=model, val_every_steps=2, best_metric="score", best_mode=mode)
    expected_value = min(scores.values()) if mode == "min" else max(scores.values())
    # "max": 5.0 at step 2; "min": 1.0 at step 6.
    assert result.best_step == expected_step and result.best_value == expected_value
    best = load_checkpoint(tmp_path / mode / "best.pt")
    assert best.step == expected_step and best.best["value"] == expected_value
    assert load_checkpoint(tmp_path / mode / "last.pt").best == best.best


def test_unknown_best_metric_is_reported(tmp_path):
    with pytest.raises(ValueError, match="best_metric='nope'.*loss_mse"):
        _run(tmp_path / "m", 4, best_metric="nope")


@pytest.mark.skipif(not tensorboard_available(), reason="tensorboard not installed")
def test_run_folder_layout_with_tensorboard(tmp_path):
    run = tmp_path / "tb"
    _run(run, 4, tensorboard=True)
    assert {p.name for p in run.iterdir()} == {
        "config.yaml",
        "metrics.jsonl",
        "tensorboard",
        "last.pt",
        "best.pt",
        "train.log",
    }
    assert list((run / "tensorboard").glob("events.out.tfevents.*"))
    assert "max_steps: 4" in (run / "config.yaml").read_text()
    splits = [json.loads(line)["split"] for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert splits.count("val") == 1 and splits.count("train") == 2


class _EpochAware(ToyRegression):
    def __init__(self) -> None:
        super().__init__(seed=0)
        self.epochs: list[int] = []

    def set_epoch(self, epoch: int) -> None:
        self.epochs.append(epoch)


def test_set_epoch_is_called_per_epoch_including_on_resume(tmp_path):
    data = _EpochAware()
    _run(tmp_path / "e", 10, train_set=data, ckpt_every_steps=10)  # 8 steps per epoch
    assert data.epochs == [0, 1]
    data = _EpochAware()
    _run(tmp_path / "e", 20, train_set=data, resume=True)
    assert data.epochs == [1, 2]


def test_data_workers_give_the_same_result(tmp_path):
    model_0, _ = _run(tmp_path / "w0", 3, ckpt_every_steps=3)
    model_2, _ = _run(tmp_path / "w2", 3, ckpt_every_steps=3, num_workers=2)
    _assert_same_state(model_0.state_dict(), model_2.state_dict())


class _ToyWithAuxiliary(ToyMLP):
    """Adds a second optimizer (like the optional adversarial discriminator) owned by the model."""

    def __init__(self) -> None:
        super().__init__(seed=1)
        self.critic = torch.nn.Linear(2, 1)
        with torch.no_grad():
            self.critic.weight.copy_(torch.tensor([[0.3, -0.2]]))
            self.critic.bias.fill_(0.1)
        self.critic_opt = torch.optim.SGD(self.critic.parameters(), lr=0.1, momentum=0.9)

    def parameter_groups(self):
        return [{"params": list(self.fc1.parameters())}, {"params": list(self.fc2.parameters()), "lr_scale": 0.5}]

    def auxiliary_step(self, batch, step):
        self.critic_opt.zero_grad()
        loss = self.critic(self(batch["x"]).detach()).pow(2).mean()
        loss.backward()
        self.critic_opt.step()
        return {"loss_critic": loss.item()}

    def train_state_dict(self):
        return {"critic_opt": self.critic_opt.state_dict()}

    def load_train_state_dict(self, state):
        self.critic_opt.load_state_dict(state["critic_opt"])


def test_optional_hooks_groups_auxiliary_step_and_train_state(tmp_path):
    model_a, _ = _run(tmp_path / "a", 8, model=_ToyWithAuxiliary())
    _run(tmp_path / "b", 4, model=_ToyWithAuxiliary(), ckpt_every_steps=4)
    model_b, _ = _run(tmp_path / "b", 8, model=_ToyWithAuxiliary(), resume=True, ckpt_every_steps=4)
    _assert_same_state(model_a.state_dict(), model_b.state_dict())  # includes the critic
    ckpt = load_checkpoint(tmp_path / "b" / "last.pt")
    assert "critic_opt" in ckpt.model_train_state
    assert [g["lr_scale"] for g in ckpt.optimizer["param_groups"]] == [1.0, 0.5]
    assert [g["lr"] for g in ckpt.optimizer["param_groups"]] == [1e-2, 5e-3]
    rows = [json.loads(line) for line in (tmp_path / "b" / "metrics.jsonl").read_text().splitlines()]
    assert all("loss_critic" in row for row in rows if row["split"] == "train")


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_amp_run_and_resume(tmp_path):
    model_a, _ = _run(tmp_path / "a", 8, device="cuda", amp=True)
    _run(tmp_path / "b", 4, device="cuda", amp=True, ckpt_every_steps=4)
    assert load_checkpoint(tmp_path / "b" / "last.pt").scaler  # GradScaler state is saved
    model_b, _ = _run(tmp_path / "b", 8, device="cuda", amp=True, ckpt_every_steps=4, resume=True)
    for key, value in model_a.state_dict().items():
        assert torch.allclose(value, model_b.state_dict()[key]), key
