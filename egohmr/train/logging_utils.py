"""Run-folder logging: `train.log`, `metrics.jsonl` and TensorBoard event files; the averages of a log interval.

Only rank 0 creates the files. `metrics.jsonl` is always written (one JSON object per line: step, split, wall time and
the values); TensorBoard files are written when the `tensorboard` package is installed.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import math
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import torch

from egohmr.files import atomic_write_text

__all__ = ["LogWindow", "MetricsLogger", "file_log", "tensorboard_available"]

logger = logging.getLogger(__name__)


def tensorboard_available() -> bool:
    """Whether `torch.utils.tensorboard` can be imported (it needs the `tensorboard` package)."""
    try:
        from torch.utils.tensorboard import SummaryWriter  # noqa: F401
    except ImportError:
        return False
    return True


@contextlib.contextmanager
def file_log(path: Path, logger_name: str = "egohmr") -> Iterator[None]:
    """Copy INFO and higher records of `logger_name` (and its children) to `path` for the duration of the block.

    The logger's level is lowered to INFO if needed and restored afterwards; nothing else is changed.
    """
    target = logging.getLogger(logger_name)
    handler = logging.FileHandler(path, mode="a", encoding="utf-8")
    handler.setLevel(logging.INFO)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    old_level = target.level
    if target.getEffectiveLevel() > logging.INFO:
        target.setLevel(logging.INFO)
    target.addHandler(handler)
    try:
        yield
    finally:
        target.removeHandler(handler)
        target.setLevel(old_level)
        handler.close()


def _plain(value: Any) -> Any:
    """JSON-safe number: ints stay ints, floats are floats, NaN/inf become strings (JSON lacks them)."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    value = float(value)
    if math.isfinite(value):
        return value
    return str(value)


class MetricsLogger:
    """Appends metric records to `<run>/metrics.jsonl` and, if possible, TensorBoard scalars `<split>/<name>`.

    Args:
        run_dir: the run folder.
        use_tensorboard: write TensorBoard files when the package is installed.
        resume_step: on resume, the checkpoint's step: records of later steps (written by the interrupted run after
            its last checkpoint) are dropped from metrics.jsonl and purged from TensorBoard, so both files read as if
            the run had never stopped. None for a fresh run.
    """

    def __init__(self, run_dir: Path, use_tensorboard: bool = True, resume_step: int | None = None) -> None:
        self.path = run_dir / "metrics.jsonl"
        if resume_step is not None and self.path.exists():
            kept = []
            for line in self.path.read_text(encoding="utf-8").splitlines():
                try:
                    record = json.loads(line)
                except json.JSONDecodeError:
                    continue  # a line cut by the kill
                if int(record.get("step", 0)) <= resume_step:
                    kept.append(line)
            atomic_write_text(self.path, "".join(f"{line}\n" for line in kept))
        self._file = open(self.path, "a", encoding="utf-8")
        self._writer = None
        if use_tensorboard:
            if tensorboard_available():
                from torch.utils.tensorboard import SummaryWriter

                self._writer = SummaryWriter(
                    str(run_dir / "tensorboard"), purge_step=resume_step + 1 if resume_step is not None else None
                )
            else:
                logger.info("tensorboard is not installed: metrics go to %s only (pip install tensorboard)", self.path)

    def log(self, step: int, split: str, values: Mapping[str, float]) -> None:
        """Write one record: `{"step": step, "split": split, "time": unix seconds, **values}`."""
        record = {"step": int(step), "split": split, "time": round(time.time(), 3)}
        record.update({str(k): _plain(v) for k, v in values.items()})
        self._file.write(json.dumps(record, sort_keys=False) + "\n")
        self._file.flush()
        if self._writer is not None:
            for key, value in values.items():
                self._writer.add_scalar(f"{split}/{key}", float(value), step)

    def close(self) -> None:
        self._file.close()
        if self._writer is not None:
            self._writer.close()
            self._writer = None


@dataclasses.dataclass
class LogWindow:
    """Sums of the logged training values since the last log line; `close` turns them into one record.

    Loss terms (every 0-dim tensor of `training_step`'s output, plus the gradient norm when clipping) are summed on
    their device, so adding a step does not synchronise with the GPU; `close` does, once per log interval.
    """

    samples_per_step: int
    """Samples of one update over all ranks (batch_size x world_size), for the throughput."""
    sums: dict[str, torch.Tensor] = dataclasses.field(default_factory=dict)
    auxiliary_sums: dict[str, float] = dataclasses.field(default_factory=dict)
    steps: int = 0
    start: float = dataclasses.field(default_factory=time.perf_counter)

    def add(
        self, out: Mapping[str, Any], grad_norm: torch.Tensor | None, auxiliary: Mapping[str, float] | None
    ) -> None:
        """Add one update: `training_step`'s output, the gradient norm (or None) and `auxiliary_step`'s values."""
        for key, value in (auxiliary or {}).items():
            self.auxiliary_sums[key] = self.auxiliary_sums.get(key, 0.0) + float(value)
        for key, value in out.items():
            if isinstance(value, torch.Tensor) and value.ndim == 0:
                self.sums[key] = self.sums.get(key, 0.0) + value.detach().float()
        if grad_norm is not None:
            self.sums["grad_norm"] = self.sums.get("grad_norm", 0.0) + grad_norm.detach().float()
        self.steps += 1

    def close(self, lr: float, epoch: int) -> dict[str, float]:
        """The interval's record (term means, auxiliary means, lr, samples_per_s, epoch); then start a new interval.

        A CPU-GPU sync point.
        """
        elapsed = time.perf_counter() - self.start
        values = {k: float(v) / self.steps for k, v in self.sums.items()}
        values.update({k: v / self.steps for k, v in self.auxiliary_sums.items()})
        values["lr"] = lr
        values["samples_per_s"] = self.steps * self.samples_per_step / max(elapsed, 1e-9)
        values["epoch"] = epoch
        self.sums, self.auxiliary_sums, self.steps, self.start = {}, {}, 0, time.perf_counter()
        return values
