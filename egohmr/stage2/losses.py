"""Stage-2 training losses on the decoded x̂0 (`reference-egohmr.md` section 3, "Stage-2 training losses").

Pure functions, one per `Stage2LossWeights` field (``loss_<name>``). The official stage 2 has no loss on x0 itself:
only these geometric terms on the SMPL body decoded from the prediction. Predicted bodies are the neutral body with
the predicted betas; GT bodies the gendered body with GT parameters.
"""

from __future__ import annotations

import torch

from egohmr import losses as shared
from egohmr.collision import PenetrationScorer

__all__ = [
    "loss_betas",
    "loss_body_pose",
    "loss_global_orient",
    "loss_keypoints_2d_full",
    "loss_keypoints_3d",
    "loss_keypoints_3d_full",
    "loss_penetration",
    "loss_pose_6d_ortho",
    "loss_v2v",
]


def loss_v2v(
    pred_vertices: torch.Tensor, pred_joints: torch.Tensor, gt_vertices: torch.Tensor, gt_joints: torch.Tensor
) -> torch.Tensor:
    """Mean L1 between pelvis-aligned vertices (official ``loss_v2v``).

    Args:
        pred_vertices: (B, V, 3) metres, any frame. pred_joints: (B, 24, 3), same frame (joint 0 = pelvis).
        gt_vertices: (B, V, 3) metres. gt_joints: (B, 24, 3), same frame as ``gt_vertices``.

    Returns:
        () mean over batch, vertices and xyz.
    """
    return shared.loss_v2v(pred_vertices[:, None], pred_joints[:, None, 0], gt_vertices, gt_joints[:, 0]).mean()


def loss_keypoints_3d(pred_joints: torch.Tensor, gt_joints: torch.Tensor) -> torch.Tensor:
    """L1 of pelvis-aligned joints, summed over joints and xyz, mean over the batch: (B, 24, 3) each -> ()."""
    return shared.loss_keypoints_3d(pred_joints[:, None], gt_joints).mean()


def loss_keypoints_3d_full(pred_joints_pv: torch.Tensor, gt_joints_pv: torch.Tensor) -> torch.Tensor:
    """L1 of camera-frame joints (prediction placed with the input translation), summed per sample, mean over B.

    Args:
        pred_joints_pv: (B, 24, 3) metres, PV frame (local joints + GT translation in training).
        gt_joints_pv: (B, 24, 3) metres, PV frame.
    """
    return shared.loss_keypoints_3d_full(pred_joints_pv[:, None], gt_joints_pv).mean()


def loss_keypoints_2d_full(
    pred_op25_pv: torch.Tensor,
    gt_kp2d_op25_full_px: torch.Tensor,
    fx: torch.Tensor,
    fy: torch.Tensor,
    cx: torch.Tensor,
    cy: torch.Tensor,
    img_size_px: torch.Tensor,
) -> torch.Tensor:
    """Confidence-weighted L1 of the OpenPose-25 reprojection in the full image, normalised by the image size.

    Args:
        pred_op25_pv: (B, 25, 3) metres, PV frame. Predicted OpenPose joints (translation included).
        gt_kp2d_op25_full_px: (B, 25, 3) (x px, y px, confidence), full image.
        fx, fy, cx, cy: (B,) px, intrinsics.
        img_size_px: (B, 2) (W, H) px; x is divided by W and y by H (official: 1920 × 1080).

    Returns:
        () sum over joints and xy of conf·|Δ|, mean over the batch; OpenPose joints 1, 9, 12 ignored.
    """
    size = img_size_px.to(pred_op25_pv.dtype)
    pred_norm = shared.project_keypoints_full_norm(pred_op25_pv[:, None], fx, fy, cx, cy, size)  # (B, 1, 25, 2)
    gt_xy_norm = gt_kp2d_op25_full_px[..., :2] / size.unsqueeze(1) - 0.5  # (B, 25, 2)
    gt_norm = torch.cat((gt_xy_norm, gt_kp2d_op25_full_px[..., 2:]), dim=-1)  # (B, 25, 3)
    return shared.loss_keypoints_2d_full(pred_norm, gt_norm).mean()


def loss_betas(pred_betas: torch.Tensor, gt_betas: torch.Tensor) -> torch.Tensor:
    """Squared error of the shape, summed, divided by B: (B, 10) each -> ()."""
    return shared.loss_betas(pred_betas[:, None], gt_betas).mean()


def loss_body_pose(pred_body_pose_rotmat: torch.Tensor, gt_body_pose_rotmat: torch.Tensor) -> torch.Tensor:
    """Squared error of the body rotation matrices, summed, divided by B: (B, 23, 3, 3) each -> ()."""
    return shared.loss_body_pose(pred_body_pose_rotmat[:, None], gt_body_pose_rotmat).mean()


def loss_global_orient(pred_rotmat: torch.Tensor, gt_rotmat: torch.Tensor) -> torch.Tensor:
    """Squared error of the global rotation matrix, summed, divided by B: (B, 3, 3) each -> ()."""
    return shared.loss_global_orient(pred_rotmat[:, None], gt_rotmat).mean()


def loss_pose_6d_ortho(pred_pose_6d: torch.Tensor) -> torch.Tensor:
    """Orthonormality of the raw (un-normalised) predicted 6D: mean of (R6ᵀ R6 − I₂)².

    Args:
        pred_pose_6d: (B, 24, 6) row-order 6D (R00, R01, R10, R11, R20, R21), i.e. a 3 × 2 matrix per joint.
    """
    r6 = pred_pose_6d.reshape(*pred_pose_6d.shape[:-1], 3, 2)  # (B, 24, 3, 2)
    eye = torch.eye(2, dtype=r6.dtype, device=r6.device)
    return (r6.transpose(-1, -2) @ r6 - eye).square().mean()


def loss_penetration(
    scorer: PenetrationScorer, points_hc: torch.Tensor, pred_vertices_local: torch.Tensor
) -> torch.Tensor:
    """Scene penetration of the predicted body: Σ over points of the depth (metres), mean over the batch.

    Args:
        scorer: per-point penetration (`egohmr.collision.SurfacePenetration`).
        points_hc: (B, P, 3) metres, human-centric frame (scene minus the body translation).
        pred_vertices_local: (B, V, 3) metres, body without translation (same frame as ``points_hc``).

    Returns:
        () differentiable w.r.t. the vertices (a zero without graph when no point is near any body).
    """
    return scorer(points_hc, pred_vertices_local).sum(dim=1).mean()
