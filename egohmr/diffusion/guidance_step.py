"""The official collision-guidance update of a DDPM posterior mean, as small pure functions.

`reference-egohmr.md` section 3 ("Collision-score guidance", ``p_sample_with_grad`` and ``guide_coll``): given the
gradient ``g_raw = ∂(−mean_b L_b)/∂x_t`` of a collision loss with respect to the current noisy sample,

1. `weight_guidance_gradient`: per joint ×1 for joints 0–2 and ×2 for joints 3–23, then every joint except the lower
   body (`LOWER_BODY_JOINTS`: hips, knees, ankles, feet) is zeroed, so the global orientation never moves;
2. `guided_mean`: ``mean + w · β̃_t · g`` for t >= 5, ``mean + w · 0.01 · g`` for t < 5 (official w = 2.0, applied
   for t <= 10 of the 50-step DDPM only).

The noise is added afterwards (`DDPMScheduler.add_noise`). Computing the loss and its gradient is the guidance
callable's job (``diffusion/guidance.py``); schedulers know nothing about guidance.
"""

from __future__ import annotations

import torch

from egohmr.constants import LOWER_BODY_JOINTS, NUM_SMPL_JOINTS

__all__ = ["guidance_joint_weights", "guided_mean", "weight_guidance_gradient"]

SMALL_T_THRESHOLD = 5  # below this timestep the variance factor is replaced by a constant
SMALL_T_VARIANCE = 0.01


def guidance_joint_weights(dtype: torch.dtype = torch.float32, device: torch.device | None = None) -> torch.Tensor:
    """(24,) per-joint factor of the official guidance: 1 for joints 1–2, 2 for the other lower-body joints, else 0."""
    weights = torch.zeros(NUM_SMPL_JOINTS, dtype=dtype, device=device)
    for joint in LOWER_BODY_JOINTS:
        weights[joint] = 1.0 if joint < 3 else 2.0
    return weights


def weight_guidance_gradient(g: torch.Tensor) -> torch.Tensor:
    """Weight and mask a pose gradient like the official ``guide_coll``.

    Args:
        g: (N, 144) gradient with respect to the normalised 6D pose (row order, joint-major).

    Returns:
        (N, 144): joint j's six entries multiplied by `guidance_joint_weights` [j].
    """
    if g.dim() != 2 or g.shape[1] != NUM_SMPL_JOINTS * 6:
        raise ValueError(f"g must be (N, 144), got {tuple(g.shape)}")
    weights = guidance_joint_weights(g.dtype, g.device)
    return (g.reshape(-1, NUM_SMPL_JOINTS, 6) * weights[:, None]).reshape(g.shape)  # (N, 24, 6) -> (N, 144)


def guided_mean(
    mean: torch.Tensor, g: torch.Tensor, t: int | torch.Tensor, variance: torch.Tensor, weight: float
) -> torch.Tensor:
    """Shift a DDPM posterior mean along the weighted guidance gradient (official ``p_sample_with_grad``).

    ``mean + weight · s · g`` with ``s = variance`` where t >= 5 and ``s = 0.01`` where t < 5.

    Args:
        mean: (N, D) posterior mean μ̃_t.
        g: (N, D) weighted gradient (`weight_guidance_gradient`).
        t: timestep (int) or (N,) int64 per row (DDPM over all 50 steps: respaced index = original timestep).
        variance: posterior variance β̃_t, broadcastable to (N, D) (e.g. `StepOutput.variance`).
        weight: guidance weight w (official ``cond_grad_weight`` 2.0).

    Returns:
        (N, D) guided mean.
    """
    t = torch.as_tensor(t, device=mean.device)
    if t.dim() == 1:
        t = t.reshape(-1, *([1] * (mean.dim() - 1)))
    small = torch.full_like(mean, SMALL_T_VARIANCE)
    scale = torch.where(t >= SMALL_T_THRESHOLD, torch.as_tensor(variance, device=mean.device).to(mean.dtype), small)
    return mean + weight * scale * g
