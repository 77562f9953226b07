"""Mean-pose / mean-translation baseline of stage 1: predicts the training set's mean for every frame.

The mean rotation of each joint is the chordal L2 mean (the element-wise mean of the rotation matrices projected
back onto SO(3) by SVD); betas and translation are arithmetic means. It is what a model that ignores its input would
reach at best under an L2 loss, so a trained model should beat it on translation error and MPJPE.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import torch

from egohmr.data.egobody_format import annotation_path
from egohmr.geometry.rotations import axis_angle_to_rotmat

__all__ = ["MeanPrediction", "mean_prediction", "project_to_so3"]


def project_to_so3(m: np.ndarray) -> np.ndarray:
    """Nearest rotation (Frobenius) of each (..., 3, 3) matrix, via SVD with the determinant fixed to +1."""
    u, _, vt = np.linalg.svd(m)
    d = np.sign(np.linalg.det(u @ vt))
    u = u.copy()
    u[..., :, 2] *= d[..., None]
    return u @ vt


@dataclasses.dataclass(frozen=True)
class MeanPrediction:
    """Training-set means.

    Attributes:
        global_orient_rotmat: (3, 3) float64, PV frame.
        body_pose_rotmat: (23, 3, 3) float64.
        betas: (10,) float64.
        transl_pv: (3,) float64, metres, PV frame.
        num_frames: frames averaged.
    """

    global_orient_rotmat: np.ndarray
    body_pose_rotmat: np.ndarray
    betas: np.ndarray
    transl_pv: np.ndarray
    num_frames: int


def mean_prediction(root: str | Path, split: str = "train") -> MeanPrediction:
    """Means over the annotation npz of `split` (fields `global_orient_pv`, `pose`, `shape`, `transl_pv`).

    Raises:
        FileNotFoundError: missing annotation file. ValueError: missing field.
    """
    path = annotation_path(Path(root), split)
    if not path.is_file():
        raise FileNotFoundError(f"missing annotation file {path} (needed for the mean baseline)")
    with np.load(path, allow_pickle=False) as data:
        for key in ("global_orient_pv", "pose", "shape", "transl_pv"):
            if key not in data.files:
                raise ValueError(f"{path}: field {key!r} missing")
        go = np.asarray(data["global_orient_pv"], dtype=np.float64)
        pose = np.asarray(data["pose"], dtype=np.float64).reshape(-1, 23, 3)
        betas = np.asarray(data["shape"], dtype=np.float64)
        transl = np.asarray(data["transl_pv"], dtype=np.float64)
    aa = np.concatenate([go[:, None], pose], axis=1)  # (N, 24, 3)
    rot = axis_angle_to_rotmat(torch.from_numpy(aa)).numpy()  # (N, 24, 3, 3)
    mean_rot = project_to_so3(rot.mean(axis=0))  # (24, 3, 3)
    return MeanPrediction(
        global_orient_rotmat=mean_rot[0],
        body_pose_rotmat=mean_rot[1:],
        betas=betas[:, :10].mean(axis=0),
        transl_pv=transl.mean(axis=0),
        num_frames=int(aa.shape[0]),
    )
