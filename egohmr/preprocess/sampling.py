"""Reproducible scene-point sampling: a generator per frame, and the official uniform down-sampling."""

from __future__ import annotations

import hashlib

import numpy as np

__all__ = ["frame_rng", "uniform_downsample"]


def frame_rng(seed: int, key: str) -> np.random.Generator:
    """Generator for one frame, from ``seed`` and a stable hash of the frame key (independent of worker count)."""
    digest = hashlib.sha256(str(key).encode("utf-8")).digest()
    words = [int.from_bytes(digest[i : i + 4], "little") for i in range(0, 16, 4)]
    return np.random.default_rng(np.random.SeedSequence([int(seed), *words]))


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
