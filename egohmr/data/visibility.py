"""Joint visibility: OpenPose-based (conditioning of stage 2) and image-bounds (metrics).

Official definitions (reference-egohmr.md sections 3 and 5):
    * conditioning: ``vis_op = conf > 0`` for the 25 OpenPose keypoints, MidHip (8) forced visible, gathered to the 24
      SMPL joints with ``OPENPOSE_TO_SMPL_VISIBILITY`` (train default) or ``..._LOOSE`` (``pelvis_vis_loosen``, test
      default);
    * metrics: a GT joint (or vertex) is visible when its projection lies in ``[0, W) x [0, H)``. The official code has
      no depth test (points behind the camera can count as visible); ``require_front=True`` adds ``z > 0``.
"""

from __future__ import annotations

import torch

from egohmr.constants import (
    OPENPOSE_MIDHIP,
    OPENPOSE_TO_SMPL_VISIBILITY,
    OPENPOSE_TO_SMPL_VISIBILITY_LOOSE,
)
from egohmr.geometry.cameras import perspective_project

__all__ = ["in_image_visibility", "openpose_visibility_smpl24"]


def openpose_visibility_smpl24(kp2d_op25: torch.Tensor, loosen: bool = False) -> torch.Tensor:
    """SMPL-24 joint visibility from OpenPose BODY_25 confidences.

    Args:
        kp2d_op25: (..., 25, 3) float (x, y, conf) or (..., 25) float confidences.
        loosen: use the official ``pelvis_vis_loosen`` map (hips <- knees, neck <- OpenPose neck).

    Returns:
        (..., 24) bool.
    """
    conf = kp2d_op25[..., 2] if kp2d_op25.ndim >= 2 and kp2d_op25.shape[-1] == 3 else kp2d_op25
    if conf.shape[-1:] != (25,):
        raise ValueError(f"kp2d_op25 must have shape (..., 25, 3) or (..., 25), got {tuple(kp2d_op25.shape)}")
    vis_op = conf > 0  # (..., 25)
    vis_op[..., OPENPOSE_MIDHIP] = True
    table = OPENPOSE_TO_SMPL_VISIBILITY_LOOSE if loosen else OPENPOSE_TO_SMPL_VISIBILITY
    index = torch.as_tensor(table, dtype=torch.long, device=conf.device)
    return vis_op[..., index]  # (..., 24)


def in_image_visibility(
    points_pv: torch.Tensor,
    fx: torch.Tensor | float,
    fy: torch.Tensor | float,
    cx: torch.Tensor | float,
    cy: torch.Tensor | float,
    width_px: int,
    height_px: int,
    require_front: bool = False,
) -> torch.Tensor:
    """Whether camera-frame points project inside the full image.

    Args:
        points_pv: (..., N, 3) float, metres, PV camera frame.
        fx, fy, cx, cy: intrinsics (px), floats or (...) tensors.
        width_px, height_px: full image size ``W x H`` (official: 1920 x 1080).
        require_front: also require ``z > 0`` (the official metrics do not; ``False`` reproduces them).

    Returns:
        (..., N) bool, ``0 <= u < W`` and ``0 <= v < H`` (and ``z > 0`` if required).
    """
    uv = perspective_project(points_pv, fx, fy, cx, cy)  # (..., N, 2)
    u, v = uv[..., 0], uv[..., 1]
    vis = (u >= 0) & (u < width_px) & (v >= 0) & (v < height_px)
    if require_front:
        vis = vis & (points_pv[..., 2] > 0)
    return vis
