"""Scores of the whole sample distribution: the energy score and the calibration of the samples' spread.

MPJPE judges the mean sample and best-of-N judges the luckiest one; neither penalises a distribution that is too
narrow or too wide. Both scores here do, per joint (a 3-D vector), for any subset of joints (visible, invisible):

- **Energy score** (Gneiting & Raftery 2007, "Strictly proper scoring rules", eq. 22), per joint j of a frame with
  samples x_1..x_S and truth y:  ES_j = (1/S) Σ_s ‖x_s − y‖ − 1/(2 S (S−1)) Σ_{s≠s'} ‖x_s − x_s'‖.
  The pairwise term uses the unbiased ("fair") normalisation S (S−1) (Ferro 2014), so scores from 5 and 20 samples
  estimate the same quantity. It is strictly proper: in expectation, samples drawn from the true distribution score
  lowest. A frame's score is the mean over its joints in the subset; metres in, metres out; lower is better.
- **Calibration**: each joint's samples define a ball around their mean x̄ whose radius r_α should contain the truth
  with probability α. With σ̂² = Σ_s ‖x_s − x̄‖² / (3 (S−1)) (isotropic variance), a new draw from the same isotropic
  Gaussian satisfies ‖y − x̄‖² / (3 (1 + 1/S) σ̂²) ~ F(3, 3 (S−1)), so r_α = σ̂ √(3 (1 + 1/S) F⁻¹(α; 3, 3(S−1))) is
  exact for Gaussian samples of any S ≥ 2. The observed coverage (fraction of truths inside) is then α for a
  calibrated model, below α for a too-narrow spread (over-confident) and above for a too-wide one.
"""

from __future__ import annotations

import numpy as np
from scipy import stats

from egohmr.evaluate.arrays import ArrayLike, to_numpy

__all__ = ["CALIBRATION_LEVELS", "coverage_counts", "energy_score", "spread_radius_factor"]

CALIBRATION_LEVELS: tuple[float, ...] = (0.5, 0.8, 0.9)
"""Nominal levels at which `egohmr eval` reports the coverage."""


def _check(pred_joints: ArrayLike, gt_joints: ArrayLike, mask: ArrayLike) -> tuple[np.ndarray, ...]:
    pred, gt, m = to_numpy(pred_joints), to_numpy(gt_joints), to_numpy(mask).astype(bool)
    if pred.ndim != 4 or pred.shape[-1] != 3:
        raise ValueError(f"pred_joints must be (B, S, J, 3), got {pred.shape}")
    if gt.shape != (pred.shape[0], pred.shape[2], 3) or m.shape != gt.shape[:2]:
        raise ValueError(f"gt_joints must be (B, J, 3) and mask (B, J) for {pred.shape}, got {gt.shape}, {m.shape}")
    if pred.shape[1] < 2:
        raise ValueError(f"distribution scores need at least 2 samples per frame, got {pred.shape[1]}")
    return pred.astype(np.float64), gt.astype(np.float64), m


def energy_score(pred_joints: ArrayLike, gt_joints: ArrayLike, mask: ArrayLike) -> np.ndarray:
    """Per-frame energy score, mean over the masked joints (module docstring).

    Args:
        pred_joints: (B, S, J, 3) samples, any frame, metres. gt_joints: (B, J, 3), same frame.
        mask: (B, J) bool, the joints to score (e.g. the invisible ones).

    Returns:
        (B,) float64 metres; NaN for a frame with no joint in the mask.
    """
    pred, gt, m = _check(pred_joints, gt_joints, mask)
    num_samples = pred.shape[1]
    to_truth = np.linalg.norm(pred - gt[:, None], axis=-1).mean(axis=1)  # (B, J)
    pairwise = np.linalg.norm(pred[:, :, None] - pred[:, None], axis=-1).sum(axis=(1, 2))  # (B, J), s = s' adds 0
    per_joint = to_truth - pairwise / (2.0 * num_samples * (num_samples - 1))
    count = m.sum(axis=1)
    total = np.where(m, per_joint, 0.0).sum(axis=1)
    return np.divide(total, count, out=np.full(count.shape, np.nan), where=count > 0)


def spread_radius_factor(level: float, num_samples: int) -> float:
    """r_α / σ̂ of the calibration ball for nominal `level` α in (0, 1) and S = `num_samples` >= 2."""
    if not 0.0 < level < 1.0:
        raise ValueError(f"calibration level must be in (0, 1), got {level}")
    if num_samples < 2:
        raise ValueError(f"calibration needs at least 2 samples, got {num_samples}")
    quantile = stats.f.ppf(level, 3, 3 * (num_samples - 1))
    return float(np.sqrt(3.0 * (1.0 + 1.0 / num_samples) * quantile))


def coverage_counts(
    pred_joints: ArrayLike, gt_joints: ArrayLike, mask: ArrayLike, levels: tuple[float, ...] = CALIBRATION_LEVELS
) -> tuple[np.ndarray, np.ndarray]:
    """How many masked GT joints of each frame lie inside the samples' level-α ball (module docstring).

    Args:
        pred_joints: (B, S, J, 3) metres. gt_joints: (B, J, 3). mask: (B, J) bool.
        levels: nominal levels α.

    Returns:
        inside: (B, L) int64 count of masked joints inside the ball of each level; total: (B,) int64 masked joints.
        Dataset coverage at level l is inside[:, l].sum() / total.sum().
    """
    pred, gt, m = _check(pred_joints, gt_joints, mask)
    num_samples = pred.shape[1]
    mean = pred.mean(axis=1)  # (B, J, 3)
    sigma = np.sqrt(((pred - mean[:, None]) ** 2).sum(axis=(1, 3)) / (3.0 * (num_samples - 1)))  # (B, J)
    distance = np.linalg.norm(gt - mean, axis=-1)  # (B, J)
    factors = np.array([spread_radius_factor(level, num_samples) for level in levels])
    inside = (distance[:, :, None] <= sigma[:, :, None] * factors) & m[:, :, None]  # (B, J, L)
    return inside.sum(axis=1).astype(np.int64), m.sum(axis=1).astype(np.int64)
