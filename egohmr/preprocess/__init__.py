"""Offline scene preprocessing (``egohmr preprocess``) and the helpers its commands share.

* ``scene_s1``: stage-1 scene points in front of the egocentric camera (``pcd_verts_dict`` / ``map_dict`` pickles).
* ``scene_s2``: stage-2 2x2 m scene cubes around the GT body (train/val) or the stage-1 translation (test).

Shared rules: outputs are written atomically (temporary file in the same folder, then ``os.replace``), finished
outputs are skipped (resumable), work is spread over a process pool, and every random draw comes from a generator
derived from ``(seed, frame key)`` so results do not depend on the number of workers or on the order of work.
"""

from __future__ import annotations

import hashlib
import multiprocessing
import os
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from egohmr.files import atomic_open

__all__ = ["atomic_save_npy", "frame_rng", "run_tasks", "uniform_downsample"]


def frame_rng(seed: int, key: str) -> np.random.Generator:
    """Generator for one frame, from ``seed`` and a stable hash of the frame key (independent of worker count)."""
    digest = hashlib.sha256(str(key).encode("utf-8")).digest()
    words = [int.from_bytes(digest[i : i + 4], "little") for i in range(0, 16, 4)]
    return np.random.default_rng(np.random.SeedSequence([int(seed), *words]))


def atomic_save_npy(path: str | Path, array: np.ndarray) -> None:
    """``np.save`` to ``path`` atomically (no pickles), creating its folder."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    with atomic_open(path, "wb") as fh:
        np.save(fh, np.asarray(array), allow_pickle=False)


def uniform_downsample(
    points: np.ndarray,
    num_points: int,
    where: str,
    allow_replacement: bool = False,
    rng: np.random.Generator | None = None,
) -> np.ndarray:
    """Keep every k-th point, ``k = floor(n / num_points)``, then the first ``num_points`` (open3d
    ``uniform_down_sample`` as used by the official scripts; reference-egohmr.md section 4).

    Args:
        points: (n, 3) float points in a fixed order.
        num_points: target count (20,000).
        where: frame / file named in the error message.
        allow_replacement: when ``n < num_points``, draw ``num_points`` indices with replacement from ``rng`` instead
            of failing (off by default, as the official scripts stop there).
        rng: generator for the replacement draw.

    Returns:
        (num_points, 3) points.

    Raises:
        ValueError: fewer than ``num_points`` points and ``allow_replacement`` is False.
    """
    n = int(points.shape[0])
    if n < num_points:
        if not allow_replacement or n == 0:
            raise ValueError(
                f"{where}: only {n} scene points, need {num_points} (use --allow-replacement to sample with "
                "replacement)"
            )
        if rng is None:
            raise ValueError(f"{where}: sampling with replacement needs a generator")
        return points[np.sort(rng.integers(0, n, size=num_points))]
    k = n // num_points
    return points[::k][:num_points]


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
