"""Geometric body losses shared by stage 1 and stage 2, per sample (reference-egohmr.md sections 2 and 3).

Every function returns a (B, S) loss: B images, S samples per image, each prediction compared with its image's ground
truth. Stage 1 reduces them per mode / random samples (`egohmr.stage1.losses.combine_losses`); stage 2 has S = 1 and
averages over the batch. J = 24 SMPL joints, K = 25 OpenPose joints, V vertices.
"""

from __future__ import annotations

import torch

from egohmr.constants import OPENPOSE_IGNORED_IN_2D_LOSS
from egohmr.geometry.cameras import perspective_project

__all__ = [
    "loss_betas",
    "loss_body_pose",
    "loss_global_orient",
    "loss_keypoints_2d_full",
    "loss_keypoints_3d",
    "loss_keypoints_3d_full",
    "loss_v2v",
    "project_keypoints_full_norm",
]


def project_keypoints_full_norm(
    points_pv: torch.Tensor,
    fx: torch.Tensor,
    fy: torch.Tensor,
    cx: torch.Tensor,
    cy: torch.Tensor,
    img_size_px: torch.Tensor,
) -> torch.Tensor:
    """Project PV-frame points and normalise to [-0.5, 0.5] by the image size (official 1920 x 1080).

    Args:
        points_pv: (B, S, K, 3) float, metres, PV frame (translation included).
        fx, fy, cx, cy: (B,) float px intrinsics.
        img_size_px: (B, 2) float (W, H).

    Returns:
        (B, S, K, 2) float, ``u / W - 0.5``, ``v / H - 0.5``.
    """
    uv = perspective_project(points_pv, fx[:, None], fy[:, None], cx[:, None], cy[:, None])  # (B, S, K, 2) px
    return uv / img_size_px[:, None, None, :] - 0.5


def loss_keypoints_2d_full(pred_kp2d_norm: torch.Tensor, gt_kp2d_norm: torch.Tensor) -> torch.Tensor:
    """Confidence-weighted L1 on full-image 2D OpenPose keypoints; OP joints 1, 9, 12 are ignored (official).

    Args:
        pred_kp2d_norm: (B, S, 25, 2) float, normalised full-image coordinates.
        gt_kp2d_norm: (B, 25, 3) float, normalised (x, y) and confidence.

    Returns:
        (B, S) sum over joints and x, y.
    """
    conf = gt_kp2d_norm[:, None, :, 2:].clone()  # (B, 1, K, 1)
    conf[:, :, list(OPENPOSE_IGNORED_IN_2D_LOSS)] = 0.0
    err = (pred_kp2d_norm - gt_kp2d_norm[:, None, :, :2]).abs()  # (B, S, K, 2)
    return (conf * err).sum(dim=(2, 3))


def loss_keypoints_3d(pred_joints: torch.Tensor, gt_joints: torch.Tensor, pelvis: int = 0) -> torch.Tensor:
    """L1 on pelvis-aligned 3D joints.

    Args:
        pred_joints: (B, S, J, 3) float, metres (any frame; aligned at the pelvis).
        gt_joints: (B, J, 3) float, metres, same frame.
        pelvis: index of the pelvis joint.

    Returns:
        (B, S) sum over joints and xyz.
    """
    pred = pred_joints - pred_joints[:, :, pelvis : pelvis + 1]
    gt = (gt_joints - gt_joints[:, pelvis : pelvis + 1])[:, None]
    return (pred - gt).abs().sum(dim=(2, 3))


def loss_keypoints_3d_full(pred_joints_pv: torch.Tensor, gt_joints_pv: torch.Tensor) -> torch.Tensor:
    """L1 on camera-frame 3D joints (prediction includes the predicted full-image translation).

    Args:
        pred_joints_pv: (B, S, J, 3) float, metres, PV frame.
        gt_joints_pv: (B, J, 3) float, metres, PV frame.

    Returns:
        (B, S) sum over joints and xyz.
    """
    return (pred_joints_pv - gt_joints_pv[:, None]).abs().sum(dim=(2, 3))


def loss_v2v(
    pred_vertices: torch.Tensor, pred_pelvis: torch.Tensor, gt_vertices: torch.Tensor, gt_pelvis: torch.Tensor
) -> torch.Tensor:
    """Mean L1 between pelvis-aligned vertices.

    Args:
        pred_vertices: (B, S, V, 3) float, metres.
        pred_pelvis: (B, S, 3) float, metres, pelvis joint of each prediction.
        gt_vertices: (B, V, 3) float, metres, gendered GT mesh.
        gt_pelvis: (B, 3) float, metres.

    Returns:
        (B, S) mean over vertices and xyz.
    """
    pred = pred_vertices - pred_pelvis[:, :, None]
    gt = (gt_vertices - gt_pelvis[:, None])[:, None]
    return (pred - gt).abs().mean(dim=(2, 3))


def loss_global_orient(pred_rotmat: torch.Tensor, gt_rotmat: torch.Tensor) -> torch.Tensor:
    """Squared error on the global-orientation rotation matrix: (B, S, 3, 3), (B, 3, 3) -> (B, S) sum."""
    return ((pred_rotmat - gt_rotmat[:, None]) ** 2).sum(dim=(2, 3))


def loss_body_pose(pred_rotmat: torch.Tensor, gt_rotmat: torch.Tensor) -> torch.Tensor:
    """Squared error on the 23 body rotation matrices: (B, S, 23, 3, 3), (B, 23, 3, 3) -> (B, S) sum."""
    return ((pred_rotmat - gt_rotmat[:, None]) ** 2).sum(dim=(2, 3, 4))


def loss_betas(pred_betas: torch.Tensor, gt_betas: torch.Tensor) -> torch.Tensor:
    """Squared error on betas: (B, S, 10), (B, 10) -> (B, S) sum."""
    return ((pred_betas - gt_betas[:, None]) ** 2).sum(dim=2)
