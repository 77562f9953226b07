"""Run-folder logging: `train.log`, `metrics.jsonl` and TensorBoard event files.

Only rank 0 creates these. `metrics.jsonl` is always written (one JSON object per line: step, split, wall time and
the values); TensorBoard files are written when the `tensorboard` package is installed.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from egohmr.files import atomic_write_text

__all__ = ["MetricsLogger", "file_log", "tensorboard_available"]

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
