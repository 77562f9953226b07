"""Rigid 4x4 transforms between named frames.

Convention: a transform ``a2b`` (for example ``world2pv``) maps homogeneous column vectors of frame ``a`` to frame
``b``: ``p_b = a2b @ [p_a; 1]``. Composition ``compose(b2c, a2b) = b2c @ a2b = a2c``. Frames used in the project:
``_pv`` (HoloLens PV camera, OpenCV axes: x right, y down, z forward), ``_world`` (HoloLens world), ``_kinect``,
``_scene`` (scene mesh, y-up), ``_hc`` (PV axes minus body translation) and ``_local`` (SMPL body frame before global
orientation and translation: y-up, facing +z). Units: metres.

`apply_transform` takes torch tensors or numpy arrays (the data and evaluation code is numpy); the other functions are
torch only.
"""

from __future__ import annotations

from typing import TypeVar

import numpy as np
import torch

__all__ = ["HOLO_TO_OPENCV", "apply_transform", "compose", "holo_to_opencv", "invert_rigid", "make_rigid"]

# HoloLens (OpenGL axes: y up, z backward) -> OpenCV axes (y down, z forward) for the PV camera; the official
# `add_trans` (reference-egohmr.md section 4): P_pv = HOLO_TO_OPENCV @ world2pv @ kinect2holo @ scene2kinect @ P_scene.
HOLO_TO_OPENCV: tuple[tuple[float, ...], ...] = (
    (1.0, 0.0, 0.0, 0.0),
    (0.0, -1.0, 0.0, 0.0),
    (0.0, 0.0, -1.0, 0.0),
    (0.0, 0.0, 0.0, 1.0),
)


Array = TypeVar("Array", torch.Tensor, np.ndarray)


def holo_to_opencv(dtype: torch.dtype = torch.float32, device: torch.device | str | None = None) -> torch.Tensor:
    """``HOLO_TO_OPENCV = diag(1, -1, -1, 1)`` as a (4, 4) tensor."""
    return torch.tensor(HOLO_TO_OPENCV, dtype=dtype, device=device)


def _check_T(T: torch.Tensor | np.ndarray, name: str = "T") -> None:
    if T.ndim < 2 or T.shape[-2:] != (4, 4):
        raise ValueError(f"{name} must have shape (..., 4, 4), got {tuple(T.shape)}")


def make_rigid(R: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Build ``[[R, t], [0, 1]]``.

    Args:
        R: (..., 3, 3) float rotation.
        t: (..., 3) float translation, metres.

    Returns:
        (..., 4, 4) float.
    """
    if R.shape[-2:] != (3, 3) or t.shape[-1] != 3:
        raise ValueError(f"R must be (..., 3, 3) and t (..., 3), got {tuple(R.shape)} and {tuple(t.shape)}")
    batch = torch.broadcast_shapes(R.shape[:-2], t.shape[:-1])
    T = torch.zeros(*batch, 4, 4, dtype=R.dtype, device=R.device)
    T[..., :3, :3] = R
    T[..., :3, 3] = t
    T[..., 3, 3] = 1.0
    return T


def apply_transform(T: Array, points: Array) -> Array:
    """Apply a 4x4 transform to 3D points: ``p' = R p + t``, computed as ``points @ R^T + t``.

    Args:
        T: (..., 4, 4) float, ``src2dst``; a torch tensor or a numpy array, like ``points``.
        points: (..., N, 3) float, metres, frame ``src``.

    Returns:
        (..., N, 3) float, metres, frame ``dst``; the type of the inputs.
    """
    _check_T(T)
    if points.ndim < 2 or points.shape[-1] != 3:
        raise ValueError(f"points must have shape (..., N, 3), got {tuple(points.shape)}")
    R = T[..., :3, :3]  # (..., 3, 3)
    t = T[..., None, :3, 3]  # (..., 1, 3)
    return points @ R.swapaxes(-1, -2) + t  # (..., N, 3)


def invert_rigid(T: torch.Tensor) -> torch.Tensor:
    """Inverse of a rigid transform: ``[[R^T, -R^T t], [0, 1]]`` (exact for rotations, no matrix inverse).

    Args:
        T: (..., 4, 4) float, ``a2b`` with an orthonormal rotation block.

    Returns:
        (..., 4, 4) float, ``b2a``.
    """
    _check_T(T)
    Rt = T[..., :3, :3].transpose(-1, -2)  # (..., 3, 3)
    t = T[..., :3, 3:]  # (..., 3, 1)
    return make_rigid(Rt, -(Rt @ t)[..., 0])


def compose(*transforms: torch.Tensor) -> torch.Tensor:
    """Matrix product in the given order: ``compose(b2c, a2b) = b2c @ a2b = a2c``.

    Args:
        *transforms: one or more (..., 4, 4) float tensors (broadcast over leading dims).

    Returns:
        (..., 4, 4) float.
    """
    if not transforms:
        raise ValueError("compose needs at least one transform")
    out = transforms[0]
    _check_T(out, "transforms[0]")
    for i, T in enumerate(transforms[1:], start=1):
        _check_T(T, f"transforms[{i}]")
        out = out @ T
    return out
