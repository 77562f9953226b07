"""DDP smoke test: two CPU processes (gloo) with the torchrun environment, via torch.multiprocessing.spawn."""

from __future__ import annotations

import socket

import torch
import torch.multiprocessing as mp

from egohmr.train import load_checkpoint, train
from tests.train.toy import KIND, ToyMLP, ToyRegression, ddp_worker, toy_config


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_two_process_ddp_matches_one_process_with_the_same_global_batch(tmp_path):
    ddp_dir = tmp_path / "ddp"
    ddp_dir.mkdir()
    # spawn, as torchrun starts fresh processes: forking a process whose torch thread pools already ran (earlier
    # tests) can deadlock the children.
    mp.start_processes(ddp_worker, args=(2, _free_port(), str(ddp_dir), 6), nprocs=2, join=True, start_method="spawn")

    rank0, rank1 = (torch.load(ddp_dir / f"rank{r}.pt", weights_only=True) for r in range(2))
    assert rank0["step"] == rank1["step"] == 6
    for key in rank0["state"]:
        assert torch.equal(rank0["state"][key], rank1["state"][key]), f"ranks disagree on {key}"
    assert rank0["val"] == rank1["val"]

    # Only rank 0 wrote the run files; the checkpoint holds both ranks' RNG states.
    names = {p.name for p in ddp_dir.iterdir()}
    assert {"config.yaml", "metrics.jsonl", "train.log", "last.pt", "best.pt"} <= names
    ckpt = load_checkpoint(ddp_dir / "last.pt", expected_kind=KIND)
    assert ckpt.step == 6 and len(ckpt.rng) == 2
    for key, value in ckpt.model.items():
        assert torch.equal(value, rank0["state"][key])

    # Two ranks x 4 samples see the same global batches as one process x 8 samples, and DDP averages the gradients,
    # so the weights agree up to float rounding.
    single = ToyMLP(seed=1, dropout=0.0, use_global_rngs=False)
    result = train(
        single,
        ToyRegression(seed=0),
        ToyRegression(n=24, seed=1),
        toy_config(tmp_path / "single", 6, val_every_steps=3),
        kind=KIND,
    )
    for key, value in single.state_dict().items():
        torch.testing.assert_close(rank0["state"][key], value, rtol=1e-5, atol=1e-6)
    assert set(result.val_metrics) == set(rank0["val"])
    for key, value in result.val_metrics.items():
        assert abs(value - rank0["val"][key]) < 1e-5
