"""Similarity Procrustes: exact recovery, masks, and the official zero-filled quirk."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from egohmr.geometry.procrustes import similarity_procrustes, similarity_procrustes_zero_filled
from egohmr.geometry.rotations import axis_angle_to_rotmat


@pytest.fixture()
def scene():
    gen = torch.Generator().manual_seed(1)
    pred = torch.randn(5, 24, 3, generator=gen, dtype=torch.float64) * 0.3
    R = axis_angle_to_rotmat(torch.randn(5, 3, generator=gen, dtype=torch.float64))
    s = torch.rand(5, 1, 1, generator=gen, dtype=torch.float64) + 0.5
    t = torch.randn(5, 1, 3, generator=gen, dtype=torch.float64)
    gt = s * pred @ R.transpose(-1, -2) + t
    return pred, gt, gen


def _official_zero_filled(vis: np.ndarray, S1: np.ndarray, S2: np.ndarray) -> np.ndarray:
    """Reference written from the facts of reference-egohmr.md section 5 (one frame, numpy)."""
    A, B = (S1 * vis[:, None]).T, (S2 * vis[:, None]).T  # (3, J)
    mu1, mu2 = A.mean(1, keepdims=True), B.mean(1, keepdims=True)
    X1, X2 = A - mu1, B - mu2
    K = X1 @ X2.T
    U, _, Vh = np.linalg.svd(K)
    Z = np.eye(3)
    Z[2, 2] = np.sign(np.linalg.det(U @ Vh))
    R = Vh.T @ Z @ U.T
    scale = np.trace(R @ K) / (X1**2).sum()
    t = mu2 - scale * R @ mu1
    return (scale * R @ S1.T + t).T


def test_known_similarity_is_undone(scene):
    pred, gt, _ = scene
    torch.testing.assert_close(similarity_procrustes(pred, gt), gt, rtol=0, atol=1e-12)


def test_mask_ignores_garbage_joints(scene):
    pred, gt, gen = scene
    mask = torch.rand(5, 24, generator=gen) > 0.4
    mask[:, :4] = True
    garbage_gt = torch.where(mask[..., None], gt, torch.randn(5, 24, 3, generator=gen, dtype=torch.float64) * 10)
    aligned = similarity_procrustes(pred, garbage_gt, mask)
    # s, R, t come from the clean joints only, and are applied to every joint.
    torch.testing.assert_close(aligned, gt, rtol=0, atol=1e-11)
    unmasked = similarity_procrustes(pred, garbage_gt)
    assert (unmasked - gt).abs().max() > 1e-2
    nan_gt = torch.where(mask[..., None], gt, torch.nan)
    torch.testing.assert_close(similarity_procrustes(pred, nan_gt, mask), gt, rtol=0, atol=1e-11)


def test_reflection_is_not_used():
    gen = torch.Generator().manual_seed(2)
    pred = torch.randn(1, 10, 3, generator=gen, dtype=torch.float64)
    gt = pred * torch.tensor([-1.0, 1.0, 1.0], dtype=torch.float64)  # mirror image
    aligned = similarity_procrustes(pred, gt)
    # The best proper similarity differs from the mirror; recover its rotation from a right-handed triad.
    A = aligned - aligned.mean(1, keepdim=True)
    P = pred - pred.mean(1, keepdim=True)
    M = torch.linalg.lstsq(P[0], A[0]).solution  # A = P M
    assert torch.linalg.det(M) > 0


def test_zero_filled_matches_official_reference(scene):
    pred, gt, gen = scene
    gt = gt + 0.05 * torch.randn(gt.shape, generator=gen, dtype=torch.float64)
    mask = torch.rand(5, 24, generator=gen) > 0.3
    ours = similarity_procrustes_zero_filled(pred, gt, mask).numpy()
    for b in range(5):
        ref = _official_zero_filled(mask[b].numpy().astype(np.float64), pred[b].numpy(), gt[b].numpy())
        np.testing.assert_allclose(ours[b], ref, rtol=0, atol=1e-12)
    # All-visible: the quirk and the proper version coincide; with invisible joints they differ.
    torch.testing.assert_close(similarity_procrustes_zero_filled(pred, gt, torch.ones_like(mask)),
                               similarity_procrustes(pred, gt))  # fmt: skip
    assert (similarity_procrustes(pred, gt, mask) - torch.from_numpy(ours)).abs().max() > 1e-4


def test_shapes_float32_and_leading_dims():
    gen = torch.Generator().manual_seed(3)
    pred = torch.randn(2, 3, 17, 3, generator=gen)
    R = axis_angle_to_rotmat(torch.tensor([0.0, math.pi / 3, 0.0]))
    gt = 2.0 * pred @ R.T + 1.0
    out = similarity_procrustes(pred, gt)
    assert out.shape == pred.shape and out.dtype == torch.float32
    torch.testing.assert_close(out, gt, rtol=0, atol=1e-4)


def test_shape_errors():
    with pytest.raises(ValueError, match="gt"):
        similarity_procrustes(torch.zeros(2, 5, 3), torch.zeros(2, 4, 3))
    with pytest.raises(ValueError, match="mask"):
        similarity_procrustes(torch.zeros(2, 5, 3), torch.zeros(2, 5, 3), torch.ones(2, 4, dtype=torch.bool))
