"""Stage-1 loss terms as pure functions (reference-egohmr.md section 2, "Losses").

Every `loss_<term>` returns a per-sample loss of shape (B, S) (or a scalar for the NLL and the adversarial terms);
`combine_losses` reduces them the official way: the mode sample (index 0) is averaged over the batch, the random
samples (1..S-1) over batch and samples, and each part is multiplied by its weight in `LossWeights`
(`<term>_mode`, `<term>_exp` or `<term>`). Names of the terms in the returned dict: `loss_<term>[_mode|_exp]`.

Notation: B images, S samples per image (index 0 = mode), J = 24 SMPL joints, K = 25 OpenPose joints, V vertices.
"""

from __future__ import annotations

import dataclasses

import torch

from egohmr.losses import (
    loss_betas,
    loss_body_pose,
    loss_global_orient,
    loss_keypoints_2d_full,
    loss_keypoints_3d,
    loss_keypoints_3d_full,
    loss_v2v,
    project_keypoints_full_norm,
)
from egohmr.stage1.config import LossWeights

__all__ = [
    "LOSS_TERMS",
    "combine_losses",
    "loss_adversarial",
    "loss_betas",
    "loss_body_pose",
    "loss_global_orient",
    "loss_keypoints_2d_full",
    "loss_keypoints_3d",
    "loss_keypoints_3d_full",
    "loss_nll",
    "loss_orthogonal",
    "loss_v2v",
    "project_keypoints_full_norm",
]


def loss_nll(log_prob: torch.Tensor) -> torch.Tensor:
    """Negative log-likelihood: (B,) log p(GT pose | context) -> () mean of -log p."""
    return -log_prob.mean()


def loss_orthogonal(pose_6d: torch.Tensor) -> torch.Tensor:
    """6D orthogonality ``||A^T A - I_2||^2`` per joint, A = the two 3-vectors of the "col" 6D layout.

    Args:
        pose_6d: (B, S, 144) float, 24 x 6D "col" order (``[c0; c1]``).

    Returns:
        (B, S) mean over joints and the 4 entries.
    """
    b, s = pose_6d.shape[:2]
    a = pose_6d.reshape(b, s, -1, 2, 3).transpose(-1, -2)  # (B, S, J, 3, 2)
    gram = a.transpose(-1, -2) @ a  # (B, S, J, 2, 2)
    eye = torch.eye(2, dtype=pose_6d.dtype, device=pose_6d.device)
    return ((gram - eye) ** 2).reshape(b, s, -1).mean(-1)


def loss_adversarial(disc_scores_fake: torch.Tensor, batch_size: int) -> torch.Tensor:
    """LSGAN generator loss ``sum (D(fake) - 1)^2 / B`` over the discriminator's outputs of all samples.

    The sum over all B * S rows is divided by the image batch B, not by the rows (official `training_step`).

    Args:
        disc_scores_fake: (N, 25) discriminator outputs for the predicted poses (N = B * S).
        batch_size: B.

    Returns:
        () float.
    """
    return ((disc_scores_fake - 1.0) ** 2).sum() / batch_size


LOSS_TERMS: tuple[str, ...] = (
    "nll",
    "orthogonal",
    "keypoints_2d_full",
    "keypoints_3d",
    "keypoints_3d_full",
    "v2v",
    "global_orient",
    "body_pose",
    "betas",
    "adversarial",
)
"""Every loss term; `loss_<term>` exists for each, and each `LossWeights` field names one of them."""


def weight_term(field_name: str) -> str:
    """Loss term a `LossWeights` field weights: `keypoints_3d_mode` -> `keypoints_3d`."""
    for suffix in ("_mode", "_exp"):
        if field_name.endswith(suffix):
            return field_name[: -len(suffix)]
    return field_name


def combine_losses(
    per_sample: dict[str, torch.Tensor], scalars: dict[str, torch.Tensor], weights: LossWeights
) -> dict[str, torch.Tensor]:
    """Weighted total loss and the logged terms.

    Args:
        per_sample: {term: (B, S) loss}; the term's `_mode` weight applies to sample 0 (mean over B) and its `_exp`
            weight to samples 1.. (mean over B and samples); a term with a single weight (orthogonal) applies it to
            both parts, as the official code does.
        scalars: {term: () loss} for terms without samples (nll, adversarial).
        weights: the loss weights.

    Returns:
        {"loss": weighted sum, "loss_<term>_mode", "loss_<term>_exp" (when S > 1), "loss_<term>"}: all () tensors.
    """
    w = dataclasses.asdict(weights)
    out: dict[str, torch.Tensor] = {}
    total = None
    for term, value in per_sample.items():
        mode = value[:, 0].mean()
        out[f"loss_{term}_mode"] = mode
        parts = [(w.get(f"{term}_mode", w.get(term, 0.0)), mode)]
        if value.shape[1] > 1:
            exp = value[:, 1:].mean()
            out[f"loss_{term}_exp"] = exp
            parts.append((w.get(f"{term}_exp", w.get(term, 0.0)), exp))
        for weight, part in parts:
            if weight:
                total = weight * part if total is None else total + weight * part
    for term, value in scalars.items():
        out[f"loss_{term}"] = value
        weight = w.get(term, 0.0)
        if weight:
            total = weight * value if total is None else total + weight * value
    if total is None:
        raise ValueError("combine_losses: every loss weight is zero; nothing to minimise")
    out["loss"] = total
    return out
