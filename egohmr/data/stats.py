"""Diffusion pose statistics: the x0 normaliser of stage 2 (``preprocess_stats.npz``).

Official definition (reference-egohmr.md section 3): ``x0`` = 144-d = 24 joints x row-order 6D of
``[global_orient_pv, 23 body joints]``; ``Xmean`` is the per-dimension mean over the training split; ``Xstd`` is the
per-dimension (population, ddof=0) standard deviation collapsed to two scalars, the mean over dims 0:6 (global
orientation) and the mean over dims 6:144 (body), stored as a (144,) vector holding those two values. The file is
``<logdir>/preprocess_stats/preprocess_stats.npz``. The spec does not record the npz key names; we use ``Xmean`` and
``Xstd`` (the names of the normalisation in the spec), both float32 (144,).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from egohmr.constants import BODY_POSE_AA_DIM, POSE_6D_DIM
from egohmr.files import atomic_open
from egohmr.geometry.rotations import axis_angle_to_rotmat, rotmat_to_rot6d

__all__ = [
    "STATS_FILE",
    "PoseStats",
    "compute_pose_stats",
    "load_pose_stats",
    "pose_6d_row",
    "pose_stats_for_split",
    "pose_stats_job",
    "save_pose_stats",
]

STATS_FILE = "preprocess_stats.npz"
ORIENT_DIMS = 6


@dataclass(frozen=True)
class PoseStats:
    """x0 normaliser.

    Attributes:
        x_mean: (144,) float32 per-dimension mean (``Xmean``).
        x_std: (144,) float32, one value on dims 0:6 and another on 6:144 (``Xstd``).
        num_frames: number of frames used (not stored in the official file; 0 when unknown).
    """

    x_mean: np.ndarray
    x_std: np.ndarray
    num_frames: int = 0


def pose_6d_row(global_orient_aa: np.ndarray, body_pose_aa: np.ndarray) -> np.ndarray:
    """Axis-angle SMPL pose -> the 144-d row-order 6D representation.

    Args:
        global_orient_aa: (N, 3) float, radians, PV frame.
        body_pose_aa: (N, 69) float, radians.

    Returns:
        (N, 144) float64: 24 joints x ``[R00, R01, R10, R11, R20, R21]``.
    """
    go = np.asarray(global_orient_aa, dtype=np.float64)
    bp = np.asarray(body_pose_aa, dtype=np.float64)
    if go.ndim != 2 or go.shape[1] != 3:
        raise ValueError(f"global_orient_aa must be (N, 3), got {go.shape}")
    if bp.shape != (go.shape[0], BODY_POSE_AA_DIM):
        raise ValueError(f"body_pose_aa must be (N, 69) with N={go.shape[0]}, got {bp.shape}")
    aa = np.concatenate([go[:, None], bp.reshape(-1, 23, 3)], axis=1)  # (N, 24, 3)
    R = axis_angle_to_rotmat(torch.from_numpy(aa))  # (N, 24, 3, 3)
    return rotmat_to_rot6d(R, order="row").reshape(-1, POSE_6D_DIM).numpy()  # (N, 144)


def compute_pose_stats(global_orient_aa: np.ndarray, body_pose_aa: np.ndarray) -> PoseStats:
    """Statistics of the 144-d pose over a set of frames (the training split).

    Args:
        global_orient_aa: (N, 3) float, radians, PV frame.
        body_pose_aa: (N, 69) float, radians.

    Returns:
        PoseStats.
    """
    x = pose_6d_row(global_orient_aa, body_pose_aa)  # (N, 144)
    if x.shape[0] < 2:
        raise ValueError(f"need at least 2 frames for pose statistics, got {x.shape[0]}")
    mean = x.mean(axis=0)
    std = x.std(axis=0)
    std2 = np.empty(POSE_6D_DIM)
    std2[:ORIENT_DIMS] = std[:ORIENT_DIMS].mean()
    std2[ORIENT_DIMS:] = std[ORIENT_DIMS:].mean()
    return PoseStats(mean.astype(np.float32), std2.astype(np.float32), int(x.shape[0]))


def pose_stats_for_split(root: str | Path, split: str = "train") -> PoseStats:
    """Pose statistics of an EgoBody annotation split (official: train).

    Raises:
        FileNotFoundError: missing npz. ValueError: missing field or wrong shape (naming the file and field).
    """
    from egohmr.data import egobody_format as ebf

    path = ebf.annotation_path(root, split)
    data = ebf.read_annotation_npz(path)
    for name, width in (("global_orient_pv", 3), ("pose", BODY_POSE_AA_DIM)):
        if name not in data:
            raise ValueError(f"{path}: field {name!r} missing")
        if data[name].ndim != 2 or data[name].shape[1] != width:
            raise ValueError(f"{path}: field {name!r} must be (N, {width}), got {data[name].shape}")
    return compute_pose_stats(data["global_orient_pv"], data["pose"])


def save_pose_stats(path: str | Path, stats: PoseStats) -> Path:
    """Write ``{Xmean, Xstd}`` (float32 (144,)) atomically; ``path`` may be a folder (gets ``preprocess_stats.npz``).

    Returns:
        The written file path.
    """
    path = Path(path)
    if path.suffix != ".npz":
        path = path / STATS_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_open(path, "wb") as fh:
        np.savez(fh, Xmean=stats.x_mean.astype(np.float32), Xstd=stats.x_std.astype(np.float32))
    return path


def pose_stats_job(root: str | Path, split: str, out: str | Path, overwrite: bool = False) -> tuple[PoseStats, Path]:
    """`egohmr preprocess stats`: compute the statistics of a split and save them under an `egohmr.jobs` manifest
    (``pose-stats``: the split and the annotation npz digest) in the output folder (`out`, or the folder of an .npz).

    Raises:
        egohmr.jobs.StaleOutputError: the folder holds statistics of other inputs, or files of another program, and
            `overwrite` is False. egohmr.jobs.FolderLockedError: another job is writing the folder.
    """
    from egohmr.data import egobody_format as ebf
    from egohmr.jobs import JobManifest, file_digest, job_output_dir

    path = Path(out)
    path = path if path.suffix == ".npz" else path / STATS_FILE
    manifest = JobManifest(
        "pose-stats", {"split": split}, {"annotations": file_digest(ebf.annotation_path(root, split))}
    )
    with job_output_dir(path.parent, manifest, overwrite, [path], name=f"pose-stats-{path.stem}"):
        stats = pose_stats_for_split(root, split)
        return stats, save_pose_stats(path, stats)


def load_pose_stats(path: str | Path) -> PoseStats:
    """Read a ``preprocess_stats.npz`` (file or folder holding it).

    Raises:
        FileNotFoundError: missing file. ValueError: missing key or wrong shape.
    """
    path = Path(path)
    if path.is_dir():
        path = path / STATS_FILE
    if not path.is_file():
        raise FileNotFoundError(f"missing pose statistics {path} (written by `egohmr preprocess stats`)")
    with np.load(path) as data:
        out = {}
        for key in ("Xmean", "Xstd"):
            if key not in data.files:
                raise ValueError(f"{path}: key {key!r} missing (keys: {data.files})")
            arr = np.asarray(data[key], dtype=np.float32).reshape(-1)
            if arr.shape != (POSE_6D_DIM,):
                raise ValueError(f"{path}: field {key!r} must have {POSE_6D_DIM} values, got shape {data[key].shape}")
            out[key] = arr
    return PoseStats(out["Xmean"], out["Xstd"])
