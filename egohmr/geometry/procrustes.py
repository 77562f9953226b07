"""Similarity (scale + rotation + translation) Procrustes alignment of point sets.

Notation (Umeyama 1991): ``x_j`` = pred, ``y_j`` = gt, weights ``w_j``. Centroids ``mu_x, mu_y``; centred sets
``X, Y``; ``K = sum_j w_j X_j Y_j^T``; ``K = U S V^T``; ``R = V D U^T`` with ``D = diag(1, 1, sign det(V U^T))``;
``s = tr(R K) / sum_j w_j |X_j|^2``; ``t = mu_y - s R mu_x``. The aligned prediction is ``s R x + t``, applied to
every point (also to masked-out ones). Rotation matrices act on column vectors.
"""

from __future__ import annotations

import torch

__all__ = ["similarity_procrustes", "similarity_procrustes_zero_filled"]


def _check(pred: torch.Tensor, gt: torch.Tensor, mask: torch.Tensor | None) -> None:
    if pred.ndim < 2 or pred.shape[-1] != 3:
        raise ValueError(f"pred must have shape (..., J, 3), got {tuple(pred.shape)}")
    if gt.shape != pred.shape:
        raise ValueError(f"gt must have the shape of pred {tuple(pred.shape)}, got {tuple(gt.shape)}")
    if mask is not None and mask.shape != pred.shape[:-1]:
        raise ValueError(f"mask must have shape {tuple(pred.shape[:-1])} (..., J), got {tuple(mask.shape)}")


def _align(pred: torch.Tensor, gt: torch.Tensor, weights: torch.Tensor, apply_to: torch.Tensor) -> torch.Tensor:
    """Estimate ``s, R, t`` from weighted points and apply them to ``apply_to``.

    Args:
        pred, gt: (..., J, 3) float.
        weights: (..., J) float, non-negative, at least one positive per set.
        apply_to: (..., J, 3) float, points the transform is applied to.
    """
    w = weights[..., None]  # (..., J, 1)
    w_sum = w.sum(-2, keepdim=True)  # (..., 1, 1)
    mu_x = (w * pred).sum(-2, keepdim=True) / w_sum  # (..., 1, 3)
    mu_y = (w * gt).sum(-2, keepdim=True) / w_sum  # (..., 1, 3)
    X = pred - mu_x  # (..., J, 3)
    Y = gt - mu_y  # (..., J, 3)
    var_x = (w * X * X).sum(dim=(-2, -1))  # (...)
    K = (w * X).transpose(-1, -2) @ Y  # (..., 3, 3) = sum_j w_j X_j Y_j^T
    U, _, Vh = torch.linalg.svd(K)
    V = Vh.transpose(-1, -2)
    det = torch.linalg.det(V @ U.transpose(-1, -2))  # (...)
    d = torch.ones(*det.shape, 3, dtype=pred.dtype, device=pred.device)
    d[..., 2] = torch.where(det < 0, -1.0, 1.0).to(pred.dtype)
    R = V @ (d[..., :, None] * U.transpose(-1, -2))  # (..., 3, 3)
    scale = (R * K.transpose(-1, -2)).sum(dim=(-2, -1)) / var_x  # (...) = tr(R K) / var_x
    s = scale[..., None, None]  # (..., 1, 1)
    t = mu_y - s * (mu_x @ R.transpose(-1, -2))  # (..., 1, 3)
    return s * (apply_to @ R.transpose(-1, -2)) + t  # (..., J, 3)


def similarity_procrustes(pred: torch.Tensor, gt: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """Align ``pred`` to ``gt`` with the best similarity transform (least squares).

    With ``mask``, ``s, R, t`` are estimated from the masked-in joints only (a proper weighted Procrustes), then applied
    to all joints; masked-out joints do not influence the result at all.

    Args:
        pred: (..., J, 3) float, metres. Points to align.
        gt: (..., J, 3) float, metres. Target points.
        mask: optional (..., J) bool, True = joint used for the estimate. Each set needs >= 3 non-collinear joints
            (with none, the result is NaN). Masked-out values may be anything, even NaN.

    Returns:
        (..., J, 3) float, metres: ``s R pred + t`` in the frame of ``gt``.
    """
    _check(pred, gt, mask)
    if mask is None:
        return _align(pred, gt, torch.ones_like(pred[..., 0]), pred)
    keep = mask.bool()[..., None]  # (..., J, 1); masked-out values (even NaN) never enter the estimate
    zero = torch.zeros((), dtype=pred.dtype, device=pred.device)
    pred_in, gt_in = torch.where(keep, pred, zero), torch.where(keep, gt, zero)
    return _align(pred_in, gt_in, mask.to(pred.dtype), pred)


def similarity_procrustes_zero_filled(pred: torch.Tensor, gt: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Official EgoHMR masked Procrustes quirk (reference-egohmr.md section 5, PA-MPJPE with vis mask).

    Invisible joints are set to zero in both sets, then an unweighted similarity transform is estimated from all J
    joints (the zeros still enter centroids and the SVD), and applied to the original, unmasked ``pred``.

    Args:
        pred: (..., J, 3) float, metres.
        gt: (..., J, 3) float, metres.
        mask: (..., J) bool, True = visible.

    Returns:
        (..., J, 3) float, metres: aligned ``pred``.
    """
    _check(pred, gt, mask)
    m = mask.to(pred.dtype)[..., None]  # (..., J, 1)
    return _align(pred * m, gt * m, torch.ones_like(pred[..., 0]), pred)
