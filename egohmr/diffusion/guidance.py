"""Scene-collision guidance of the stage-2 sampler: a config and a callable, batched over every sample and image.

Official semantics (`reference-egohmr.md` section 3, ``p_sample_with_grad`` / ``guide_coll``), DDPM over T = 50:

1. at each step with t <= 10, take the current noisy sample x_t (not x̂0), un-normalise it, decode the row-order 6D
   to rotation matrices and pose the **neutral** body with the predicted betas (detached) and **no translation**:
   the body is in the human-centric frame, like the scene cube (scene points minus the body translation);
2. loss = penetration of the scene points into that body; ``g = ∂(−loss)/∂x_t``;
3. `weight_guidance_gradient`: joints 1–2 ×1, other lower-body joints ×2, every other joint (global orientation,
   spine, arms, head) zeroed;
4. the posterior mean moves by ``w · s(t) · g`` with ``s(t) = β̃_t`` (posterior variance) for t >= 5 and 0.01 below;
   then the step's noise is added.

Ours differs only where the official code has to: the loss is `egohmr.collision.SurfacePenetration` (metric
penetration depth, Σ over points of ReLU(−signed distance), in metres) instead of COAP's Σ ReLU(occupancy − 0.5);
it is summed over all rows (each row's gradient is its own, independent of the batch size; COAP's official loss is
averaged over the batch of images), and all samples of all images go through ONE body forward/backward (the
official code loops over samples). The official candidate crop (points inside the body's box) is done inside the
scorer. The default weight is 30, the official weight of the VolumetricSMPL variant, whose loss Σ ReLU(−SDF) (metres,
summed over the batch) is the same quantity as ours; the COAP weight 2.0 belongs to a unitless occupancy score.

DDIM (any number of steps; the official code has no working variant). A DDIM step goes from original timestep t to
t' < t and skips the DDPM steps in between. We define its guidance as the displacement that DDPM would apply over
the steps it replaces: the gradient is taken at the step's input x_t, and the DDIM update (the new x_{t'}, i.e. the
deterministic "mean" part) moves by ``w · S(t, t') · g`` with ``S(t, t') = Σ_{τ ∈ (t', t], τ <= 10} s(τ)``. For DDPM
over all 50 steps (t' = t − 1) this is exactly the official rule; ``ddim5`` applies the whole t <= 10 budget at its
t = 10 step (0.128·w), DDIM-10 spreads it over t = 10 and t = 5. The total displacement budget is therefore the same
at any step count. (The official DDIM-with-gradient code instead corrects ε by −sqrt(1 − ᾱ)·g, whose size depends on
the respacing; it is not reproduced.)
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import torch

from egohmr.body import BodyModel
from egohmr.collision import PenetrationScorer
from egohmr.constants import NUM_SMPL_JOINTS
from egohmr.diffusion.guidance_step import SMALL_T_THRESHOLD, SMALL_T_VARIANCE, weight_guidance_gradient
from egohmr.diffusion.schedule import NoiseScheduleConfig, noise_schedule
from egohmr.geometry.rotations import rot6d_to_rotmat

__all__ = ["BoundCollisionGuidance", "CollisionGuidance", "GuidanceConfig"]

POSE_DIM = NUM_SMPL_JOINTS * 6


@dataclass(frozen=True)
class GuidanceConfig:
    """Collision guidance settings (defaults: official schedule, weight for a metric-depth score)."""

    enabled: bool = True
    """Apply the guidance at test time (official ``--with_coap_grad True``)."""
    weight: float = 30.0
    """w, multiplies the weighted gradient. Official: 2.0 for COAP (unitless occupancy), 30.0 for VolumetricSMPL
    (Σ ReLU(−SDF) in metres, the same quantity as our score): we use 30.0."""
    max_timestep: int = 10
    """Guidance acts on original timesteps t <= this (official: 10 of 50, the last 11 DDPM steps)."""
    small_t_threshold: int = SMALL_T_THRESHOLD
    """Below this timestep the step scale is `small_t_scale` instead of the posterior variance (official: 5)."""
    small_t_scale: float = SMALL_T_VARIANCE
    """Step scale for t < `small_t_threshold` (official: 0.01)."""

    def __post_init__(self) -> None:
        if self.weight < 0:
            raise ValueError(f"GuidanceConfig.weight must be >= 0, got {self.weight}")
        if self.max_timestep < 0:
            raise ValueError(f"GuidanceConfig.max_timestep must be >= 0, got {self.max_timestep}")


class CollisionGuidance:
    """Gradient of the scene penetration with respect to the noisy pose, and the step displacement it implies.

    Args:
        config: `GuidanceConfig`.
        schedule_config: the model's noise schedule (its DDPM posterior variance gives the step scales).
        body_model: neutral body (any SMPL-format topology the scorer was built for).
        scorer: `PenetrationScorer`, e.g. ``SurfacePenetration(body.faces, body.num_vertices)``.
        x_mean: (144,) float, x0 normaliser mean (row-order 6D, joint-major).
        x_std: (144,) float, x0 normaliser std.
    """

    def __init__(
        self,
        config: GuidanceConfig,
        schedule_config: NoiseScheduleConfig,
        body_model: BodyModel,
        scorer: PenetrationScorer,
        x_mean: torch.Tensor,
        x_std: torch.Tensor,
    ) -> None:
        self.config = config
        self.body_model = body_model
        self.scorer = scorer
        self.x_mean = torch.as_tensor(x_mean).reshape(POSE_DIM)
        self.x_std = torch.as_tensor(x_std).reshape(POSE_DIM)
        base = noise_schedule(schedule_config, "")
        # official: schedule values are used in float32 (``_extract_into_tensor``)
        variance = base.posterior_variance.to(torch.float32).tolist()
        self._step_scale = [
            (v if t >= config.small_t_threshold else config.small_t_scale) for t, v in enumerate(variance)
        ]

    def step_scale(self, t: int, t_prev: int) -> float:
        """S(t, t') = Σ over original steps τ in (t', t] with τ <= max_timestep of s(τ); 0 when none (module doc)."""
        hi = min(t, self.config.max_timestep)
        return float(sum(self._step_scale[tau] for tau in range(t_prev + 1, hi + 1)))

    def is_active(self, t: int, t_prev: int) -> bool:
        """Whether a step from t to t' gets a displacement (any τ in (t', t] is <= max_timestep)."""
        return self.config.enabled and self.config.weight > 0 and t_prev + 1 <= min(t, self.config.max_timestep)

    def penetration(self, x_t: torch.Tensor, betas: torch.Tensor, points_hc: torch.Tensor) -> torch.Tensor:
        """Total penetration per row of the body decoded from a normalised pose.

        Args:
            x_t: (N, 144) normalised pose, row-order 6D.
            betas: (N, 10) shape of each row (used as given; detach it to keep gradients off the beta head).
            points_hc: (N, P, 3) metres, human-centric frame (scene minus body translation).

        Returns:
            (N,) metres·points, differentiable w.r.t. ``x_t`` (no graph when no point is near any body).
        """
        rows = x_t.shape[0]
        mean, std = self.x_mean.to(x_t), self.x_std.to(x_t)
        rotmat = rot6d_to_rotmat((x_t * std + mean).reshape(rows, NUM_SMPL_JOINTS, 6), order="row")  # (N, 24, 3, 3)
        body = self.body_model(betas.to(x_t.dtype), rotmat[:, 0], rotmat[:, 1:])  # local frame, no translation
        return self.scorer(points_hc.to(x_t.dtype), body.vertices).sum(dim=1)  # (N,)

    def gradient(self, x_t: torch.Tensor, betas: torch.Tensor, points_hc: torch.Tensor) -> torch.Tensor:
        """Weighted descent direction ``weight_guidance_gradient(∂(−Σ penetration)/∂x_t)``: (N, 144).

        Zero for rows without penetration (and everywhere when no point is near any body).
        """
        if x_t.dim() != 2 or x_t.shape[1] != POSE_DIM:
            raise ValueError(f"CollisionGuidance: x_t must be (N, {POSE_DIM}), got {tuple(x_t.shape)}")
        if points_hc.shape[0] != x_t.shape[0] or betas.shape[0] != x_t.shape[0]:
            raise ValueError(
                f"CollisionGuidance: rows differ: x_t {x_t.shape[0]}, betas {betas.shape[0]}, points "
                f"{points_hc.shape[0]}"
            )
        if points_hc.shape[1] == 0:
            return torch.zeros_like(x_t)
        with torch.enable_grad():
            x = x_t.detach().requires_grad_(True)
            loss = self.penetration(x, betas.detach(), points_hc.detach()).sum()
            if not loss.requires_grad:
                return torch.zeros_like(x_t)
            (grad,) = torch.autograd.grad(loss, x)
        return weight_guidance_gradient(-grad)

    def bind(self, betas: torch.Tensor, points_hc: torch.Tensor) -> BoundCollisionGuidance:
        """The `egohmr.diffusion.sampling.GuidanceFn` of one batch: ``betas`` (N, 10), ``points_hc`` (N, P, 3)."""
        return BoundCollisionGuidance(self, betas.detach(), points_hc.detach())


class BoundCollisionGuidance:
    """`CollisionGuidance` bound to the rows of one sampling run; callable as a sampling ``GuidanceFn``.

    Attributes:
        calls: number of active steps so far. seconds: wall time spent in them (for benchmarks).
    """

    def __init__(self, guidance: CollisionGuidance, betas: torch.Tensor, points_hc: torch.Tensor) -> None:
        self.guidance = guidance
        self.betas = betas
        self.points_hc = points_hc
        self.calls = 0
        self.seconds = 0.0

    def __call__(self, x_t: torch.Tensor, t: int, t_prev: int) -> torch.Tensor | None:
        """Displacement ``w · S(t, t') · g`` of the step's mean (N, 144), or None when inactive."""
        if not self.guidance.is_active(t, t_prev):
            return None
        start = time.perf_counter()
        g = self.guidance.gradient(x_t, self.betas, self.points_hc)
        shift = (self.guidance.config.weight * self.guidance.step_scale(t, t_prev)) * g
        self.calls += 1
        self.seconds += time.perf_counter() - start
        return shift
