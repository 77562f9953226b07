"""Reproducible scene-point sampling: per-frame random streams, and the official uniform down-sampling.

Random streams: every random draw made for a frame comes from ``frame_rng(seed, key, stream)``, where ``key`` is the
frame's image file stem (`frame_key`: ``<timestamp>_frame_XXXXX`` for EgoBody, the same name a recording exported to
user formats gives the frame) and ``stream`` names what is drawn (`SCENE_S1`, `STAGE1_SUBSET`, `SCENE_S2`,
`STAGE2_NOISE`). The same
(seed, key, stream) gives the same numbers in ``egohmr preprocess``, ``egohmr test stage2`` and ``egohmr infer``,
whatever the worker count, batch composition, chunking or the frames processed before. Every job whose output
depends on these draws stores `RANDOM_STREAMS` in its manifest (`egohmr.jobs`), so outputs made with another scheme
are never reused.
"""

from __future__ import annotations

import hashlib
from pathlib import PurePosixPath

import numpy as np

__all__ = [
    "RANDOM_STREAMS",
    "SCENE_POINTS_PER_FRAME",
    "SCENE_S1",
    "SCENE_S2",
    "STAGE1_SUBSET",
    "STAGE2_NOISE",
    "frame_key",
    "frame_rng",
    "frame_seed",
    "front_downsample",
    "subset_indices",
    "uniform_downsample",
]

SCENE_POINTS_PER_FRAME = 20000
"""Scene points stored per frame by the official preprocessing of both stages."""
SCENE_S1 = "scene-s1"
"""Stream of the stage-1 scene points (draws only when sampling with replacement)."""
STAGE1_SUBSET = "stage1-subset"
"""Stream of the stage-1 model's subset of the stored points (a model with ``num_scene_points`` < 20,000)."""
SCENE_S2 = "scene-s2"
"""Stream of the stage-2 cube: its yaw, the train-time shift, then the repeats."""
STAGE2_NOISE = "stage2-noise"
"""Stream of the stage-2 diffusion noise (`egohmr.stage2.pipeline.draw_frame_noise`)."""

RANDOM_STREAMS = "frame-stem-v1"
"""Version of the per-frame random streams (key, stream names, draw order); change it whenever a draw changes."""


def frame_key(image_name: str) -> str:
    """The key of a frame's random streams: the stem of its image file (``a/b/123_frame_00042.jpg`` ->
    ``123_frame_00042``)."""
    return PurePosixPath(str(image_name).replace("\\", "/")).stem


def frame_rng(seed: int, key: str, stream: str) -> np.random.Generator:
    """Generator of one stream of one frame, from ``seed`` and a stable hash of ``stream`` and the frame key."""
    digest = hashlib.sha256(f"{stream}/{key}".encode()).digest()
    words = [int.from_bytes(digest[i : i + 4], "little") for i in range(0, 16, 4)]
    return np.random.default_rng(np.random.SeedSequence([int(seed), *words]))


def frame_seed(seed: int, key: str, stream: str) -> int:
    """A 63-bit integer seed of one stream of one frame (for a ``torch.Generator``)."""
    return int(frame_rng(seed, key, stream).integers(0, 2**63 - 1))


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


def front_downsample(
    points: np.ndarray,
    depth: np.ndarray,
    num_points: int,
    where: str,
    allow_replacement: bool = False,
    rng: np.random.Generator | None = None,
) -> np.ndarray:
    """The stage-1 scene input (official ``preprocess_scene_s1.py``): the points in front of the camera
    (``depth > 0``), in their order, `uniform_downsample`-d to ``num_points``.

    Args:
        points: (n, 3) points in any frame. depth: (n,) their depth in the PV camera, metres.
        num_points, where, allow_replacement, rng: see `uniform_downsample`.

    Returns:
        (num_points, 3) points of ``points``, same frame.
    """
    return uniform_downsample(points[depth > 0], num_points, where, allow_replacement, rng)


def subset_indices(num_stored: int, num_points: int, rng: np.random.Generator) -> np.ndarray:
    """Indices of a stage-1 model's scene points among the ``num_stored`` stored ones: ``num_points`` drawn without
    replacement, sorted (all of them when ``num_stored <= num_points``).

    Returns:
        (min(num_stored, num_points),) int64.
    """
    if num_stored <= num_points:
        return np.arange(num_stored)
    return np.sort(rng.choice(num_stored, num_points, replace=False))
