"""The official collision-guidance rule, as small pure parts: joint weights and mask of the gradient, step scale.

`reference-egohmr.md` section 3 ("Collision-score guidance", ``p_sample_with_grad`` and ``guide_coll``): given the
gradient ``g_raw = ∂(−mean_b L_b)/∂x_t`` of a collision loss with respect to the current noisy sample,

1. `weight_guidance_gradient`: per joint ×1 for joints 0–2 and ×2 for joints 3–23, then every joint except the lower
   body (`LOWER_BODY_JOINTS`: hips, knees, ankles, feet) is zeroed, so the global orientation never moves;
2. the posterior mean moves by ``w · β̃_t · g`` for t >= `SMALL_T_THRESHOLD` (5) and by ``w · SMALL_T_VARIANCE · g``
   (0.01) below (official w = 2.0, applied for t <= 10 of the 50-step DDPM only); `CollisionGuidance.step_scale`
   implements this scale (and its sum over the steps a DDIM step spans).

The noise is added afterwards (`DDPMScheduler.add_step_noise`). Computing the loss and its gradient is the guidance
callable's job (``diffusion/guidance.py``); schedulers know nothing about guidance.
"""

from __future__ import annotations

import torch

from egohmr.constants import LOWER_BODY_JOINTS, NUM_SMPL_JOINTS

__all__ = ["SMALL_T_THRESHOLD", "SMALL_T_VARIANCE", "guidance_joint_weights", "weight_guidance_gradient"]

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
