"""A tiny trainable model and dataset for the engine tests, plus a subprocess entry point and a DDP worker.

Run as `python -m tests.train.toy OUT_DIR MAX_STEPS [--resume] [--sleep-from STEP]` from the repository root.
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import Dataset

from egohmr.train import TrainConfig, train

KIND = "egohmr.toy"


class ToyRegression(Dataset):
    """64 items of a noisy linear map R^4 -> R^2; `getitem_with_generator` adds per-sample input jitter.

    Args:
        n: number of items.
        seed: fixes the data.
        nan_index: this item's input is NaN (for the non-finite-loss test).
        augment: add jitter from the per-sample generator (exercises the seeded-item path).
    """

    def __init__(self, n: int = 64, seed: int = 0, nan_index: int | None = None, augment: bool = True) -> None:
        rng = np.random.default_rng(seed)
        self.x = torch.from_numpy(rng.normal(size=(n, 4)).astype(np.float32))
        weight = torch.from_numpy(rng.normal(size=(4, 2)).astype(np.float32))
        self.y = self.x @ weight + 0.1 * torch.from_numpy(rng.normal(size=(n, 2)).astype(np.float32))
        self.nan_index = nan_index
        self.augment = augment

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, index: int) -> dict[str, Any]:
        x = self.x[index].clone()
        if index == self.nan_index:
            x[0] = float("nan")
        return {"x": x, "y": self.y[index], "index": index}

    def getitem_with_generator(self, index: int, generator: torch.Generator) -> dict[str, Any]:
        item = self[index]
        if self.augment:
            item["x"] = item["x"] + 0.01 * torch.randn(4, generator=generator)
        return item


class ToyMLP(nn.Module):
    """Linear(4, 16) -> ReLU -> Dropout -> Linear(16, 2) with an MSE loss.

    Its training step also draws from numpy's and Python's global generators, so a resume that failed to restore
    any of the RNG states would change the result.

    Args:
        seed: initialisation seed (an explicit generator; no global seeding).
        dropout: dropout probability (torch's global generator).
        use_global_rngs: scale the loss by factors drawn from numpy's and Python's global generators.
        sleep_from_step: sleep 60 s in `training_step` from this step on (lets a test kill the process).
        interrupt_at: (step, how): at this step `training_step` raises KeyboardInterrupt before its forward
            (how="raise") or sends itself SIGINT and carries on (how="sigint", as a Ctrl-C in a terminal would).
        val_scores: `validation_step` reports `score = val_scores[updates done]` (keyed by step).
    """

    def __init__(
        self,
        seed: int = 0,
        dropout: float = 0.1,
        use_global_rngs: bool = True,
        sleep_from_step: int | None = None,
        interrupt_at: tuple[int, str] | None = None,
        val_scores: dict[int, float] | None = None,
    ) -> None:
        super().__init__()
        generator = torch.Generator().manual_seed(seed)
        self.fc1 = nn.Linear(4, 16)
        self.fc2 = nn.Linear(16, 2)
        with torch.no_grad():
            for p in self.parameters():
                p.copy_(0.3 * torch.randn(p.shape, generator=generator))
        self.dropout = nn.Dropout(dropout)
        self.use_global_rngs = use_global_rngs
        self.sleep_from_step = sleep_from_step
        self.interrupt_at = interrupt_at
        self.finished_step_after_sigint = False
        self.val_scores = val_scores
        self.steps_done = 0
        self.on_train_start_calls = 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.dropout(torch.relu(self.fc1(x))))

    def on_train_start(self, first_batch: dict[str, Any]) -> None:
        self.on_train_start_calls += 1

    def training_step(self, batch: dict[str, Any], step: int) -> dict[str, torch.Tensor]:
        self.steps_done = step + 1
        if self.sleep_from_step is not None and step >= self.sleep_from_step:
            time.sleep(60.0)
        interrupt_now = self.interrupt_at is not None and step == self.interrupt_at[0]
        if interrupt_now and self.interrupt_at[1] == "raise":
            raise KeyboardInterrupt
        if interrupt_now:
            os.kill(os.getpid(), signal.SIGINT)
        mse = ((self(batch["x"]) - batch["y"]) ** 2).mean()
        loss = mse
        if self.use_global_rngs:
            loss = loss * (1.0 + 0.01 * float(np.random.rand()) + 0.01 * random.random())  # noqa: NPY002
        self.finished_step_after_sigint = interrupt_now
        return {"loss": loss, "loss_mse": mse.detach()}

    def validation_step(self, batch: dict[str, Any]) -> dict[str, float | torch.Tensor]:
        metrics: dict[str, float | torch.Tensor] = {"loss_mse": ((self(batch["x"]) - batch["y"]) ** 2).mean()}
        if self.val_scores is not None:
            metrics["score"] = self.val_scores[self.steps_done]
        return metrics


def toy_config(out_dir: Path, max_steps: int, **overrides: Any) -> TrainConfig:
    """Small CPU settings: batch 8 of 64 items (8 steps per epoch), no workers, no progress bar, no TensorBoard."""
    values: dict[str, Any] = dict(
        max_steps=max_steps,
        batch_size=8,
        num_workers=0,
        lr=1e-2,
        grad_clip_norm=1.0,
        val_every_steps=4,
        ckpt_every_steps=6,
        log_every_steps=2,
        best_metric="loss_mse",
        seed=3,
        device="cpu",
        out_dir=Path(out_dir),
        progress_bar=False,
        tensorboard=False,
    )
    values.update(overrides)
    return TrainConfig(**values)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("max_steps", type=int)
    parser.add_argument("--resume", action="store_true")
    parser.add_argument("--sleep-from", type=int, default=None)
    args = parser.parse_args(argv)
    torch.set_num_threads(int(os.environ.get("TOY_THREADS", "1")))
    model = ToyMLP(seed=1, sleep_from_step=args.sleep_from)
    train(
        model,
        ToyRegression(seed=0),
        ToyRegression(n=24, seed=1),
        toy_config(args.out_dir, args.max_steps),
        kind=KIND,
        resume=args.resume,
    )
    return 0


def ddp_worker(rank: int, world_size: int, port: int, out_dir: str, max_steps: int) -> None:
    """Target of `torch.multiprocessing.spawn`: sets the torchrun environment, trains the toy with DDP (gloo), writes
    `rank<r>.pt` and ends the process at once (see the end)."""
    os.environ.update(
        MASTER_ADDR="127.0.0.1",
        MASTER_PORT=str(port),
        RANK=str(rank),
        LOCAL_RANK=str(rank),
        WORLD_SIZE=str(world_size),
    )
    torch.set_num_threads(1)
    model = ToyMLP(seed=1, dropout=0.0, use_global_rngs=False)
    result = train(
        model,
        ToyRegression(seed=0),
        ToyRegression(n=24, seed=1),
        toy_config(Path(out_dir), max_steps, batch_size=8 // world_size, val_every_steps=3),
        kind=KIND,
    )
    torch.save(
        {"state": model.state_dict(), "step": result.step, "val": result.val_metrics},
        Path(out_dir) / f"rank{rank}.pt",
    )
    # Leave without interpreter finalisation. DDP's reducer keeps the gloo process group alive after
    # destroy_process_group (a leak inside torch: its loop and work threads, and rank 0's TCPStore server thread, still
    # run); a normal exit runs C++ static destructors beside them and, when the peer closes its sockets at that moment,
    # occasionally aborts (SIGABRT). Everything this worker produces is written and closed above.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


if __name__ == "__main__":
    sys.exit(main())
