"""Spreading preprocessing work over a process pool, with a progress bar counted in frames."""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable, Iterable, Sequence
from typing import Any

__all__ = ["run_tasks"]


_WORKER_FN: Callable[[Any], Any] | None = None


def _call(task: Any) -> Any:
    if _WORKER_FN is None:
        raise RuntimeError("worker function not set")
    return _WORKER_FN(task)


def _init_worker(fn: Callable[[Any], Any]) -> None:
    global _WORKER_FN
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    _WORKER_FN = fn


def run_tasks(
    fn: Callable[[Any], int], tasks: Sequence[Any], num_workers: int, total: int, desc: str, progress: bool = True
) -> int:
    """Run ``fn`` on every task (in-process for ``num_workers <= 0``, else a process pool) with a tqdm bar.

    Args:
        fn: picklable top-level function returning the number of frames it handled (advances the bar).
        tasks: work items.
        num_workers: processes (0: run here).
        total: frames in all tasks (bar length).
        desc: bar label.
        progress: show the bar.

    Returns:
        Sum of ``fn``'s return values.
    """
    from tqdm import tqdm

    done = 0
    with tqdm(total=total, desc=desc, unit="frame", disable=not progress, dynamic_ncols=True) as bar:
        results: Iterable[int]
        if num_workers <= 0 or len(tasks) <= 1:
            for task in tasks:
                n = fn(task)
                done += n
                bar.update(n)
            return done
        # Never plain fork: a process that already ran torch (its thread pools) can deadlock in forked children.
        method = "forkserver" if "forkserver" in multiprocessing.get_all_start_methods() else "spawn"
        ctx = multiprocessing.get_context(method)
        with ctx.Pool(processes=min(num_workers, len(tasks)), initializer=_init_worker, initargs=(fn,)) as pool:
            results = pool.imap_unordered(_call, tasks)
            for n in results:
                done += n
                bar.update(n)
    return done
