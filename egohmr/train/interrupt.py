"""Ctrl-C during training: finish cleanly at a step boundary, write `last.pt`, say how to resume.

The first SIGINT only sets `InterruptRequest.requested`; the loop reads it once per step, after the forward and
before the update (on every rank at once, through the same all-reduce as the non-finite check), writes `last.pt` for
the updates completed so far and raises `TrainingInterrupted`. A `KeyboardInterrupt` raised by code during the batch
fetch or the forward (a model hook, a debugger) is handled the same way. A second Ctrl-C stops at once with a plain
`KeyboardInterrupt`; `last.pt` then holds the last periodic checkpoint (it is replaced atomically, never torn).
"""

from __future__ import annotations

import contextlib
import logging
import signal
import threading
from collections.abc import Iterator
from pathlib import Path
from types import FrameType

__all__ = ["InterruptRequest", "TrainingInterrupted", "ctrl_c_requests"]

logger = logging.getLogger(__name__)


class TrainingInterrupted(KeyboardInterrupt):
    """Training stopped on Ctrl-C after writing a resumable `last.pt`; the message is the command that resumes it.

    Attributes:
        step: updates completed (the step `last.pt` holds).
        run_dir: the run folder.
        checkpoint: the `last.pt` written at the interruption.
        stage: the stage name of the resume command (the checkpoint kind without its "egohmr." prefix).
    """

    def __init__(self, step: int, run_dir: Path, checkpoint: Path, stage: str) -> None:
        self.step = step
        self.run_dir = Path(run_dir)
        self.checkpoint = Path(checkpoint)
        self.stage = stage
        super().__init__(f"interrupted at step {step}; resume with: egohmr train {stage} --resume --out {run_dir}")

    def __reduce__(self) -> tuple[type, tuple[int, Path, Path, str]]:
        return type(self), (self.step, self.run_dir, self.checkpoint, self.stage)


class InterruptRequest:
    """Whether Ctrl-C was pressed since the loop started (set by the SIGINT handler of `ctrl_c_requests`)."""

    def __init__(self) -> None:
        self.requested = False

    def handle_sigint(self, signum: int, frame: FrameType | None) -> None:
        """First SIGINT: ask the loop to stop at the next step boundary. Second: stop at once."""
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True
        logger.warning("Ctrl-C: stopping before the next update and writing last.pt (press Ctrl-C again to stop now)")


@contextlib.contextmanager
def ctrl_c_requests() -> Iterator[InterruptRequest]:
    """Route SIGINT to an `InterruptRequest` for the duration of the block, then put the old handler back.

    The handler is installed only in the main thread and only over Python's default one, so an application's own
    SIGINT handling (or SIGINT ignored, as in background jobs) is left alone.
    """
    request = InterruptRequest()
    in_main_thread = threading.current_thread() is threading.main_thread()
    if not in_main_thread or signal.getsignal(signal.SIGINT) is not signal.default_int_handler:
        yield request
        return
    signal.signal(signal.SIGINT, request.handle_sigint)
    try:
        yield request
    finally:
        signal.signal(signal.SIGINT, signal.default_int_handler)
